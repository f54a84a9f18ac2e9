"""Start one service's runtime (broker, consumers, relay) inside the test's event loop."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aio_pika
from fastapi import FastAPI

from shared.contracts import Envelope
from shared.messaging.topology import Topology
from shared.runtime import ServiceRuntime
from tests.support.infrastructure import Infrastructure
from tests.support.namespace import settings_for


@asynccontextmanager
async def running_service(
    service: str, infra: Infrastructure, namespace: str, **overrides: object
) -> AsyncIterator[tuple[ServiceRuntime, FastAPI]]:
    bootstrap = importlib.import_module(f"services.{service}.bootstrap")
    settings = settings_for(service, namespace, infra.amqp_url, infra.mongodb_url, **overrides)
    runtime, app = bootstrap.build(settings)
    await runtime.start()
    try:
        yield runtime, app
    finally:
        await runtime.stop()


async def publish_raw(
    infra: Infrastructure,
    namespace: str,
    routing_key: str,
    body: bytes,
    *,
    message_id: str | None = None,
) -> None:
    """Publish bytes to the events exchange as any outside system could."""
    connection = await aio_pika.connect(infra.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(Topology(namespace).events_exchange.name)
        await exchange.publish(
            aio_pika.Message(
                body,
                message_id=message_id,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=routing_key,
            mandatory=True,
        )


async def publish_envelope(infra: Infrastructure, namespace: str, envelope: Envelope) -> None:
    await publish_raw(
        infra,
        namespace,
        envelope.type,
        envelope.model_dump_json().encode(),
        message_id=str(envelope.event_id),
    )
