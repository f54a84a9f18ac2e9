"""Notifications under a burst of job steps: write conflicts and how fast people hear.

    .venv/bin/python -m benchmarks.notifications [--proposals 50] [--rate 0]

One notifications process (default settings, as production runs it) on a throwaway
MongoDB (unless MONGODB_URL is set) and the local RabbitMQ, a real SMTP server, and
the directory a city has: the RT head (e-mail at once), a warehouse officer (e-mail
at once), officers on daily digests. The journey of `--proposals` jobs (12 steps
each) is published to the exchange as the proposals and materials services publish
it: all at once (`--rate 0`, a burst), or at `--rate` events a second, each job's
steps one after the other. Printed:
- MongoDB transactions committed and aborted meanwhile (serverStatus), and the
  write conflicts the server counted;
- publish → the RT head's in-app feed entry committed (a change stream's wallTime),
  and publish → his e-mail accepted by the SMTP server (p50, p95, p99, max), for all
  steps and for the job's hand-over (`work.validated`, his "completion").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import httpx
from pymongo import AsyncMongoClient

from benchmarks.measure import ms, percentiles, server_transactions
from services.notifications.domain.deliveries import delivery_id, event_key
from services.notifications.domain.recipients import actor_of
from shared.contracts import Envelope
from shared.contracts.events import ProposalEvent
from shared.messaging.topology import Topology
from shared.settings import database_name
from tests.support.infrastructure import Infrastructure, infrastructure
from tests.support.namespace import new_namespace, remove_namespace
from tests.support.notifications import JOURNEY, RT_HEAD_ENTRY, SmtpSink, journey_event, smtp_sink
from tests.support.people import (
    CITY_OFFICER,
    KECAMATAN_OFFICER,
    KELURAHAN_OFFICER,
    RT_HEAD,
    SUPERVISOR,
    WAREHOUSE_OFFICER,
    auth,
)
from tests.support.processes import start_service, wait_ready
from tests.unit.shared.samples import sample_events

COMPLETION = "work.validated"
# the payloads `journey_event` sends, but for the proposal id
SAMPLES = {t: e for t, e in sample_events().items() if isinstance(e, ProposalEvent)}
STAFF = {
    KELURAHAN_OFFICER: "ani@kelurahan.id",
    KECAMATAN_OFFICER: "joko@kecamatan.id",
    CITY_OFFICER: "sari@kota.id",
    WAREHOUSE_OFFICER: "dedi@gudang.id",
    SUPERVISOR: "eko@pengawas.id",
}


@dataclass
class Figures:
    events: int
    seconds: float
    committed: int
    aborted: int
    write_conflicts: int
    feed: dict[str, list[float]]  # event type → publish → feed entry, seconds
    email: dict[str, list[float]]  # event type → publish → e-mail accepted, seconds


async def set_up_directory(api: httpx.AsyncClient) -> None:
    as_city = auth(CITY_OFFICER)
    answer = await api.put(f"/people/{RT_HEAD.id}", json=RT_HEAD_ENTRY, headers=as_city)
    answer.raise_for_status()
    for actor, email in STAFF.items():
        entry = {
            "role": actor.role.value,
            "kecamatan": actor.kecamatan,
            "kelurahan": actor.kelurahan,
            "email": email,
        }
        (await api.put(f"/people/{actor.id}", json=entry, headers=as_city)).raise_for_status()


def journeys(proposals: int) -> list[Envelope]:
    """Each job's steps in order, job after job."""
    return [journey_event(t, uuid.uuid4()) for _ in range(proposals) for t in JOURNEY]


async def publish(
    infra: Infrastructure, namespace: str, events: Sequence[Envelope], rate: float
) -> dict[uuid.UUID, float]:
    """Publish (confirmed), pipelined for a burst or paced at `rate`; when each went."""
    sent: dict[uuid.UUID, float] = {}
    connection = await aio_pika.connect(infra.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(Topology(namespace).events_exchange.name)

        async def one(event: Envelope) -> None:
            message = aio_pika.Message(
                event.model_dump_json().encode(),
                message_id=str(event.event_id),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            sent[event.event_id] = time.time()
            await exchange.publish(message, routing_key=event.type, mandatory=True)

        if rate <= 0:
            await asyncio.gather(*(one(event) for event in events))
            return sent
        started = time.monotonic()
        for index, event in enumerate(events):
            await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
            await one(event)
    return sent


@contextlib.asynccontextmanager
async def feed_watch(
    client: AsyncMongoClient[dict[str, Any]], namespace: str
) -> AsyncIterator[dict[str, float]]:
    """event id → when the RT head's feed entry about it committed (server wall clock)."""
    seen: dict[str, float] = {}
    feed = client[database_name(namespace, "notifications")]["feed"]
    pipeline = [{"$match": {"operationType": "insert", "fullDocument.recipient_id": RT_HEAD.id}}]
    stream = await feed.watch(pipeline)

    async def follow() -> None:
        async for change in stream:
            seen[str(change["fullDocument"]["event_id"])] = change["wallTime"].timestamp()

    task = asyncio.create_task(follow())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await stream.close()


def email_times(smtp: SmtpSink) -> dict[str, float]:
    """delivery id → when the SMTP server accepted it (the first copy)."""
    found: dict[str, float] = {}
    for message, at in zip(smtp.messages, smtp.arrived_at, strict=False):
        found.setdefault(str(message["X-Berdaya-Delivery-Id"]), at)
    return found


async def run_once(
    infra: Infrastructure,
    namespace: str,
    client: AsyncMongoClient[dict[str, Any]],
    smtp: SmtpSink,
    proposals: int,
    rate: float,
) -> Figures:
    events = journeys(proposals)
    # the RT head is e-mailed about every step he did not take himself
    emailed = {
        e.event_id: str(delivery_id(event_key(e.event_id, RT_HEAD.id, "email")))
        for e in events
        if actor_of(SAMPLES[e.type]) != RT_HEAD.id
    }
    before = await server_transactions(client)
    started = time.monotonic()
    async with feed_watch(client, namespace) as feed:
        sent = await publish(infra, namespace, events, rate)
        deadline = time.monotonic() + 120 + len(events) / 5
        while len(feed) < len(events) or not set(emailed.values()) <= set(email_times(smtp)):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{len(feed)}/{len(events)} feed entries, "
                    f"{len(email_times(smtp))}/{len(emailed)} e-mails"
                )
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - started
        after = await server_transactions(client)
        mails = email_times(smtp)
        figures = Figures(
            len(events),
            elapsed,
            after["committed"] - before["committed"],
            after["aborted"] - before["aborted"],
            after["write_conflicts"] - before["write_conflicts"],
            {},
            {},
        )
        for event in events:
            figures.feed.setdefault(event.type, []).append(
                feed[str(event.event_id)] - sent[event.event_id]
            )
            if event.event_id in emailed:
                figures.email.setdefault(event.type, []).append(
                    mails[emailed[event.event_id]] - sent[event.event_id]
                )
    return figures


def in_ms(values: list[float]) -> str:
    if not values:
        return "-"
    found = percentiles(values)
    cells = "  ".join(f"{k} {ms(found[k]):>7}" for k in ("p50", "p95", "p99", "max"))
    return f"{cells}  (ms, n={found['n']})"


def report(name: str, figures: Figures) -> None:
    ratio = figures.aborted / figures.committed if figures.committed else float("nan")
    print(f"\n== {name}: {figures.events} events, all handled in {figures.seconds:.1f} s")
    print(
        f"MongoDB transactions: {figures.committed} committed, {figures.aborted} aborted "
        f"({ratio:.2f} aborted per committed); write conflicts {figures.write_conflicts}"
    )
    every_feed = [v for values in figures.feed.values() for v in values]
    every_email = [v for values in figures.email.values() for v in values]
    print(f"RT head feed entry, every step:     {in_ms(every_feed)}")
    print(f"RT head feed entry, {COMPLETION}:  {in_ms(figures.feed[COMPLETION])}")
    print(f"RT head e-mail, every step:         {in_ms(every_email)}")
    print(f"RT head e-mail, {COMPLETION}:      {in_ms(figures.email[COMPLETION])}")


async def main(proposals: int, rate: float, replicas: int) -> None:
    namespace = new_namespace()
    with infrastructure() as infra, smtp_sink() as smtp, tempfile.TemporaryDirectory() as logs:
        services = [
            start_service(
                "notifications",
                infra,
                namespace,
                Path(logs),
                BERDAYA_SMTP_HOST="127.0.0.1",
                BERDAYA_SMTP_PORT=str(smtp.port),
                BERDAYA_LOG_LEVEL="WARNING",
            )
            for _ in range(replicas)
        ]
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            infra.mongodb_url, tz_aware=True, uuidRepresentation="standard"
        )
        try:
            for service in services:
                await asyncio.to_thread(wait_ready, service)
            async with httpx.AsyncClient(base_url=services[0].url, timeout=10) as api:
                await set_up_directory(api)
            await run_once(infra, namespace, client, smtp, 2, 0)  # warm up
            figures = await run_once(infra, namespace, client, smtp, proposals, rate)
        finally:
            for service in services:
                service.stop()
            await client.close()
            await remove_namespace(namespace, infra.amqp_url, infra.mongodb_url)
    mode = "burst (all published at once)" if rate <= 0 else f"paced at {rate:g} events/s"
    print(
        f"\nnotifications x{replicas}, {proposals} jobs x {len(JOURNEY)} steps, {mode} "
        f"({infra.source})"
    )
    report(mode, figures)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--proposals", type=int, default=50)
    parser.add_argument("--rate", type=float, default=0.0, help="events/s; 0: a burst")
    parser.add_argument("--replicas", type=int, default=1, help="notifications processes")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.proposals, arguments.rate, arguments.replicas))
