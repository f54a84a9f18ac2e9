"""MongoDB as production runs it, a 3-member replica set, its primary SIGKILLed while
proposals and materials are busy: the other two members elect a new primary, the
services carry on against it (multi-host URL, `w: majority`, retried writes and
transactions), and nothing is lost or doubled — every approval reserves its job
exactly once and every event reaches an outside listener once per event id."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from pymongo import AsyncMongoClient

from tests.support.failover import (
    EffectClock,
    approve_all,
    assert_each_once,
    endorsed_proposals,
    once_each,
    report_recovery,
)
from tests.support.infrastructure import Infrastructure
from tests.support.mongo_replica_set import mongo_replica_set
from tests.support.probe import EventProbe, until_async
from tests.support.processes import metric, start_service, wait_ready

APPROVALS = 60
KILL_AFTER = APPROVALS // 4  # jobs reserved before the primary dies
# The election cannot be over this soon (electionTimeoutMillis is 10 s): what becomes
# visible within this long after the kill was committed before it.
SETTLED_SECONDS = 2.0


async def test_killing_the_primary_mid_flow_loses_and_doubles_nothing(
    infra: Infrastructure, namespace: str, tmp_path: Path
) -> None:
    begun = time.monotonic()
    with mongo_replica_set(tmp_path / "replica-set") as members:
        engines = Infrastructure(infra.amqp_url, members.url, "3-member replica set")
        # the test's own reads: from a secondary while there is no primary, and only
        # what a majority holds (what survives the failover)
        observer: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            members.url,
            readPreference="primaryPreferred",
            readConcernLevel="majority",
            uuidRepresentation="standard",
        )
        jobs = observer[f"{namespace}_materials"]["jobs"]

        async def reserved() -> int:
            return await jobs.count_documents({})

        clock = EffectClock(reserved)
        services = [
            start_service(name, engines, namespace, tmp_path) for name in ("proposals", "materials")
        ]
        proposals, materials = services
        try:
            for service in services:
                await asyncio.to_thread(wait_ready, service)
            print(f"\nengines and services ready after {time.monotonic() - begun:.1f} s")
            endorsed = await endorsed_proposals(proposals.url, APPROVALS)
            print(f"{APPROVALS} proposals endorsed after {time.monotonic() - begun:.1f} s")
            kinds = ["proposal.approved", "material.reserved"]
            async with EventProbe(infra.amqp_url, namespace, kinds) as probe:
                clock.start()
                flow_began = time.monotonic()
                flow = asyncio.create_task(approve_all(proposals.url, endorsed))
                await until_async(reserved, lambda n: n >= KILL_AFTER, within=60, what="progress")
                killed_at = time.monotonic()
                steady = killed_at - flow_began
                killed = await asyncio.to_thread(members.kill_primary)
                elected = await asyncio.to_thread(members.primary)
                election = time.monotonic() - killed_at
                print(
                    f"\nkilled primary {killed} at {clock.latest()} of {APPROVALS} jobs, "
                    f"{steady:.1f} s into the flow"
                )
                print(f"{elected} primary after {election:.1f} s (as seen by polling)")

                await asyncio.wait_for(flow, 90)  # every approval answered 2xx
                await until_async(reserved, lambda n: n >= APPROVALS, within=60, what="every job")
                await probe.wait_for(
                    lambda: len(once_each(probe.of_type("material.reserved"))) == APPROVALS,
                    within=60,
                    what="every reservation announced",
                )
                done_at = time.monotonic()
                report_recovery(clock, killed_at, done_at, SETTLED_SECONDS)
                copies = await assert_each_once(jobs, probe, endorsed, kinds)
                print(f"{copies} repeated copies of an event id (outbox republished)")
                # the outage was waited out: no handler failure, nothing dead-lettered
                consumed = {"service": "materials", "event_type": "proposal.approved"}
                for outcome in ("retried", "dead_lettered"):
                    value = metric(
                        materials.url, "berdaya_events_consumed_total", outcome=outcome, **consumed
                    )
                    assert value == 0, f"{outcome}: {value}"
        finally:
            await clock.stop()
            for service in services:
                service.stop()
            await observer.close()
