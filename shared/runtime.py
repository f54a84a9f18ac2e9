"""Everything a service process holds, built the same way for every service."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Protocol

import aiormq.exceptions
from faststream import FastStream
from faststream.rabbit import RabbitBroker
from faststream.specification import AsyncAPI
from pymongo import AsyncMongoClient

from shared.contracts.catalogue import Producer
from shared.logs import get_logger
from shared.messaging.broker import broker_answers, build_broker
from shared.messaging.consumer import DOCUMENTING, EventConsumers
from shared.messaging.dead_letters import DeadLetters
from shared.messaging.declarations import declare_service
from shared.messaging.policies import apply_policies
from shared.messaging.publisher import EventPublisher
from shared.messaging.relay import OutboxRelay
from shared.messaging.topology import Topology, broker_delivery_limit
from shared.reference.areas import use_areas_file
from shared.reference.work_rules import use_work_rules_file
from shared.settings import ServiceSettings
from shared.storage import answers, audit, inbox, mongo, outbox
from shared.storage.mongo import Database, Document
from shared.storage.unit_of_work import Transactions
from shared.tracing import Tracing
from shared.urls import without_password
from shared.workers import backoff

log = get_logger(__name__)
IndexSetup = Callable[[Database], Awaitable[None]]


class BackgroundWorker(Protocol):
    """A loop a service runs beside its consumers (a dispatcher, a scheduler): in
    practice a `shared.workers.PollingWorker`, built with
    `stop_grace_seconds=settings.worker_stop_seconds`."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


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
    workers: list[BackgroundWorker] = field(default_factory=list)
    tracing: Tracing = field(default_factory=Tracing)
    asyncapi_description: str = ""
    started: asyncio.Event = field(default_factory=asyncio.Event)
    _starting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start everything; while MongoDB or RabbitMQ do not answer, say so and wait.

        Until this returns, `/ready` answers 503 and the service's own routes 503
        "starting": a service started before its database or broker becomes ready by
        itself once they answer, without a restart.
        """
        # Collections and indexes exist before the first transaction: a collection
        # created inside one can briefly refuse snapshot reads.
        await until_it_works("MongoDB", self.settings.mongodb_url, self._create_indexes)
        if self.topology.declares:
            # Queue policies before the queues are declared (else the set-up step's).
            await apply_policies(
                self.topology.policies(self.settings.service_name),
                amqp_url=self.settings.amqp_url,
                management_url=self.settings.rabbitmq_management_url,
                mode=self.settings.broker_policies,
            )
        self.consumers.restart()
        await until_it_works("RabbitMQ", self.settings.amqp_url, self._start_broker)
        self.relay.start()
        for worker in self.workers:
            worker.start()
        self.started.set()
        log.info("service started", queues=self.consumers.queues)

    def start_in_background(self) -> None:
        """Start without holding up the HTTP server: `/health` answers at once."""
        self._starting = asyncio.create_task(self.start(), name="service-start")

    async def _create_indexes(self) -> None:
        await mongo.check_usable(self.settings.mongodb_url)
        shared_setups = [
            outbox.create_indexes,
            inbox.create_indexes,
            audit.create_indexes,
            answers.create_indexes,
        ]
        for setup in [*shared_setups, *self.index_setups]:
            await setup(self.db)
        await mongo.check_transactions(self.mongo_client, self.db[outbox.COLLECTION])

    async def _start_broker(self) -> None:
        try:
            await self.broker.connect()
            # Before the subscribers start: a missing queue is named, not just refused.
            await declare_service(
                self.broker,
                self.topology,
                self.settings.service_name,
                self.consumers.subscribed,
            )
            await self.broker.start()
        except aiormq.exceptions.ChannelPreconditionFailed as error:
            await self.broker.stop()
            raise QueueArgumentsConflict(str(error)) from error
        except BaseException:
            await self.broker.stop()  # a half-open connection would be reused as is
            raise

    async def stop(self) -> None:
        """Stop in the order that loses nothing: stop taking events and let those in
        flight commit and ack (bounded by the broker's graceful timeout) while the
        workers finish their cycle in flight (bounded alike), publish what the outbox
        still holds, then close."""
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starting
        self.consumers.stop()  # events waiting out an outage go back to their queues
        if self.started.is_set():
            log.info("stopping: draining events in flight")
            await asyncio.gather(
                *(subscriber.stop() for subscriber in self.broker.subscribers),
                *(worker.stop() for worker in reversed(self.workers)),
            )
            await self.relay.stop(drain=True)
        await self.broker.stop()
        await self.mongo_client.close()
        await asyncio.to_thread(self.tracing.shutdown)  # the spans still buffered
        self.started.clear()
        log.info("service stopped")

    async def readiness(self) -> dict[str, bool]:
        if not self.started.is_set():
            # Not checked before the start is done: the start itself waits for both, and
            # a ping now could pool a connection to a MongoDB not yet a replica set.
            return {"started": False, "rabbitmq": False, "mongodb": False}
        rabbit_ok, mongo_ok = await asyncio.gather(
            broker_answers(self.broker), mongo.ping(self.mongo_client)
        )
        return {"started": self.started.is_set(), "rabbitmq": bool(rabbit_ok), "mongodb": mongo_ok}

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


class QueueArgumentsConflict(RuntimeError):
    """A queue exists with other arguments than this version declares it with."""

    def __init__(self, broker_says: str) -> None:
        super().__init__(
            f"{broker_says} — this queue was declared by an older version of Berdaya, "
            "with its delivery limit and dead-lettering as queue arguments, which can "
            "never change; they are policies now. Move its messages elsewhere if it holds "
            "any (shovel, or let the old version drain it), delete it once "
            "(rabbitmqctl delete_queue -p <vhost> <queue>) and the service declares it "
            "anew by itself. See README, 'Queues'."
        )


async def until_it_works(
    what: str, url: str, attempt: Callable[[], Awaitable[None]], *, longest_wait: float = 10.0
) -> None:
    """Run `attempt` until it succeeds, saying in the log what is awaited and why."""
    failures = 0
    while True:
        try:
            await attempt()
        except Exception as error:
            failures += 1
            wait = backoff(failures, first=0.5, cap=longest_wait)
            log.warning(
                f"waiting for {what}: not usable yet (unreachable, or refusing us)",
                at=without_password(url),
                error=f"{type(error).__name__}: {error}"[:500],
                retry_in_seconds=wait,
            )
            await asyncio.sleep(wait)
        else:
            return


def build_runtime(
    settings: ServiceSettings,
    producer: Producer,
    index_setups: list[IndexSetup],
    publishes: Collection[str] | None = None,
) -> ServiceRuntime:
    use_areas_file(settings.areas_file)
    use_work_rules_file(settings.work_rules_file)
    client = mongo.connect(settings.mongodb_url, app_name=settings.service_name)
    db = client[settings.database_name]
    tracing = Tracing.of(settings.service_name, settings.namespace, settings.otel_traces_exporter)
    broker = build_broker(settings)
    tracing.instrument_broker(broker)
    topology = Topology(
        settings.namespace,
        delivery_limit=broker_delivery_limit(settings.max_delivery_attempts),
        retry_delays=settings.retry_delays_seconds,
        declares=settings.broker_topology == "declare",
    )
    publisher = EventPublisher(broker, topology, producer, publishes, user_id=settings.amqp_user)
    relay = OutboxRelay(
        db,
        publisher,
        settings.service_name,
        poll_seconds=settings.outbox_poll_seconds,
        lease_seconds=settings.outbox_lease_seconds,
        heartbeat_seconds=settings.outbox_heartbeat_seconds,
        batch_size=settings.outbox_batch_size,
        # stopped after the consumers drained: its cycle in flight, then the drain
        stop_grace_seconds=settings.outbox_drain_seconds / 2,
        drain_seconds=settings.outbox_drain_seconds,
        tracer=tracing.tracer,
    )
    transactions = Transactions(
        client,
        db,
        producer,
        after_emitting=relay.nudge,
        tracer=tracing.tracer,
        time_limit_seconds=settings.transaction_time_limit_seconds,
    )
    return ServiceRuntime(
        settings=settings,
        mongo_client=client,
        db=db,
        broker=broker,
        topology=topology,
        publisher=publisher,
        relay=relay,
        transactions=transactions,
        consumers=EventConsumers(broker, topology, transactions, settings, tracer=tracing.tracer),
        dead_letters=DeadLetters(
            settings.amqp_url, topology, settings.service_name, user=settings.amqp_user
        ),
        index_setups=index_setups,
        tracing=tracing,
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
