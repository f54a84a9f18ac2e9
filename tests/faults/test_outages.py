"""MongoDB goes away under a consumer (a TCP proxy in front of the real mongod, closed and
opened again): consumption pauses, nothing is dead-lettered, no attempt is spent — not
even across a restart of the consumer during the outage — and every event is handled
once MongoDB is back."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import pymongo.client_session_shared
import pytest
from pymongo import AsyncMongoClient

from shared.contracts import ReceivedEvent, new_envelope
from shared.contracts.events import WorkStartedV1
from shared.metrics import CONSUMPTION_PAUSED, EVENTS_CONSUMED
from shared.runtime import ServiceRuntime, build_runtime
from shared.storage.mongo import Database
from shared.storage.unit_of_work import UnitOfWork
from tests.support.events import work_started
from tests.support.infrastructure import Infrastructure
from tests.support.namespace import settings_for
from tests.support.probe import eventually, eventually_async
from tests.support.proxy import LateProxy
from tests.support.runtime import publish_envelopes

EVENTS = 3


def counted(metric: object, *labels: str) -> float:
    value: float = metric.labels(*labels)._value.get()  # type: ignore[attr-defined]
    return value


async def create_effects(db: Database) -> None:
    if "effects" not in await db.list_collection_names():
        await db.create_collection("effects")


async def record(event: ReceivedEvent[WorkStartedV1], uow: UnitOfWork) -> None:
    await uow.db["effects"].insert_one(
        {"_id": str(event.envelope.event_id), "by": event.data.started_by}, session=uow.session
    )


async def test_a_mongodb_outage_pauses_consumption_and_spends_no_attempt(
    infra: Infrastructure, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PyMongo's with_transaction retries a transient error for 120 s before it gives up;
    # 2 s here, so that the consumer's own handling of the outage is what is tested.
    monkeypatch.setattr(pymongo.client_session_shared, "_WITH_TRANSACTION_RETRY_TIME_LIMIT", 2)
    target = urlsplit(infra.mongodb_url)
    labels = ("materials", "work.started")
    before = {
        outcome: counted(EVENTS_CONSUMED, *labels, outcome)
        for outcome in ("handled", "retried", "dead_lettered")
    }
    paused_before = counted(CONSUMPTION_PAUSED, *labels)

    async with LateProxy(target.hostname or "127.0.0.1", target.port or 27017) as proxy:
        await proxy.open()
        settings = settings_for(
            "materials",
            namespace,
            infra.amqp_url,
            f"mongodb://127.0.0.1:{proxy.port}/?directConnection=true",
            # one failure of the handler would dead-letter the event at once
            max_delivery_attempts=1,
            shutdown_seconds=5,
        )

        def replica() -> ServiceRuntime:
            runtime = build_runtime(settings, "materials", [create_effects])
            runtime.consumers.on(WorkStartedV1, record)
            return runtime

        first = replica()
        await first.start()
        await proxy.close()  # MongoDB unreachable from here on
        envelopes = [
            new_envelope(work_started(), producer="proposals", correlation_id=f"outage-{i}")
            for i in range(EVENTS)
        ]
        await publish_envelopes(infra, namespace, envelopes)
        await eventually(
            lambda: counted(CONSUMPTION_PAUSED, *labels) - paused_before >= EVENTS,
            within=60,
            what="every event waiting out the outage",
        )
        assert await first.dead_letters.peek() == []

        # a restart during the outage: the consumer stops within its bound, the events
        # go back to their queue; the new one waits for MongoDB before it takes any
        stopping = time.monotonic()
        await first.stop()
        assert time.monotonic() - stopping < 20
        second = replica()
        second.start_in_background()
        await asyncio.sleep(1)
        assert not second.started.is_set()

        await proxy.open()  # MongoDB is back
        try:
            client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(infra.mongodb_url)
            effects = client[settings.database_name]["effects"]
            try:
                await eventually_async(
                    lambda: effects.count_documents({}), EVENTS, within=60, what="every effect"
                )
            finally:
                await client.close()
            assert second.started.is_set()
            assert await second.dead_letters.peek() == []
        finally:
            await second.stop()

    assert counted(EVENTS_CONSUMED, *labels, "handled") - before["handled"] == EVENTS
    assert counted(EVENTS_CONSUMED, *labels, "retried") == before["retried"]
    assert counted(EVENTS_CONSUMED, *labels, "dead_lettered") == before["dead_lettered"]
