"""Reservations under a burst of approvals: throughput, approval → reserved, aborts.

    .venv/bin/python -m benchmarks.reservations [--approvals 200] [--replicas 2]
        [--slots N ...] [--stock 1.0]

`--replicas` materials runtimes (in this process, each with its own broker connection,
consumers and relay, as separate replicas have) on a throwaway MongoDB (unless
MONGODB_URL is set: then the abort counts include whatever else runs on it) and the
local RabbitMQ. The city's warehouse system first receives `--stock` times the bills of
all the roads at the central warehouse (every reservation wants the same three
(warehouse, item) levels: the hot spot), then `--approvals` road approvals are
published to the exchange at once. For each `--slots` (the stock slots per (warehouse,
item) level, see services/materials/README.md "Stock"; one run each, on a fresh
namespace) it prints:
- throughput: approvals reserved per second, first publish → last `material.reserved`;
- approval → `material.reserved` committed (its publish → the outbox row's time, which
  is taken inside the committing transaction): p50, p95, p99, max;
- MongoDB transactions committed and aborted meanwhile (serverStatus), and the write
  conflicts the server counted;
- the check: nothing reserved beyond what was received, levels = sum of the ledger.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aio_pika
from pymongo import AsyncMongoClient

from benchmarks.measure import (
    RESULTS_DIR,
    percentiles,
    production_logging,
    server_transactions,
)
from services.materials.domain.bill_of_materials import load_norm_book
from services.materials.domain.catalogue import load_catalogue
from services.materials.service.handlers import EventHandlers
from services.materials.service.stock_transaction import Reference
from services.materials.settings import MaterialsSettings
from shared.contracts import new_envelope
from shared.messaging.topology import Topology
from shared.runtime import ServiceRuntime
from shared.slots import Level
from shared.storage import outbox
from tests.support.events import proposal_approved, stock_received
from tests.support.infrastructure import Infrastructure, infrastructure
from tests.support.materials import CENTRAL, ROAD_BILL, handle, levels, levels_from_the_ledger
from tests.support.namespace import new_namespace, remove_namespace
from tests.support.runtime import running_service

STOCK_SLOTS_SUPPORTED = "stock_slots" in MaterialsSettings.model_fields


@dataclass(frozen=True)
class Figures:
    slots: int | None
    seconds: float
    latencies: list[float]
    committed: int
    aborted: int
    conflicts: int
    oversold: bool


@asynccontextmanager
async def announcements_taken(infra: Infrastructure, namespace: str) -> AsyncIterator[None]:
    """A queue for what materials announces, as the proposals and notifications services
    have: without one the relays would retry unroutable events all along."""
    connection = await aio_pika.connect(infra.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(Topology(namespace).events_exchange.name)
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, routing_key="material.#")
        yield


@asynccontextmanager
async def replicas(
    infra: Infrastructure, namespace: str, count: int, slots: int | None
) -> AsyncIterator[list[ServiceRuntime]]:
    overrides: dict[str, object] = {} if slots is None else {"stock_slots": slots}
    async with AsyncExitStack() as stack:
        started = [
            (
                await stack.enter_async_context(
                    running_service("materials", infra, namespace, **overrides)
                )
            )[0]
            for _ in range(count)
        ]
        yield started


async def publish_at_once(infra: Infrastructure, namespace: str, count: int) -> dict[str, datetime]:
    """`count` approvals on one confirmed channel, all in flight together; proposal id →
    when its envelope was made (just before it was sent)."""
    sent: dict[str, datetime] = {}
    connection = await aio_pika.connect(infra.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(Topology(namespace).events_exchange.name)
        confirms = []
        for i in range(count):
            approved = proposal_approved()
            envelope = new_envelope(approved, producer="proposals", correlation_id=f"bench-{i}")
            sent[str(approved.proposal_id)] = envelope.occurred_at
            message = aio_pika.Message(
                envelope.model_dump_json().encode(),
                message_id=str(envelope.event_id),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            confirms.append(exchange.publish(message, routing_key=envelope.type))
        await asyncio.gather(*confirms)
    return sent


async def reserved_at(runtime: ServiceRuntime) -> dict[str, datetime]:
    """proposal id → when its first `material.reserved` was written (in its transaction)."""
    found: dict[str, datetime] = {}
    cursor = runtime.db[outbox.COLLECTION].find({"type": "material.reserved"}).sort("seq", 1)
    async for row in cursor:
        found.setdefault(json.loads(row["body"])["data"]["proposal_id"], row["seq"])
    return found


async def one_run(
    infra: Infrastructure, count: int, replica_count: int, slots: int | None, stock: float
) -> Figures:
    namespace = new_namespace()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb_url, tz_aware=True)
    try:
        async with (
            AsyncExitStack() as stack,
            replicas(infra, namespace, replica_count, slots) as runtimes,
        ):
            first = runtimes[0]
            await stack.enter_async_context(announcements_taken(infra, namespace))
            received = {item: round(q * count * stock, 6) for item, q in ROAD_BILL.items()}
            await handle(
                first, EventHandlers(_reference()), stock_received(received), "city-warehouse"
            )
            before = await server_transactions(client)
            sent = await publish_at_once(infra, namespace, count)
            deadline = time.monotonic() + 600
            while len(done := await reserved_at(first)) < count:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"only {len(done)} of {count} approvals reserved")
                await asyncio.sleep(0.05)
            after = await server_transactions(client)
            latencies = [(done[pid] - at).total_seconds() for pid, at in sent.items()]
            seconds = (max(done.values()) - min(sent.values())).total_seconds()
            oversold = await _oversold(first, received)
    finally:
        await client.close()
        await remove_namespace(namespace, infra.amqp_url, infra.mongodb_url)
    return Figures(
        slots=slots,
        seconds=seconds,
        latencies=sorted(latencies),
        committed=after["committed"] - before["committed"],
        aborted=after["aborted"] - before["aborted"],
        conflicts=after["write_conflicts"] - before["write_conflicts"],
        oversold=oversold,
    )


def _reference() -> Reference:
    book = load_norm_book()
    return Reference(book=book, catalogue=load_catalogue(book))


async def _oversold(runtime: ServiceRuntime, received: dict[str, float]) -> bool:
    """Anything reserved beyond what was received, or levels that are not their ledger."""
    now = await levels(runtime)
    from_ledger = await levels_from_the_ledger(runtime)
    for item, quantity in received.items():
        level = now.get((CENTRAL, item), Level())
        if level.reserved > quantity + 1e-6 or level.on_hand != quantity:
            return True
    return any(from_ledger.get(key, Level()) != level for key, level in now.items())


async def main(count: int, replica_count: int, all_slots: list[int | None], stock: float) -> None:
    with (
        infrastructure() as infra,
        production_logging("materials", RESULTS_DIR / "logs" / "reservations.log"),
    ):
        results = [await one_run(infra, count, replica_count, s, stock) for s in all_slots]
    print(
        f"\n{count} approvals at once, {replica_count} materials replicas, stock for "
        f"{stock:g} x the bills at one warehouse ({infra.source})"
    )
    header = (
        f"{'slots':>5} {'seconds':>8} {'appr/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>7} {'commits':>8} {'aborts':>7} {'conflicts':>9} {'oversold':>8}"
    )
    print(header)
    for f in results:
        found = percentiles(f.latencies)
        ms = [1000 * float(found[p] or 0.0) for p in ("p50", "p95", "p99")]
        print(
            f"{f.slots if f.slots is not None else '-':>5} {f.seconds:8.2f} "
            f"{count / f.seconds:7.0f} {ms[0]:7.0f} {ms[1]:7.0f} {ms[2]:7.0f} "
            f"{1000 * f.latencies[-1]:7.0f} {f.committed:8d} {f.aborted:7d} {f.conflicts:9d} "
            f"{'YES' if f.oversold else 'no':>8}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--approvals", type=int, default=200)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--slots", type=int, nargs="*", default=None)
    parser.add_argument("--stock", type=float, default=1.0)
    arguments = parser.parse_args()
    slots: list[int | None] = list(arguments.slots) if arguments.slots else [None]
    if not STOCK_SLOTS_SUPPORTED:
        slots = [None]
    asyncio.run(main(arguments.approvals, arguments.replicas, slots, arguments.stock))
