"""Unique names per test, and removal of everything a test left on the broker and in MongoDB."""

from __future__ import annotations

import uuid

import aio_pika
from pymongo import AsyncMongoClient

from shared.contracts.catalogue import CATALOGUE
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


def possible_queue_names(namespace: str) -> list[str]:
    """Every queue any service could declare in `namespace`: one per service and
    catalogue event, plus each service's dead-letter queue (deleting a queue that
    was never declared is harmless)."""
    topology = Topology(namespace)
    names = [topology.dead_letter_queue(service).name for service in SERVICES]
    for service in SERVICES:
        names += [topology.queue_name(service, event_type) for event_type, _ in CATALOGUE]
    names.append(topology.audit_queue.name)
    return names


async def remove_namespace(namespace: str, amqp_url: str, mongodb_url: str) -> None:
    topology = Topology(namespace)
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for queue in possible_queue_names(namespace):
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
