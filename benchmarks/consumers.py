"""Each service's real consumer against a pre-filled queue, beside the raw ceiling.

    .venv/bin/python -m benchmarks.consumers [--events 1000] [--services materials ...]
        [--scaling 1 2 4] [--backlog 50000] [--backlog-service proposals] [--json out]

For each service, on a fresh namespace: the service is started once as a process
(production settings, benchmarks/measure.py) to declare its queues and to be given what
its events need (not timed): materials the stock for every job; notifications an RT head
registered for the in-app feed; proposals `--events` approved proposals (one approved
over HTTP, the others copies of its document). It is stopped, `--events` events are put
in its queue, and it is started again (`--scaling` runs start 2 and 4 processes, competing
on the same queues). Measured: events handled (the inbox, polled every 0.1 s) per second
from 10 % to 100 % of the queue, the MongoDB transactions committed and aborted, the
operations per event (serverStatus opcounters), the largest RSS of each process.
- materials: `proposal.approved` → bill of materials, reservation, `material.reserved`;
- notifications: a road job's 12 steps per proposal → the in-app feed (and the rest of
  what the service does with them);
- proposals: `material.fulfilled` → the proposal moves to materials_fulfilled.

The ceiling beside each, in the same run: raw aio-pika at the same prefetch, with the
same number of MongoDB inserts, updates and queries per event in one transaction
(benchmarks/messaging.py `raw_consume`), on the same message bodies. That number comes
from the opcounters of a short run of the service with prefetch 1 (50 events, one at a
time: no transaction aborts, so the operations of one successful transaction, the
relay's share included). Its updates touch documents of their own: no write conflicts.

The backlog: `--backlog` events for `--backlog-service` (one process; proposals by
default, the fastest consumer, so that 50,000 drain within minutes), the rate and the RSS
at every 10 % of the queue.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from benchmarks import measure
from benchmarks.messaging import Mix, raw_consume
from benchmarks.notifications import journeys
from shared.contracts import Envelope, new_envelope
from shared.messaging.topology import Topology
from shared.settings import database_name
from shared.storage import inbox
from tests.support.events import proposal_approved
from tests.support.infrastructure import Infrastructure, infrastructure
from tests.support.namespace import new_namespace, remove_namespace
from tests.support.notifications import journey_event
from tests.support.people import CITY_OFFICER, RT_HEAD, WAREHOUSE_OFFICER, ProposalDriver, auth
from tests.support.processes import ServiceProcess

STALLED_SECONDS = 60
CALIBRATION = 50  # events handled one at a time to count one transaction's operations
STOCK = {"cement": 493.0, "sand": 41.1, "gravel": 43.3}
Prepare = Callable[[httpx.AsyncClient, measure.Mongo, str, int], Awaitable[list[Envelope]]]


async def for_materials(
    api: httpx.AsyncClient, mongo: measure.Mongo, namespace: str, count: int
) -> list[Envelope]:
    lines = [{"item": i, "quantity": round(q * count, 1)} for i, q in STOCK.items()]
    receipt = {"warehouse": "Gudang Kota Jambi", "supplier": "CV Bangun Jaya", "lines": lines}
    answer = await api.post("/stock/receipts", json=receipt, headers=auth(WAREHOUSE_OFFICER))
    answer.raise_for_status()
    return [
        new_envelope(proposal_approved(), producer="proposals", correlation_id=f"bench-{i}")
        for i in range(count)
    ]


async def for_notifications(
    api: httpx.AsyncClient, mongo: measure.Mongo, namespace: str, count: int
) -> list[Envelope]:
    person = {
        "role": "rt_head",
        "kecamatan": RT_HEAD.kecamatan,
        "kelurahan": RT_HEAD.kelurahan,
        "rt": RT_HEAD.rt,
        "preferences": {"channels": ["in_app"], "frequency": "immediately"},
    }
    answer = await api.put(f"/people/{RT_HEAD.id}", json=person, headers=auth(CITY_OFFICER))
    answer.raise_for_status()
    return journeys(-(-count // 12))[:count]


async def for_proposals(
    api: httpx.AsyncClient, mongo: measure.Mongo, namespace: str, count: int
) -> list[Envelope]:
    """`count` approved proposals: one through the API, the others copies of it."""
    driver = ProposalDriver(api)
    await driver.set_ceiling(str(RT_HEAD.kecamatan), 2026, 10**13)
    original = uuid.UUID(await driver.approved())
    proposals = mongo[database_name(namespace, "proposals")]["proposals"]
    document = await proposals.find_one({"_id": str(original)})
    assert document is not None
    ids = [uuid.uuid4() for i in range(count)]
    for start in range(0, count, 1000):
        await proposals.insert_many(
            [measure.copied(document, original, new) for new in ids[start : start + 1000]]
        )
    return [journey_event("material.fulfilled", pid) for pid in ids]


CASES: dict[str, tuple[str, Prepare]] = {
    "materials": ("proposal.approved → bill, reservation", for_materials),
    "notifications": ("journey steps → in-app feed", for_notifications),
    "proposals": ("material.fulfilled → state", for_proposals),
}


@dataclass
class Drain:
    service: str
    processes: int
    events: int
    seconds: float
    rate: float
    # at each 10 %: seconds since 10 %, rate of that tenth, RSS
    deciles: list[dict[str, float | None]]
    transactions: dict[str, int]
    peak_rss_mb: dict[str, float]
    profile: dict[str, Any]
    handled_all: bool  # False: nothing moved for STALLED_SECONDS before the end

    def per_event(self) -> Mix:
        def each(kind: str) -> int:
            return round(self.transactions[kind] / self.events)

        return Mix(inserts=max(1, each("insert")), updates=each("update"), queries=each("query"))


async def drain(
    infra: Infrastructure,
    service: str,
    count: int,
    processes: int = 1,
    profile: bool = False,
    **env: str,
) -> tuple[Drain, list[Envelope]]:
    namespace = new_namespace()
    logs = measure.RESULTS_DIR / "logs" / namespace
    logs.mkdir(parents=True, exist_ok=True)
    mongo: measure.Mongo = AsyncMongoClient(
        infra.mongodb_url, uuidRepresentation="standard", tz_aware=True
    )
    running: list[ServiceProcess] = []
    try:
        async with measure.sink_queue(infra.amqp_url, namespace):
            first = measure.start_production(service, infra, namespace, logs)
            running.append(first)
            await measure.ready(first)
            async with httpx.AsyncClient(base_url=first.url, timeout=60) as api:
                events = await CASES[service][1](api, mongo, namespace, count)
            await measure.stopped(first)
            running.clear()
            messages = [(e.type, e.model_dump_json().encode(), str(e.event_id)) for e in events]
            exchange = Topology(namespace).events_exchange.name
            await measure.publish_pipelined(infra.amqp_url, exchange, messages)
            handled = mongo[database_name(namespace, service)][inbox.COLLECTION]
            base = await handled.estimated_document_count()
            before = await measure.server_transactions(mongo)
            running += [
                measure.start_production(service, infra, namespace, logs, **env)
                for _ in range(processes)
            ]
            watch = measure.RssWatch(
                {f"{service}-{i}": p.process.pid for i, p in enumerate(running)}
            )
            spied = {f"{service}-0": running[0].process.pid}
            async with (
                watch.running(),
                measure.profiling(spied, logs / "profiles" if profile else None) as profiles,
            ):
                marks = await _deciles(handled, base, len(events), watch)
            after = await measure.server_transactions(mongo)
    finally:
        await measure.stopped(*running)
        await mongo.close()
        await remove_namespace(namespace, infra.amqp_url, infra.mongodb_url)
    (t10, n10, _), (t100, n100, _) = marks[0], marks[-1]
    handled_all = n100 >= len(events)
    deciles = []
    for i, (at, n, rss) in enumerate(marks):
        previous = marks[i - 1] if i else (at, n, rss)
        span = at - previous[0]
        deciles.append(
            {
                "percent": round(100 * n / len(events)),
                "seconds": round(at - t10, 2),
                "rate": round((n - previous[1]) / span, 1) if span > 0 else None,
                "rss_mb": round(rss, 1),
            }
        )
    figures = Drain(
        service=service,
        processes=processes,
        events=len(events),
        seconds=round(t100 - t10, 2),
        rate=round((n100 - n10) / (t100 - t10), 1) if t100 > t10 else 0.0,
        deciles=deciles,
        transactions=measure.difference(after, before),
        peak_rss_mb={k: round(v, 1) for k, v in watch.peak.items()},
        profile=profiles,
        handled_all=handled_all,
    )
    return figures, events


async def _deciles(
    handled: Any, base: int, count: int, watch: measure.RssWatch
) -> list[tuple[float, int, float]]:
    """(when, how many handled, the processes' RSS in MB) as each tenth of the queue
    is passed."""
    marks: list[tuple[float, int, float]] = []

    def rss() -> float:
        return sum(measure.rss_mb(pid) for pid in watch.processes.values())

    last_change, last = time.monotonic(), -1
    while len(marks) < 10:
        done = await handled.estimated_document_count() - base
        now = time.monotonic()
        while len(marks) < 10 and done >= count * (len(marks) + 1) / 10:
            marks.append((now, done, rss()))
        if done != last:
            last_change, last = now, done
        elif now - last_change > STALLED_SECONDS:
            marks.append((now, done, rss()))  # stalled: what was done, as the last mark
            break
        await asyncio.sleep(0.1)
    return marks


async def run(
    infra: Infrastructure,
    count: int,
    services: list[str],
    scaling: list[int],
    backlog: int,
    backlog_service: str,
    profile: bool = False,
) -> dict[str, Any]:
    result: dict[str, Any] = {"events": count, "services": {}, "scaling": {}, "backlog": None}
    for service in services:
        print(f"  {service} consumer, {count} events", flush=True)
        # what one transaction does, from a run where none conflicts (one at a time)
        calibration, _ = await drain(infra, service, CALIBRATION, BERDAYA_PREFETCH_COUNT="1")
        mix = calibration.per_event()
        figures, events = await drain(infra, service, count, profile=profile)
        bodies = [(e.type, e.model_dump_json().encode(), str(e.event_id)) for e in events]
        raw_seconds = await raw_consume(
            infra, len(bodies), with_transaction=True, mix=mix, messages=list(bodies)
        )
        raw_rate = round(len(bodies) / raw_seconds, 1)
        print(f"    {figures.rate}/s against {raw_rate}/s raw", flush=True)
        result["services"][service] = {
            "what": CASES[service][0],
            **vars(figures),
            "raw_mix_per_event": vars(mix),
            "raw_rate": raw_rate,
            "ratio": measure.ratio(figures.rate, raw_rate),
        }
        if service == services[0]:
            for processes in scaling:
                if processes == 1:
                    result["scaling"]["1"] = {
                        "rate": figures.rate,
                        "peak_rss_mb": figures.peak_rss_mb,
                    }
                    continue
                print(f"  {service} consumer, {processes} processes", flush=True)
                scaled, _ = await drain(infra, service, count, processes)
                result["scaling"][str(processes)] = {
                    "rate": scaled.rate,
                    "peak_rss_mb": scaled.peak_rss_mb,
                    "transactions": scaled.transactions,
                }
            result["scaling_service"] = service
            result["scaling_raw_rate_one_process"] = raw_rate
    if backlog:
        print(f"  backlog of {backlog} for {backlog_service}", flush=True)
        figures, _ = await drain(infra, backlog_service, backlog)
        result["backlog"] = vars(figures)
    return result


def report(result: dict[str, Any]) -> str:
    rows = []
    for service, f in result["services"].items():
        txn = f["transactions"]
        mix = f["raw_mix_per_event"]
        rows.append(
            [
                f"{service}: {f['what']}",
                f["events"],
                f["rate"],
                f["raw_rate"],
                f["ratio"],
                f"{txn['aborted']}/{txn['committed']}",
                f"{mix['inserts']}/{mix['updates']}/{mix['queries']}",
                max(f["peak_rss_mb"].values()),
                "yes" if f["handled_all"] else "STALLED",
            ]
        )
    text = measure.table(
        "service consumers against a pre-filled queue (one process each)",
        [
            "consumer",
            "events",
            "events/s",
            "raw same ops/s",
            "x raw",
            "aborted/committed",
            "ins/upd/qry per event",
            "peak RSS MB",
            "all handled",
        ],
        rows,
    )
    if result["scaling"]:
        raw = result["scaling_raw_rate_one_process"]
        text += measure.table(
            f"competing consumers: {result['scaling_service']} processes on the same queues",
            ["processes", "events/s", "x raw (one process)", "x one process", "peak RSS MB each"],
            [
                [
                    k,
                    s["rate"],
                    measure.ratio(s["rate"], raw),
                    measure.ratio(s["rate"], result["scaling"]["1"]["rate"]),
                    max(s["peak_rss_mb"].values()),
                ]
                for k, s in result["scaling"].items()
            ],
        )
    if result["backlog"]:
        b = result["backlog"]
        text += measure.table(
            f"backlog: {b['events']} events for {b['service']}, one process; "
            f"{b['rate']} events/s overall",
            ["queue handled", "seconds since 10 %", "events/s in this tenth", "RSS MB"],
            [[f"{d['percent']} %", d["seconds"], d["rate"], d["rss_mb"]] for d in b["deciles"]],
        )
    return text


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--services", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--scaling", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--backlog", type=int, default=0, help="events; 0: no backlog run")
    parser.add_argument("--backlog-service", default="proposals", choices=list(CASES))
    parser.add_argument("--profile", action="store_true", help="py-spy on each consumer")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with infrastructure() as infra:
        result = await run(
            infra,
            args.events,
            args.services,
            args.scaling,
            args.backlog,
            args.backlog_service,
            args.profile,
        )
    print(report(result))
    print(f"\nJSON: {measure.write_results({'consumers': result}, args.json)}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
