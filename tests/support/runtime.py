"""Start one service's runtime (broker, consumers, relay) inside the test's event loop."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aio_pika
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

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
    await publish_many(infra, namespace, [(routing_key, body, message_id)])


async def publish_many(
    infra: Infrastructure, namespace: str, messages: list[tuple[str, bytes, str | None]]
) -> None:
    """Publish (routing key, body, message id) triples over one confirmed channel."""
    connection = await aio_pika.connect(infra.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(Topology(namespace).events_exchange.name)
        for routing_key, body, message_id in messages:
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
    await publish_envelopes(infra, namespace, [envelope])


async def publish_envelopes(
    infra: Infrastructure, namespace: str, envelopes: list[Envelope]
) -> None:
    await publish_many(
        infra,
        namespace,
        [(e.type, e.model_dump_json().encode(), str(e.event_id)) for e in envelopes],
    )


@asynccontextmanager
async def asgi_client(app: FastAPI, base_url: str = "http://service") -> AsyncIterator[AsyncClient]:
    """An HTTP client that calls `app` in-process (its runtime must be started)."""
    async with AsyncClient(transport=ASGITransport(app=app), base_url=base_url) as client:
        yield client
