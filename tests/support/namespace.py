"""Unique names per test, and removal of everything a test left on the broker and in MongoDB."""

from __future__ import annotations

import uuid

import aio_pika
import httpx
from pymongo import AsyncMongoClient

from services.materials.settings import MaterialsSettings
from services.notifications.settings import NotificationSettings
from services.proposals.settings import ProposalsSettings
from services.transparency.settings import TransparencySettings
from shared.contracts.catalogue import CATALOGUE
from shared.messaging.policies import ManagementApi, PoliciesNotApplied
from shared.messaging.topology import Topology
from shared.settings import ServiceSettings

SERVICES = ("proposals", "materials", "notifications")
# A service with settings of its own (see its settings.py); the others use the shared ones.
SETTINGS: dict[str, type[ServiceSettings]] = {
    "materials": MaterialsSettings,
    "notifications": NotificationSettings,
    "proposals": ProposalsSettings,
    "transparency": TransparencySettings,
}


# Retried within a test's patience, not after 10 s, 1 min, 5 min.
TEST_RETRY_DELAYS = (0.2, 0.5)
TEST_MAX_ATTEMPTS = 3


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
        "max_delivery_attempts": TEST_MAX_ATTEMPTS,
        "retry_delays_seconds": TEST_RETRY_DELAYS,
        "log_json": False,
        # Tests fire requests far faster than any person: no rate limits unless a test asks.
        "rate_limits_enabled": False,
        **overrides,
    }
    return SETTINGS.get(service, ServiceSettings)(**values)  # type: ignore[arg-type]


def possible_queue_names(namespace: str) -> list[str]:
    """Every queue any service could declare in `namespace`: one per service and
    catalogue event, plus each service's dead-letter queue (deleting a queue that
    was never declared is harmless)."""
    topology = Topology(namespace)
    names = [topology.dead_letter_queue(service).name for service in SERVICES]
    for service in SERVICES:
        names += [topology.queue_name(service, event_type) for event_type, _ in CATALOGUE]
    names += [topology.audit_queue.name, topology.history_stream.name]
    for delays in (topology.retry_delays, TEST_RETRY_DELAYS):
        for service in SERVICES:
            names += [
                r.queue.name for r in Topology(namespace, retry_delays=delays).retry_routes(service)
            ]
    return names


async def remove_namespace(namespace: str, amqp_url: str, mongodb_url: str) -> None:
    topology = Topology(namespace)
    queues = possible_queue_names(namespace)
    exchanges = [topology.events_exchange.name, topology.dead_letter_exchange.name]
    exchanges += [q for q in queues if ".retry." in q]  # each retry queue has its exchange
    api = ManagementApi(amqp_url)
    try:
        # everything of the namespace, whatever declared it (retry queues, test contracts)
        prefix = f"{namespace}."
        queues = [q for q in await api.queue_names() if q.startswith(prefix)]
        exchanges = [e for e in await api.exchange_names() if e.startswith(prefix)]
        for policy in await api.policy_names():
            if topology.owns_policy(policy):
                await api.delete_policy(policy)
    except (PoliciesNotApplied, httpx.HTTPError):
        pass  # no management API: the names the services are known to declare
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for queue in queues:
            await channel.queue_delete(queue)
        for exchange in exchanges:
            await channel.exchange_delete(exchange)
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongodb_url)
    try:
        for name in await client.list_database_names():
            if name.startswith(f"{namespace}_"):
                await client.drop_database(name)
    finally:
        await client.close()
