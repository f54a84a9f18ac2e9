"""Header names this project adds to messages."""

DEAD_LETTER_REASON = "x-berdaya-dead-letter-reason"
ORIGINAL_QUEUE = "x-berdaya-original-queue"
ORIGINAL_ROUTING_KEY = "x-berdaya-original-routing-key"
DEAD_LETTERED_AT = "x-berdaya-dead-lettered-at"
ATTEMPTS = "x-berdaya-attempts"
# On a retry copy: how many times the handler has failed on this event so far. It
# travels with the message, so the bound on attempts survives a consumer restart.
FAILED_ATTEMPTS = "x-berdaya-failed-attempts"
LAST_ERROR = "x-berdaya-last-error"
# set by RabbitMQ on quorum-queue redeliveries
DELIVERY_COUNT = "x-delivery-count"
# On a copy a service publishes of an event it took (retry, dead letter, replay): the
# broker user that first published the event (see shared/messaging/trust.py).
VOUCHED_PUBLISHER = "x-berdaya-vouched-publisher"
