"""The outbox relay publishes every committed event exactly once, even with two replicas."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import timedelta
from typing import Any, cast

import aio_pika
from pymongo import AsyncMongoClient

from shared.contracts import new_envelope
from shared.contracts.events import WorkStartedV2
from shared.messaging.topology import Topology
from shared.storage import outbox
from shared.storage.mongo import Database
from shared.storage.unit_of_work import UnitOfWork
from tests.support.events import work_started
from tests.support.infrastructure import Infrastructure
from tests.support.probe import EventProbe, until_async
from tests.support.runtime import running_service

EVENTS = 150


async def test_two_relays_publish_each_committed_event_exactly_once(
    infra: Infrastructure, namespace: str
) -> None:
    async with (
        EventProbe(infra.amqp_url, namespace, ["work.started"]) as probe,
        running_service("proposals", infra, namespace) as (replica_a, _),
        running_service("proposals", infra, namespace) as (replica_b, _),
    ):
        written: list[str] = []

        async def commit_one(replica_index: int) -> None:
            async def work(uow: UnitOfWork) -> None:
                envelope = await uow.emit(work_started())
                written.append(str(envelope.event_id))

            replica = (replica_a, replica_b)[replica_index % 2]
            await replica.transactions.run(work, correlation_id=f"relay-test-{replica_index}")

        await asyncio.gather(*(commit_one(i) for i in range(EVENTS)))
        await probe.wait_for(lambda: len(probe.messages) >= EVENTS, what=f"{EVENTS} events")
        await asyncio.sleep(1.0)  # room for any duplicate to show up

        received = [str(m.message_id) for m in probe.messages]
        assert len(received) == EVENTS, "a relay published an event twice"
        assert sorted(received) == sorted(written)
        assert await outbox.count_pending(replica_a.db) == 0


async def test_published_message_carries_the_contract_properties(
    infra: Infrastructure, namespace: str
) -> None:
    async with (
        EventProbe(infra.amqp_url, namespace, ["work.started"]) as probe,
        running_service("proposals", infra, namespace) as (runtime, _),
    ):
        sent = work_started()

        async def work(uow: UnitOfWork) -> str:
            return str((await uow.emit(sent)).event_id)

        event_id = await runtime.transactions.run(work, correlation_id="corr-42")
        await probe.wait_for(lambda: len(probe.messages) == 1, what="the event")

        message = probe.messages[0]
        body = json.loads(message.body)
        assert message.message_id == event_id == body["event_id"]
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert message.content_type == "application/json"
        assert message.type == "work.started"
        assert message.correlation_id == "corr-42" == body["correlation_id"]
        assert body["producer"] == "proposals"
        assert WorkStartedV2.model_validate_json(json.dumps(body["data"])) == sent


async def test_the_events_of_one_transaction_go_out_in_the_order_they_were_emitted(
    infra: Infrastructure, namespace: str
) -> None:
    """They are written within a millisecond or two: the outbox's order must still hold."""
    async with (
        EventProbe(infra.amqp_url, namespace, ["work.started"]) as probe,
        running_service("proposals", infra, namespace) as (runtime, _),
    ):

        async def work(uow: UnitOfWork) -> list[str]:
            one_by_one = [await uow.emit(work_started()) for _ in range(10)]
            together = await uow.emit_all([work_started() for _ in range(20)])
            return [str(envelope.event_id) for envelope in (*one_by_one, *together)]

        emitted = await runtime.transactions.run(work, correlation_id="in-order")
        await probe.wait_for(lambda: len(probe.messages) == 30, what="30 events")
        assert [str(m.message_id) for m in probe.messages] == emitted


async def test_rolled_back_transaction_publishes_nothing(
    infra: Infrastructure, namespace: str
) -> None:
    async with (
        EventProbe(infra.amqp_url, namespace, ["work.started"]) as probe,
        running_service("proposals", infra, namespace) as (runtime, _),
    ):

        async def failing_work(uow: UnitOfWork) -> None:
            await uow.emit(work_started())
            raise RuntimeError("the state change failed after the event was queued")

        with contextlib.suppress(RuntimeError):
            await runtime.transactions.run(failing_work, correlation_id=str(uuid.uuid4()))
        await asyncio.sleep(1.0)  # room for a wrongly published event to show up
        assert probe.messages == []
        assert await runtime.db[outbox.COLLECTION].count_documents({}) == 0


async def test_event_nobody_listens_to_stays_in_the_outbox_until_a_queue_is_bound(
    infra: Infrastructure, namespace: str
) -> None:
    async with running_service("proposals", infra, namespace) as (runtime, _):

        async def work(uow: UnitOfWork) -> None:
            await uow.emit(work_started())

        await runtime.transactions.run(work, correlation_id="unroutable")
        # the relay tries at once and is told NO_ROUTE
        row = await until_async(
            lambda: runtime.db[outbox.COLLECTION].find_one({}),
            lambda found: found is not None and found["last_error"] is not None,
            what="a failed publish",
        )
        assert row["status"] == outbox.PENDING
        assert "NO_ROUTE" in row["last_error"]

        async with EventProbe(infra.amqp_url, namespace, ["work.started"]) as probe:
            # the relay retries with backoff (1 s, 2 s, …) and now finds a queue
            await probe.wait_for(lambda: len(probe.messages) == 1, within=15, what="retry")
        assert await outbox.count_pending(runtime.db) == 0


async def test_an_event_the_broker_refuses_goes_out_on_a_fresh_channel_within_seconds(
    infra: Infrastructure, namespace: str
) -> None:
    # a queue that refuses everything (full at length 0, reject-publish): the broker
    # nacks each publish of the event while the queue is bound
    async with (
        EventProbe(infra.amqp_url, namespace, ["work.started"]) as probe,
        running_service("proposals", infra, namespace) as (runtime, _),
        await aio_pika.connect(infra.amqp_url) as connection,
    ):
        channel = await connection.channel()
        exchange = await channel.get_exchange(Topology(namespace).events_exchange.name)
        refusing = await channel.declare_queue(
            f"{namespace}.refusing",
            arguments={"x-max-length": 0, "x-overflow": "reject-publish"},
        )
        await refusing.bind(exchange, "work.started")
        publishing = await runtime.broker.config.channel_manager.get_channel()
        first_channel = await publishing.get_underlay_channel()

        async def work(uow: UnitOfWork) -> str:
            return str((await uow.emit(work_started())).event_id)

        event_id = await runtime.transactions.run(work, correlation_id="refused")
        row = await until_async(
            lambda: runtime.db[outbox.COLLECTION].find_one({"_id": event_id}),
            lambda found: found is not None and "Nack" in (found["last_error"] or ""),
            what="a nacked publish",
        )
        renewed = await until_async(
            publishing.get_underlay_channel,
            lambda underlay: underlay is not first_channel and not underlay.is_closed,
            what="a fresh publishing channel",
        )
        await refusing.delete(if_unused=False, if_empty=False)
        await until_async(
            lambda: outbox.count_pending(runtime.db), lambda n: n == 0, what="the event sent"
        )

    assert row["status"] == outbox.PENDING
    assert renewed.number is not None
    # a nack may follow a copy another queue took: the copies share the event's id
    assert {m.message_id for m in probe.messages} == {event_id}


class _LeasingTogether:
    """A database whose collections let an `update_many` through only once two are
    waiting: two claims then both read the same free rows before either leases them."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self._both_read = asyncio.Barrier(2)

    def __getitem__(self, name: str) -> Any:
        return _Collection(self._db[name], self._both_read)


class _Collection:
    def __init__(self, collection: Any, both_read: asyncio.Barrier) -> None:
        self._collection = collection
        self._both_read = both_read

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)

    async def update_many(self, *args: Any, **kwargs: Any) -> Any:
        await self._both_read.wait()
        return await self._collection.update_many(*args, **kwargs)


async def test_two_claims_that_read_the_same_rows_each_get_only_what_they_leased(
    infra: Infrastructure, namespace: str
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb_url)
    db = client[f"{namespace}_claims"]
    try:
        envelopes = [
            new_envelope(work_started(), producer="proposals", correlation_id=f"c{i}")
            for i in range(30)
        ]
        async with client.start_session() as session:
            await outbox.add_all(db, session, envelopes)
        racing = cast(Database, _LeasingTogether(db))
        lease = timedelta(seconds=30)
        first, second = await asyncio.gather(
            outbox.claim(racing, "relay-a", lease, limit=20),
            outbox.claim(racing, "relay-b", lease, limit=20),
        )
        won = [row["_id"] for row in (*first, *second)]
        assert sorted(won) == sorted(str(e.event_id) for e in envelopes[:20])  # each once
        for row in (*first, *second):
            stored = await db[outbox.COLLECTION].find_one({"_id": row["_id"]})
            assert stored is not None
            assert (row["lease_owner"], row["attempts"]) == (stored["lease_owner"], 1)
    finally:
        await client.drop_database(db.name)
        await client.close()
