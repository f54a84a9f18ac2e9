"""Everything a service process holds, built the same way for every service."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Protocol

from faststream import FastStream
from faststream.rabbit import RabbitBroker
from faststream.specification import AsyncAPI
from pymongo import AsyncMongoClient

from shared.contracts.catalogue import Producer
from shared.logs import get_logger
from shared.messaging.broker import build_broker
from shared.messaging.consumer import DOCUMENTING, EventConsumers
from shared.messaging.dead_letters import DeadLetters
from shared.messaging.publisher import EventPublisher
from shared.messaging.relay import OutboxRelay
from shared.messaging.topology import Topology
from shared.settings import ServiceSettings
from shared.storage import inbox, mongo, outbox
from shared.storage.mongo import Database, Document
from shared.storage.unit_of_work import Transactions

log = get_logger(__name__)
IndexSetup = Callable[[Database], Awaitable[None]]


class BackgroundWorker(Protocol):
    """A loop a service runs beside its consumers (a dispatcher, a scheduler)."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


StartHook = Callable[["ServiceRuntime"], Awaitable[None]]
# The AsyncAPI document names this server, whatever the environment says, so the
# committed document does not depend on who generated it.
DOCUMENTED_AMQP_URL = "amqp://rabbitmq:5672/"


@dataclass
class ServiceRuntime:
    settings: ServiceSettings
    mongo_client: AsyncMongoClient[Document]
    db: Database
    broker: RabbitBroker
    topology: Topology
    publisher: EventPublisher
    relay: OutboxRelay
    transactions: Transactions
    consumers: EventConsumers
    dead_letters: DeadLetters
    index_setups: list[IndexSetup] = field(default_factory=list)
    # Run once the broker is up, before anything is consumed or sent (extra queues).
    start_hooks: list[StartHook] = field(default_factory=list)
    workers: list[BackgroundWorker] = field(default_factory=list)
    asyncapi_description: str = ""

    async def start(self) -> None:
        # Collections and indexes exist before the first transaction: a collection
        # created inside one can briefly refuse snapshot reads.
        for setup in [outbox.create_indexes, inbox.create_indexes, *self.index_setups]:
            await setup(self.db)
        await self.broker.start()
        await self._declare_dead_letter_route()
        await self.broker.declare_exchange(self.topology.events_exchange)
        for hook in self.start_hooks:
            await hook(self)
        self.relay.start()
        for worker in self.workers:
            worker.start()
        log.info("service started", queues=self.consumers.queues)

    async def stop(self) -> None:
        for worker in reversed(self.workers):
            await worker.stop()
        await self.relay.stop()
        await self.broker.stop()
        await self.mongo_client.close()

    async def readiness(self) -> dict[str, bool]:
        rabbit_ok, mongo_ok = await asyncio.gather(
            self.broker.ping(timeout=2.0), mongo.ping(self.mongo_client)
        )
        return {"rabbitmq": bool(rabbit_ok), "mongodb": mongo_ok}

    def asyncapi_app(self, version: str = "1.0.0") -> FastStream:
        """The FastStream application `faststream docs gen` documents."""
        return FastStream(
            self.broker,
            specification=AsyncAPI(
                title=f"Berdaya {self.settings.service_name}",
                version=version,
                description=(
                    f"Events the {self.settings.service_name} service publishes and "
                    "consumes on the one topic exchange (routing key = event type). "
                    "Every message is a JSON envelope; AMQP message_id = event_id. "
                    + self.asyncapi_description
                ).strip(),
            ),
        )

    async def _declare_dead_letter_route(self) -> None:
        exchange = await self.broker.declare_exchange(self.topology.dead_letter_exchange)
        queue = await self.broker.declare_queue(
            self.topology.dead_letter_queue(self.settings.service_name)
        )
        await queue.bind(exchange, routing_key=self.settings.service_name)


def build_runtime(
    settings: ServiceSettings,
    producer: Producer,
    index_setups: list[IndexSetup],
    publishes: Collection[str] | None = None,
) -> ServiceRuntime:
    client = mongo.connect(settings.mongodb_url, app_name=settings.service_name)
    db = client[settings.database_name]
    broker = build_broker(settings)
    topology = Topology(settings.namespace, delivery_limit=settings.max_delivery_attempts * 4)
    publisher = EventPublisher(broker, topology, producer, publishes)
    relay = OutboxRelay(
        db,
        publisher,
        settings.service_name,
        poll_seconds=settings.outbox_poll_seconds,
        lease_seconds=settings.outbox_lease_seconds,
        batch_size=settings.outbox_batch_size,
    )
    transactions = Transactions(client, db, producer, after_commit=relay.nudge)
    return ServiceRuntime(
        settings=settings,
        mongo_client=client,
        db=db,
        broker=broker,
        topology=topology,
        publisher=publisher,
        relay=relay,
        transactions=transactions,
        consumers=EventConsumers(broker, topology, transactions, settings),
        dead_letters=DeadLetters(settings.amqp_url, topology, settings.service_name),
        index_setups=index_setups,
    )


def documented_app(
    service: str, build: Callable[[ServiceSettings], tuple[ServiceRuntime, object]]
) -> FastStream:
    """The FastStream app for `faststream docs gen --factory`, built with fixed settings."""
    settings = ServiceSettings(
        service_name=service, namespace="berdaya", amqp_url=DOCUMENTED_AMQP_URL
    )
    token = DOCUMENTING.set(True)
    try:
        runtime, _ = build(settings)
    finally:
        DOCUMENTING.reset(token)
    return runtime.asyncapi_app()
