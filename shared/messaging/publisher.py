"""Publishing events: persistent, confirmed, mandatory, `message_id = event_id`, and
`user_id` = the broker user, which RabbitMQ checks and consumers trust.

Every event a service produces gets a FastStream publisher object, so that the
AsyncAPI document lists it as a send operation with its payload schema.
"""

from __future__ import annotations

import time
from collections.abc import Collection

import aiormq
from aio_pika.exceptions import DeliveryError
from faststream.rabbit import RabbitBroker
from faststream.rabbit.publisher import RabbitPublisher

from shared.contracts.catalogue import Producer, produced_by
from shared.messaging.topology import Topology

# FastStream's ping polls the connection's state for this long: enough to see it.
CONNECTED_CHECK_SECONDS = 0.05
# A channel that the broker nacked on is opened afresh at most this often.
RENEW_CHANNEL_EVERY_SECONDS = 5.0


def is_refusal(error: BaseException) -> bool:
    """True if the broker nacked a publish: it could not take it now (a queue without
    a leader, or full with reject-publish overflow) — unlike a returned message, which
    no queue is bound for."""
    return isinstance(error, DeliveryError) and isinstance(error.frame, aiormq.spec.Basic.Nack)


class EventPublisher:
    def __init__(
        self,
        broker: RabbitBroker,
        topology: Topology,
        producer: Producer,
        publishes: Collection[str] | None = None,
        *,
        user_id: str,
    ) -> None:
        """`publishes`: the event types this service emits today (default: all the
        catalogue names it the producer of)."""
        self._user_id = user_id
        self._broker = broker
        self._renewed_at = -RENEW_CHANNEL_EVERY_SECONDS
        self._publishers: dict[str, RabbitPublisher] = {}
        for contract in produced_by(producer):
            if publishes is not None and contract.event_type not in publishes:
                continue
            self._publishers[contract.event_type] = broker.publisher(
                exchange=topology.events_exchange,
                routing_key=contract.event_type,
                persist=True,
                mandatory=True,
                content_type="application/json",
                message_type=contract.event_type,
                schema=contract.message_model,
                title=f"{contract.event_type}:publish",
                description=contract.summary,
            )

    async def connected(self) -> bool:
        """False while the broker connection is down or not yet made (a publish would
        fail at once); it comes back by itself when the broker does."""
        return await self._broker.ping(timeout=CONNECTED_CHECK_SECONDS)

    async def publish(self, event_type: str, body: str, event_id: str, correlation_id: str) -> None:
        """Publish one serialized envelope; returns after the broker confirmed it.

        Raises if the broker refuses it or no queue is bound for its type.
        """
        publisher = self._publishers.get(event_type)
        if publisher is None:
            raise LookupError(f"this service does not produce {event_type}")
        await publisher.publish(
            body.encode(),
            message_id=event_id,
            correlation_id=correlation_id,
            message_type=event_type,
            content_type="application/json",
            user_id=self._user_id,
            persist=True,
        )

    async def renew_channel(self) -> None:
        """Open the publishing channel afresh after the broker nacked on it.

        RabbitMQ 3.x can go on nacking every publish on a channel opened while a
        quorum queue was electing its leader, long after the election; a new channel
        publishes again. Closing the underlying channel makes aio-pika restore it as
        it does after a channel error (the consumers sharing it resume; what they had
        not acknowledged is delivered again, which the inbox recognises)."""
        now = time.monotonic()
        if now - self._renewed_at < RENEW_CHANNEL_EVERY_SECONDS:
            return
        self._renewed_at = now
        channel = await self._broker.config.channel_manager.get_channel()
        underlay = await channel.get_underlay_channel()
        await underlay.close()
