"""Unique names per test, and removal of everything a test left on the broker and in MongoDB."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterable

import aio_pika
from pymongo import AsyncMongoClient

from shared.messaging.topology import Topology
from shared.settings import ServiceSettings

SERVICES = ("proposals", "materials", "notifications")


def new_namespace() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def settings_for(
    service: str, namespace: str, amqp_url: str, mongodb_url: str, **overrides: object
) -> ServiceSettings:
    values: dict[str, object] = {
        "service_name": service,
        "namespace": namespace,
        "amqp_url": amqp_url,
        "mongodb_url": mongodb_url,
        "outbox_poll_seconds": 0.1,
        "max_delivery_attempts": 3,
        "log_json": False,
        **overrides,
    }
    return ServiceSettings(**values)  # type: ignore[arg-type]


def service_queue_names(namespace: str) -> list[str]:
    """Every queue the three services declare in `namespace` (built, not started)."""
    names: list[str] = []
    topology = Topology(namespace)
    for service in SERVICES:
        bootstrap = importlib.import_module(f"services.{service}.bootstrap")
        runtime, _ = bootstrap.build(
            settings_for(service, namespace, "amqp://unused", "mongodb://unused")
        )
        names += runtime.consumers.queues
        names.append(topology.dead_letter_queue(service).name)
    return names


async def remove_namespace(
    namespace: str, amqp_url: str, mongodb_url: str, extra_queues: Iterable[str] = ()
) -> None:
    topology = Topology(namespace)
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for queue in [*service_queue_names(namespace), *extra_queues]:
            await channel.queue_delete(queue)
        for exchange in (topology.events_exchange, topology.dead_letter_exchange):
            await channel.exchange_delete(exchange.name)
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongodb_url)
    try:
        for name in await client.list_database_names():
            if name.startswith(f"{namespace}_"):
                await client.drop_database(name)
    finally:
        await client.close()
