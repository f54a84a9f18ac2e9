"""Kill -9 the materials service while it works through approvals; after a restart
every approval has exactly one effect and one announcement."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from pymongo import AsyncMongoClient

from tests.support.infrastructure import Infrastructure
from tests.support.materials import queued_approvals
from tests.support.probe import EventProbe, eventually_async, until_async
from tests.support.processes import start_service, wait_ready

APPROVALS = 200
FAST_RECOVERY = {"BERDAYA_OUTBOX_LEASE_SECONDS": "2"}


async def test_killed_consumer_loses_nothing_and_doubles_nothing(
    infra: Infrastructure, namespace: str, tmp_path: Path
) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(infra.mongodb_url)
    jobs = client[f"{namespace}_materials"]["jobs"]
    outbox = client[f"{namespace}_materials"]["outbox"]
    # the approvals wait on the queue, all at once, before the service starts
    await queued_approvals(infra, namespace, tmp_path, APPROVALS, **FAST_RECOVERY)
    materials = None
    try:
        announcements = ["material.reserved", "material.shortage"]
        async with EventProbe(infra.amqp_url, namespace, announcements) as probe:
            materials = start_service("materials", infra, namespace, tmp_path, **FAST_RECOVERY)

            # let it get part of the way, then kill it mid-stream
            await until_async(
                lambda: jobs.count_documents({}), lambda n: n >= APPROVALS // 10, what="progress"
            )
            materials.kill()
            killed_at = await jobs.count_documents({})
            print(f"materials killed after {killed_at} of {APPROVALS} approvals")
            assert killed_at < APPROVALS, "the crash came too late to prove anything"

            materials = start_service("materials", infra, namespace, tmp_path, **FAST_RECOVERY)
            await asyncio.to_thread(wait_ready, materials)
            await eventually_async(
                lambda: jobs.count_documents({}), APPROVALS, what="every job", within=60
            )
            await eventually_async(
                lambda: outbox.count_documents({"status": "pending"}), 0, what="outbox drained"
            )
            await asyncio.sleep(1.0)  # room for a doubled job or event to show up

            per_proposal = Counter([d["proposal_id"] async for d in jobs.find({})])
            assert len(per_proposal) == APPROVALS
            assert set(per_proposal.values()) == {1}
            assert await outbox.count_documents({"type": "material.reserved"}) == APPROVALS
            # a crash between publish and mark-sent may re-publish the same event
            # (same message_id); consumers deduplicate on it — but none may be missing
            for event_type in announcements:
                announced = {m.message_id for m in probe.of_type(event_type)}
                assert len(announced) == APPROVALS, event_type
    finally:
        if materials is not None:
            materials.stop()
        await client.close()
