"""SIGTERM to a service under load: events in flight commit and ack, the outbox is
published before the process exits, within the stop bound; after a restart nothing
is lost, nothing doubled, and only the few messages it held come back."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from pathlib import Path

from pymongo import AsyncMongoClient

from shared.settings import ServiceSettings
from tests.support.infrastructure import Infrastructure
from tests.support.materials import queued_approvals
from tests.support.probe import EventProbe, eventually_async, until_async
from tests.support.processes import metric, start_service, wait_ready

APPROVALS = 400
BOUND_SECONDS = ServiceSettings().shutdown_seconds
PREFETCH = ServiceSettings().prefetch_count


async def test_sigterm_under_load_drains_and_loses_nothing(
    infra: Infrastructure, namespace: str, tmp_path: Path
) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(infra.mongodb_url)
    jobs = client[f"{namespace}_materials"]["jobs"]
    outbox = client[f"{namespace}_materials"]["outbox"]
    await queued_approvals(infra, namespace, tmp_path, APPROVALS)
    materials = None
    try:
        announcements = ["material.reserved", "material.shortage"]
        async with EventProbe(infra.amqp_url, namespace, announcements) as probe:
            materials = start_service("materials", infra, namespace, tmp_path)
            await until_async(
                lambda: jobs.count_documents({}), lambda n: n >= APPROVALS // 10, what="progress"
            )

            asked = time.monotonic()
            materials.process.send_signal(signal.SIGTERM)
            status = await asyncio.to_thread(materials.process.wait, BOUND_SECONDS + 10)
            took = time.monotonic() - asked
            handled = await jobs.count_documents({})
            print(f"stopped after {handled} of {APPROVALS} approvals, in {took:.2f} s")
            assert handled < APPROVALS, "the stop came too late to prove anything"
            # graceful: uvicorn re-raises the SIGTERM once the stop is complete
            assert status == -signal.SIGTERM, materials.log_tail()
            assert took < BOUND_SECONDS
            log = materials.log.read_text()
            assert "outbox drained" in log and "service stopped" in log
            # what it committed, it published before exiting: nothing waits for a replica
            assert await outbox.count_documents({"status": {"$ne": "sent"}}) == 0
            await probe.wait_for(
                lambda: len({m.message_id for m in probe.of_type("material.reserved")}) == handled,
                what="every committed job announced",
            )

            materials = start_service("materials", infra, namespace, tmp_path)
            await asyncio.to_thread(wait_ready, materials)
            await eventually_async(
                lambda: jobs.count_documents({}), APPROVALS, what="every job", within=90
            )
            approved = {"service": "materials", "event_type": "proposal.approved"}
            duplicates = metric(
                materials.url, "berdaya_events_consumed_total", outcome="duplicate", **approved
            )
            redelivered = metric(materials.url, "berdaya_events_redelivered_total", **approved)
            retried = metric(
                materials.url, "berdaya_events_consumed_total", outcome="retried", **approved
            )
            print(f"after restart: {redelivered:g} redelivered, {duplicates:g} duplicates")
            # no effect was committed without its ack, none failed
            assert duplicates == 0
            assert retried == 0
            # only what the stopped process had been handed but not started comes back
            assert redelivered <= PREFETCH

            per_proposal = Counter([d["proposal_id"] async for d in jobs.find({})])
            assert len(per_proposal) == APPROVALS
            assert set(per_proposal.values()) == {1}
            for event_type in announcements:
                await probe.wait_for(
                    lambda t=event_type: (
                        len({m.message_id for m in probe.of_type(t)})  # type: ignore[misc]
                        == APPROVALS
                    ),
                    what=f"every {event_type}",
                )
    finally:
        if materials is not None:
            materials.stop()
        await client.close()
