"""MongoDB goes away under a consumer (a TCP proxy in front of the real mongod, closed and
opened again): consumption pauses, nothing is dead-lettered, no attempt is spent — not
even across a restart of the consumer during the outage — and every event is handled
once MongoDB is back. And for two minutes under load: materials' own mongod stopped
while approvals keep arriving over HTTP, then started again."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import urlsplit

import pymongo.client_session_shared
import pytest
from pymongo import AsyncMongoClient

from deploy.local import run
from shared.contracts import ReceivedEvent, new_envelope
from shared.contracts.events import WorkStartedV2
from shared.metrics import CONSUMPTION_PAUSED, EVENTS_CONSUMED
from shared.runtime import ServiceRuntime, build_runtime
from shared.storage.mongo import Database
from shared.storage.unit_of_work import UnitOfWork
from tests.support.approvals import WATCHED, ApprovalLoad, until_ready
from tests.support.events import work_started
from tests.support.infrastructure import Infrastructure
from tests.support.namespace import settings_for
from tests.support.probe import EventProbe, eventually, eventually_async
from tests.support.processes import start_service, wait_ready
from tests.support.proxy import Forwarder
from tests.support.runtime import publish_envelopes

EVENTS = 3
OUTAGE_SECONDS = 120.0
# while MongoDB is away, an approval arrives over HTTP this often
APPROVAL_EVERY_SECONDS = 8.0


def counted(metric: object, *labels: str) -> float:
    value: float = metric.labels(*labels)._value.get()  # type: ignore[attr-defined]
    return value


async def create_effects(db: Database) -> None:
    if "effects" not in await db.list_collection_names():
        await db.create_collection("effects")


async def record(event: ReceivedEvent[WorkStartedV2], uow: UnitOfWork) -> None:
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

    async with Forwarder((target.hostname or "127.0.0.1", target.port or 27017)) as proxy:
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
            runtime.consumers.on(WorkStartedV2, record)
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


async def test_a_two_minute_mongodb_outage_under_load_loses_nothing(
    infra: Infrastructure, namespace: str, tmp_path: Path
) -> None:
    """Materials' mongod stops for two minutes while approvals keep arriving over HTTP
    (proposals' own MongoDB is up): materials says it is not ready, its events wait on
    their queue without spending an attempt; once mongod is back every approval gets
    its job once and nothing is dead-lettered."""
    port = run.free_port()
    mongod = await asyncio.to_thread(run.start_mongod, tmp_path / "materials-db", port)
    services = {
        "proposals": start_service("proposals", infra, namespace, tmp_path),
        "materials": start_service("materials", infra, namespace, tmp_path, MONGODB_URL=mongod.url),
    }
    try:
        for service in services.values():
            await asyncio.to_thread(wait_ready, service, 90)
        load = ApprovalLoad(services["proposals"].url, services["materials"].url)
        async with EventProbe(infra.amqp_url, namespace, WATCHED) as probe:
            await load.prepare()
            await load.approve(3, "sebelum")
            await load.wait_for_jobs(mongod.url, namespace, within=30)

            await asyncio.to_thread(mongod.stop)
            stopped_at = time.monotonic()
            not_ready_after = await until_ready(services["materials"], False, within=15)
            during = 0
            while time.monotonic() - stopped_at < OUTAGE_SECONDS:
                await load.approve(1, "selama")
                during += 1
                await asyncio.sleep(APPROVAL_EVERY_SECONDS)
            assert not probe.of_type("material.reserved")[3:], "handled without MongoDB?"
            mongod = await asyncio.to_thread(run.start_mongod, tmp_path / "materials-db", port)
            started_at = time.monotonic()
            ready_after = await until_ready(services["materials"], True, within=90)
            await load.approve(3, "sesudah")
            drained_at = await load.wait_for_jobs(mongod.url, namespace, within=120)
            await asyncio.sleep(2.0)  # a doubled job or event would show up by now
            reckoning = await load.reckon(probe, infra.amqp_url, mongod.url, namespace)
        for service in services.values():
            assert service.process.poll() is None, f"{service.name} died:\n{service.log_tail()}"
    finally:
        for service in services.values():
            service.stop()
        mongod.stop()

    assert reckoning.approvals == 3 + during + 3
    print(  # the figures the README quotes (pytest -s shows them)
        f"\nmaterials' mongod stopped {OUTAGE_SECONDS:.0f}s, {during} approvals during it: "
        f"not ready after {not_ready_after:.1f}s, ready {ready_after:.1f}s after mongod was "
        f"back, every job {drained_at - started_at:.1f}s after; {reckoning}"
    )
