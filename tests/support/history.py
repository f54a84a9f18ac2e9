"""Publishing real envelopes as a broker user, and reading the event history stream the
way a city system does (plain AMQP 0-9-1 with aio-pika)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import aio_pika

from shared.contracts import Envelope
from shared.messaging.topology import Topology
from tests.support.broker_access import LeastPrivilegeBroker

# Long enough for a shared 2-core machine; a read that reaches it has lost an event.
READ_BOUND_SECONDS = 30.0


async def publish_as(broker: LeastPrivilegeBroker, user: str, *envelopes: Envelope) -> None:
    """`envelopes` on the events exchange as `user` publishes them (the services' and
    the city's properties), each confirmed by the broker."""
    connection = await broker.connect(user)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(
            Topology(broker.namespace).events_exchange.name, ensure=False
        )
        for envelope in envelopes:
            await exchange.publish(
                aio_pika.Message(
                    envelope.model_dump_json().encode(),
                    message_id=str(envelope.event_id),
                    correlation_id=envelope.correlation_id,
                    type=envelope.type,
                    content_type="application/json",
                    user_id=user,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=envelope.type,
                mandatory=True,
            )


async def read_history(
    broker: LeastPrivilegeBroker, user: str, offset: str | datetime, until_event_id: str
) -> list[dict[str, Any]]:
    """Every envelope the history stream holds from `offset` ("first", "last", "next" or
    a time) up to and including the one with `until_event_id`, read as `user`."""
    found: list[dict[str, Any]] = []
    connection = await broker.connect(user)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=100)  # a stream consumer must set one
        stream = await channel.get_queue(Topology(broker.namespace).history_stream.name)
        async with asyncio.timeout(READ_BOUND_SECONDS):
            async with stream.iterator(arguments={"x-stream-offset": offset}) as messages:
                async for message in messages:
                    found.append(json.loads(message.body))
                    await message.ack()  # a stream takes manual acks only
                    if message.message_id == until_event_id:
                        break
    return found
