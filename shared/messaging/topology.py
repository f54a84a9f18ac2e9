"""Names and arguments of every exchange and queue, in one place.

One durable topic exchange carries all events (routing key = event type). Each
service has one durable quorum queue per event it consumes, dead-lettering into a
direct exchange that routes to the service's own dead-letter queue.
"""

from __future__ import annotations

from dataclasses import dataclass

from faststream.rabbit import ExchangeType, QueueType, RabbitExchange, RabbitQueue

# The audit buffer keeps at most this many messages, dropping the oldest first.
AUDIT_QUEUE_MAX_LENGTH = 100_000


@dataclass(frozen=True)
class Topology:
    namespace: str
    # RabbitMQ's own backstop: a message redelivered this often (for example because
    # it crashes the consumer before it can be dead-lettered) goes to the DLX.
    delivery_limit: int = 20

    @property
    def events_exchange(self) -> RabbitExchange:
        return RabbitExchange(f"{self.namespace}.events", type=ExchangeType.TOPIC, durable=True)

    @property
    def dead_letter_exchange(self) -> RabbitExchange:
        return RabbitExchange(
            f"{self.namespace}.dead-letter", type=ExchangeType.DIRECT, durable=True
        )

    def queue_name(self, service: str, event_type: str) -> str:
        return f"{self.namespace}.{service}.{event_type}"

    def event_queue(self, service: str, event_type: str) -> RabbitQueue:
        return RabbitQueue(
            self.queue_name(service, event_type),
            queue_type=QueueType.QUORUM,
            durable=True,
            routing_key=event_type,
            arguments={
                "x-dead-letter-exchange": self.dead_letter_exchange.name,
                "x-dead-letter-routing-key": service,
                # at-least-once dead-lettering needs reject-publish overflow
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
                "x-delivery-limit": self.delivery_limit,
            },
        )

    def dead_letter_queue(self, service: str) -> RabbitQueue:
        return RabbitQueue(
            f"{self.namespace}.{service}.dead-letter",
            queue_type=QueueType.QUORUM,
            durable=True,
            routing_key=service,
        )

    @property
    def audit_queue(self) -> RabbitQueue:
        """`notification.sent` / `notification.failed` for the city's audit system.

        Declared by the notifications service so that its mandatory publishes always
        have a taker; bounded and dropping the oldest, so that an absent reader cannot
        fill the broker (an audit buffer, not a store of record).
        """
        return RabbitQueue(
            f"{self.namespace}.audit.notifications",
            queue_type=QueueType.QUORUM,
            durable=True,
            routing_key="notification.*",
            arguments={"x-max-length": AUDIT_QUEUE_MAX_LENGTH, "x-overflow": "drop-head"},
        )
