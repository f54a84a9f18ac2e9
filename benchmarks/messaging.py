"""Throughput of the messaging kernel against the raw aio-pika baseline, in one run.

    .venv/bin/python -m benchmarks.messaging [--events 2000]

Four figures, each on a fresh namespace of the same RabbitMQ and MongoDB:
- raw publish: aio-pika, persistent, publisher confirms, one message at a time;
- outbox relay: events committed to the outbox, published and marked sent;
- raw consume: aio-pika consumer on a quorum queue, ack per message, same prefetch;
- kernel consume: `EventConsumers` with a handler that writes one document —
  parse, validate, inbox + effect in one MongoDB transaction, ack after commit.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from benchmarks.measure import (
    RESULTS_DIR,
    production_logging,
    publish_pipelined,
    ratio,
    table,
    timed,
    wait_until,
    write_results,
)
from shared.contracts import ReceivedEvent, new_envelope
from shared.contracts.events import WorkStartedV2
from shared.runtime import ServiceRuntime, build_runtime
from shared.storage import outbox
from shared.storage.unit_of_work import UnitOfWork
from tests.support.events import work_started
from tests.support.infrastructure import Infrastructure, infrastructure
from tests.support.namespace import new_namespace, remove_namespace, settings_for
from tests.support.runtime import publish_many

PREFETCH = 16
RAW_PUBLISH = "raw publish, one confirm at a time"
RAW_PUBLISH_PIPELINED = "raw publish, confirms pipelined"
RELAY = "outbox relay (committed → confirmed → marked sent)"
RAW_CONSUME = "raw consume, ack"
RAW_CONSUME_TXN = "raw consume, same txn (inbox + effect), ack"
KERNEL_CONSUME = "kernel consume (validate, inbox + effect txn, ack)"


def bodies(count: int) -> list[tuple[str, bytes, str | None]]:
    envelopes = [
        new_envelope(work_started(), producer="proposals", correlation_id=f"bench-{i}")
        for i in range(count)
    ]
    return [(e.type, e.model_dump_json().encode(), str(e.event_id)) for e in envelopes]


async def raw_publish(infra: Infrastructure, count: int, pipelined: bool = False) -> float:
    connection = await aio_pika.connect(infra.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(
            f"{new_namespace()}.bench", durable=True, arguments={"x-queue-type": "quorum"}
        )
        messages = bodies(count)

        def send(body: bytes, message_id: str | None) -> Awaitable[object]:
            return channel.default_exchange.publish(
                aio_pika.Message(
                    body, message_id=message_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT
                ),
                routing_key=queue.name,
            )

        async def publish() -> None:
            if pipelined:  # every confirm awaited together, as the relay does per batch
                await asyncio.gather(*(send(body, mid) for _, body, mid in messages))
                return
            for _, body, message_id in messages:
                await send(body, message_id)

        elapsed = await timed(publish)
        await queue.delete(if_unused=False, if_empty=False)
    return elapsed


async def relay_publish(infra: Infrastructure, count: int) -> float:
    namespace = new_namespace()
    settings = settings_for("proposals", namespace, infra.amqp_url, infra.mongodb_url)
    runtime = build_runtime(settings, "proposals", [])
    sink = build_runtime(
        settings_for("materials", namespace, infra.amqp_url, infra.mongodb_url), "materials", []
    )

    async def ignore(event: ReceivedEvent[WorkStartedV2], uow: UnitOfWork) -> None:
        return None

    sink.consumers.on(WorkStartedV2, ignore)  # a queue to take the events
    await sink.start()
    await sink.broker.stop()  # keep the queue, stop consuming: only publishing is timed
    envelopes = [
        new_envelope(work_started(), producer="proposals", correlation_id=f"relay-{i}")
        for i in range(count)
    ]
    try:
        # the service up (connection, declarations) with its relay paused: only the
        # relay's work on a full outbox is timed, not the start of a process
        await runtime.start()
        await runtime.relay.stop()
        async with runtime.mongo_client.start_session() as session:
            for start in range(0, len(envelopes), 1000):
                await outbox.add_all(runtime.db, session, envelopes[start : start + 1000])

        async def drain() -> None:
            runtime.relay.start()
            await wait_until(lambda: _no_pending(runtime))

        return await timed(drain)
    finally:
        await runtime.stop()
        await sink.stop()
        await remove_namespace(namespace, infra.amqp_url, infra.mongodb_url)


async def _no_pending(runtime: ServiceRuntime) -> bool:
    return await outbox.count_pending(runtime.db) == 0


@dataclass(frozen=True)
class Mix:
    """MongoDB operations per event in the raw consumer's transaction: the inbox row is
    one of the inserts; updates upsert documents of their own (no write conflicts);
    queries read one by _id. The default is the generic kernel benchmark's work."""

    inserts: int = 2
    updates: int = 0
    queries: int = 0

    async def apply(self, db: Any, session: AsyncClientSession, key: str) -> None:
        await db["inbox"].insert_one({"_id": key}, session=session)
        for i in range(1, self.inserts):
            await db["effects"].insert_one({"event": key, "n": i}, session=session)
        for i in range(self.updates):
            await db["effects"].update_one(
                {"_id": f"{key}-u{i}"}, {"$inc": {"n": 1}}, upsert=True, session=session
            )
        for _ in range(self.queries):
            await db["inbox"].find_one({"_id": key}, session=session)


async def raw_consume(
    infra: Infrastructure,
    count: int,
    with_transaction: bool = False,
    mix: Mix = Mix(),
    messages: list[tuple[str, bytes, str | None]] | None = None,
) -> float:
    """aio-pika on a quorum queue at the kernel's prefetch, ack after the work; with a
    transaction, `mix` in it (snapshot, majority, as the unit of work)."""
    connection = await aio_pika.connect(infra.amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=PREFETCH)
        queue = await channel.declare_queue(
            f"{new_namespace()}.bench", durable=True, arguments={"x-queue-type": "quorum"}
        )
        sent = messages if messages is not None else bodies(count)
        await publish_pipelined(
            infra.amqp_url, "", [(queue.name, body, mid or "") for _, body, mid in sent]
        )
        seen = 0
        done = asyncio.Event()
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(infra.mongodb_url)
        db = client[f"{new_namespace()}_bench"]
        await db.create_collection("inbox")
        await db.create_collection("effects")

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal seen
            if with_transaction:  # the database work the kernel does, nothing else
                key = message.message_id or str(uuid.uuid4())

                async def work(session: AsyncClientSession) -> None:
                    await mix.apply(db, session, key)

                async with client.start_session() as session:
                    await session.with_transaction(
                        work,
                        read_concern=ReadConcern("snapshot"),
                        write_concern=WriteConcern("majority"),
                    )
            await message.ack()
            seen += 1
            if seen == len(sent):
                done.set()

        tags: list[str] = []

        async def consume() -> None:
            tags.append(await queue.consume(on_message))
            await done.wait()

        elapsed = await timed(consume)
        await queue.cancel(tags[0])  # before the queue goes: no "cancelled by the broker"
        await queue.delete(if_unused=False, if_empty=False)
        await client.drop_database(db.name)
        await client.close()
    return elapsed


async def kernel_consume(infra: Infrastructure, count: int) -> float:
    namespace = new_namespace()
    settings = settings_for(
        "materials", namespace, infra.amqp_url, infra.mongodb_url, prefetch_count=PREFETCH
    )
    runtime = build_runtime(settings, "materials", [])

    async def record(event: ReceivedEvent[WorkStartedV2], uow: UnitOfWork) -> None:
        await uow.db["effects"].insert_one(
            {"event": str(event.envelope.event_id)}, session=uow.session
        )

    runtime.consumers.on(WorkStartedV2, record)
    await runtime.start()
    await runtime.broker.stop()  # declare, then fill the queue before consuming
    await publish_many(infra, namespace, bodies(count))
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(infra.mongodb_url)
    effects = client[settings.database_name]["effects"]
    runtime = build_runtime(settings, "materials", [])
    runtime.consumers.on(WorkStartedV2, record)
    try:
        # timed from the first effect: the start of the process (connection,
        # declarations) is not the consumer's work
        await runtime.start()
        await wait_until(lambda: _count_is(effects, 1))
        started, first = time.perf_counter(), await effects.count_documents({})
        await wait_until(lambda: _count_is(effects, count))
        return (time.perf_counter() - started) * count / max(count - first, 1)
    finally:
        await runtime.stop()
        await client.close()
        await remove_namespace(namespace, infra.amqp_url, infra.mongodb_url)


async def _count_is(collection: object, count: int) -> bool:
    return bool(await collection.count_documents({}) >= count)  # type: ignore[attr-defined]


async def run(infra: Infrastructure, count: int) -> dict[str, Any]:
    """The six figures (seconds and events/s) and the two ratios."""
    with production_logging("bench", RESULTS_DIR / "logs" / "messaging.log"):
        seconds = {
            RAW_PUBLISH: await raw_publish(infra, count),
            RAW_PUBLISH_PIPELINED: await raw_publish(infra, count, pipelined=True),
            RELAY: await relay_publish(infra, count),
            RAW_CONSUME: await raw_consume(infra, count),
            RAW_CONSUME_TXN: await raw_consume(infra, count, with_transaction=True),
            KERNEL_CONSUME: await kernel_consume(infra, count),
        }
    rates = {name: round(count / s, 1) for name, s in seconds.items()}
    return {
        "events": count,
        "prefetch": PREFETCH,
        "seconds": {name: round(s, 2) for name, s in seconds.items()},
        "events_per_second": rates,
        "relay_vs_raw_pipelined": ratio(rates[RELAY], rates[RAW_PUBLISH_PIPELINED]),
        "kernel_consumer_vs_raw_same_txn": ratio(rates[KERNEL_CONSUME], rates[RAW_CONSUME_TXN]),
    }


def report(result: dict[str, Any]) -> str:
    rates, seconds = result["events_per_second"], result["seconds"]
    baseline = {RELAY: RAW_PUBLISH_PIPELINED, KERNEL_CONSUME: RAW_CONSUME_TXN}
    rows = [
        [
            name,
            seconds[name],
            rates[name],
            ratio(rates[name], rates[baseline[name]]) if name in baseline else None,
        ]
        for name in rates
    ]
    return table(
        f"messaging kernel, {result['events']} events, prefetch {result['prefetch']}",
        ["path", "seconds", "events/s", "x raw"],
        rows,
    )


async def main(count: int, path: Path | None) -> None:
    with infrastructure() as infra:
        result = await run(infra, count)
    print(report(result))
    print(f"\nJSON: {write_results({'messaging': result}, path)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--json", type=Path)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.events, arguments.json))
