"""Header names this project adds to messages."""

DEAD_LETTER_REASON = "x-berdaya-dead-letter-reason"
ORIGINAL_QUEUE = "x-berdaya-original-queue"
ORIGINAL_ROUTING_KEY = "x-berdaya-original-routing-key"
DEAD_LETTERED_AT = "x-berdaya-dead-lettered-at"
ATTEMPTS = "x-berdaya-attempts"
# set by RabbitMQ on quorum-queue redeliveries
DELIVERY_COUNT = "x-delivery-count"
