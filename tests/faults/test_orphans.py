"""What a process killed mid-work leaves behind ends in seconds: the outbox rows its
relay held are taken over by another replica once its short lease lapses, and the
transaction it had open stops blocking others once the server's transaction lifetime
ends — not after a 30 s lease or a 60 s lifetime.

Run with the old settings to see the difference (the bounds then fail, after printing
the figures): `BERDAYA_OUTBOX_LEASE_SECONDS=30 BERDAYA_OUTBOX_HEARTBEAT_SECONDS=10`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

from shared.settings import ServiceSettings, database_name
from shared.storage import mongo, outbox
from shared.storage.unit_of_work import Transactions, UnitOfWork
from tests.support.events import work_started
from tests.support.infrastructure import Infrastructure
from tests.support.orphan_transaction import HOLDING
from tests.support.probe import EventProbe, until_async
from tests.support.processes import REPO, ServiceProcess, start_service, wait_ready
from tests.support.proxy import Forwarder

EVENTS = 300
# from the kill to the last of the killed relay's rows on the wire: lease (2 s) + poll
# (0.2 s here) + one batch published, with room for a busy machine
TAKEOVER_BOUND_SECONDS = 5.0


async def test_rows_of_a_killed_relay_are_published_by_the_other_replica_within_seconds(
    infra: Infrastructure, namespace: str, tmp_path: Path
) -> None:
    lease = ServiceSettings().outbox_lease_seconds  # as the services read it
    client = mongo.connect(infra.mongodb_url, "orphans-test")
    db = client[database_name(namespace, "proposals")]
    rows = db[outbox.COLLECTION]
    target = urlsplit(infra.amqp_url)
    replicas: list[ServiceProcess] = []
    try:
        async with (
            EventProbe(infra.amqp_url, namespace, ["work.started"]) as probe,
            Forwarder((target.hostname or "127.0.0.1", target.port or 5672)) as proxy,
        ):
            await proxy.open()
            # replica A reaches the broker through the proxy; its AMQP heartbeat is long
            # enough that the broker keeps its connection while the proxy holds
            stalled = start_service(
                "proposals",
                infra,
                namespace,
                tmp_path,
                AMQP_URL=proxy.url_for(infra.amqp_url),
                BERDAYA_OUTBOX_BATCH_SIZE=str(EVENTS * 2),
                BERDAYA_AMQP_HEARTBEAT_SECONDS="120",
            )
            replicas.append(stalled)
            await asyncio.to_thread(wait_ready, stalled)
            proxy.hold()

            committed = await _commit_events(client, db, EVENTS)
            claimed = await until_async(
                lambda: rows.distinct("lease_owner", {"status": outbox.PENDING}),
                lambda owners: len(owners) == 1 and owners[0] is not None,
                what="replica A's relay to claim every row",
            )
            token = claimed[0]
            claimed_at = time.monotonic()

            other = start_service("proposals", infra, namespace, tmp_path)
            replicas.append(other)
            await asyncio.to_thread(wait_ready, other)
            # A is alive but its broker never confirms: it keeps renewing, so B (polling
            # every 0.2 s) leaves the rows alone however long that lasts
            await asyncio.sleep(max(0.0, claimed_at + 3 * lease - time.monotonic()))
            assert probe.messages == [], "the other replica took rows from a live relay"
            held = await rows.count_documents({"status": outbox.PENDING, "lease_owner": token})
            assert held == EVENTS

            stalled.kill()
            killed_at = time.monotonic()
            await probe.wait_for(
                lambda: len(probe.messages) >= EVENTS, within=60, what=f"{EVENTS} events"
            )
            recovery = time.monotonic() - killed_at
            print(
                f"relay killed holding {EVENTS} rows (lease {lease} s): the other replica "
                f"published them all {recovery:.2f} s after the kill"
            )
            await asyncio.sleep(1.0)  # room for a second copy to show up

            published = [str(message.message_id) for message in probe.messages]
            assert sorted(published) == sorted(committed), "an event missing or doubled"
            assert await outbox.count_pending(db) == 0
            assert recovery <= TAKEOVER_BOUND_SECONDS
    finally:
        for replica in replicas:
            replica.stop()
        await client.close()


async def _commit_events(
    client: AsyncMongoClient[mongo.Document], db: mongo.Database, count: int
) -> list[str]:
    """`count` events in one transaction, as a use case emits them."""

    async def work(uow: UnitOfWork) -> list[str]:
        return [str((await uow.emit(work_started())).event_id) for _ in range(count)]

    return await Transactions(client, db, "proposals").run(work, correlation_id="orphans")


async def test_a_transaction_orphaned_by_a_kill_blocks_others_only_seconds(
    infra: Infrastructure, namespace: str
) -> None:
    client = mongo.connect(infra.mongodb_url, "orphans-test")
    db = client[database_name(namespace, "materials")]
    balances = db["balances"]
    await balances.insert_one({"_id": "hot", "writes": 0})
    lifetime = (await client.admin.command("getParameter", transactionLifetimeLimitSeconds=1))[
        "transactionLifetimeLimitSeconds"
    ]
    holder = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "tests.support.orphan_transaction"),
        *(infra.mongodb_url, db.name, balances.name, "hot"),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        line = await holder.stdout.readline()
        assert line.decode().strip() == HOLDING
        began = time.monotonic()
        # the document really is held: a transaction writing it now conflicts
        async with client.start_session() as session:
            await session.start_transaction()
            with pytest.raises(OperationFailure) as conflict:
                await balances.update_one({"_id": "hot"}, {"$inc": {"writes": 1}}, session=session)
            assert conflict.value.has_error_label("TransientTransactionError")
        holder.kill()
        await holder.wait()
        killed = time.monotonic()

        async def write(uow: UnitOfWork) -> None:
            await uow.db[balances.name].update_one(
                {"_id": "hot"}, {"$inc": {"writes": 1}}, session=uow.session
            )

        # the unit of work retries the write conflicts until the server ends the orphan
        await Transactions(client, db, "materials").run(write, correlation_id="after-orphan")
        done = time.monotonic()
        print(
            f"transactionLifetimeLimitSeconds={lifetime}: the orphan held the document "
            f"{done - began:.2f} s; a transaction after the kill waited {done - killed:.2f} s"
        )
        assert (await balances.find_one({"_id": "hot"}) or {})["writes"] == 1  # rolled back
        # the server looks for expired transactions every half lifetime
        assert done - began <= lifetime * 1.5 + 1.0
        assert lifetime <= 3, "mongod runs without the lifetime deploy/local/run.py sets"
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
        await client.close()
