"""End to end: approvals over HTTP at fixed rates, as a user feels them, beside the floor.

    .venv/bin/python -m benchmarks.end_to_end [--rates 10 50 100] [--seconds 5]
        [--search-steps 3] [--p99-limit 1.0] [--json out.json]

What runs: a throwaway mongod from the wheel (single-node replica set), the local
RabbitMQ (a namespace of its own), the three services as processes with the production
settings (benchmarks/measure.py PRODUCTION_ENV: INFO logs as JSON into .run/bench/logs,
the shipped relay poll; only the rate limits off, since one driver is every user), and
the floor (benchmarks/baselines.py: bare Starlette + PyMongo + aio-pika processes).

Every proposal is in one kecamatan (Telanaipura), spread over its 180 RTs, each with its
RT head (registered for the in-app feed only: no e-mail server to measure). One proposal
per RT is submitted, verified and endorsed over HTTP; for each rate R, `R x seconds`
copies of them (new ids, in the proposals database) are the endorsed proposals the run
approves (not timed), then:
- approvals: POST /proposals/{id}/approve started every 1/R s (an open loop: a slow
  answer does not slow the arrivals); latency = the request sent → `material.reserved`
  about that proposal received by an outside aio-pika consumer bound to the events
  exchange (the driver's clock for both);
- completions: the same proposals taken through shipment, receipt, `material.fulfilled`,
  start and 100 % progress (not timed), then POST .../work/complete at R per second;
  latency = sent → the RT head's in-app feed item committed, seen by a MongoDB change
  stream on the notifications database's feed. A change stream rather than polling the
  feed API: it sees the commit when it happens and puts no load on the service under
  test (polling at 10 Hz for 1,000 proposals would be most of its HTTP work);
- floor: the same arrivals at the floor's POST /approve/{id}; sent → its
  `material.reserved` received.

Sustained: a rate is sustained when every call answered 2xx, every approval's
`material.reserved` arrived, the driver started the calls at >= 95 % of the rate, and
p99 approve → reserved <= `--p99-limit` (1 s): beyond it the backlog grows faster than
it drains. The highest sustained rate is searched above the fixed rates (x1.5 steps, or
bisecting down when 100/s fails), `--search-steps` probes at most, approvals only.
Before each timed run the driver waits until MongoDB has seen no transaction for 2 s
(what the last run left the services is done). Peak RSS of each service process is
sampled every 0.5 s during the 50/s runs (preparation included); `--profile` runs py-spy
on each service meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import httpx
from pymongo import AsyncMongoClient

from benchmarks import measure
from benchmarks.baselines import RESERVED, database, floor_exchange
from benchmarks.chaos import EventLog, watch_feed
from shared.identity import Actor, Role
from shared.reference.areas import area_register
from shared.settings import ServiceSettings, database_name
from shared.web.auth import mint_token
from tests.support.infrastructure import Infrastructure, infrastructure
from tests.support.namespace import SERVICES, new_namespace, remove_namespace
from tests.support.people import (
    CITY_OFFICER,
    KECAMATAN,
    KECAMATAN_OFFICER,
    WAREHOUSE_OFFICER,
    road_proposal,
)
from tests.support.processes import ServiceProcess

WAREHOUSE = "Gudang Kota Jambi"
STOCK = {"cement": 493.0, "sand": 41.1, "gravel": 43.3}  # one road's bill, +5 % waste
BUDGET_IDR, YEAR = 150_000_000, 2026
PREPARE_CONCURRENCY = 16
# a request whose connection dropped is sent again this many times in all
CALL_ATTEMPTS = 3
HOPS = (
    ("to_wire", "  request → its event on the wire"),
    ("wire_to_arrival", "  that event on the wire → outcome"),
)
RSS_RATE = 50


def rt_heads() -> list[Actor]:
    """An RT head for every RT of the kecamatan (spread: the duplicate check reads the
    RT's active proposals, which a thousand in one RT would turn into the benchmark)."""
    heads = []
    for kelurahan, count in sorted(area_register().rt_counts[KECAMATAN].items()):
        for rt in range(1, count + 1):
            heads.append(
                Actor(
                    id=f"rt-{kelurahan.lower().replace(' ', '-')}-{rt:03d}",
                    role=Role.RT_HEAD,
                    kecamatan=KECAMATAN,
                    kelurahan=kelurahan,
                    rt=f"{rt:03d}",
                )
            )
    return heads


def lurah_of(head: Actor) -> Actor:
    slug = str(head.kelurahan).lower().replace(" ", "-")
    return Actor(
        id=f"lurah-{slug}",
        role=Role.KELURAHAN_OFFICER,
        kecamatan=KECAMATAN,
        kelurahan=head.kelurahan,
    )


class Api:
    """The people's HTTP calls; each token minted once."""

    def __init__(self, client: httpx.AsyncClient, urls: dict[str, str]) -> None:
        self._client, self._urls = client, urls
        self._tokens: dict[str, str] = {}
        settings = ServiceSettings()
        self._secret, self._issuer = settings.jwt_secret.get_secret_value(), settings.jwt_issuer

    async def call(
        self, service: str, method: str, path: str, actor: Actor, body: Any = None
    ) -> Any:
        if actor.id not in self._tokens:
            self._tokens[actor.id] = mint_token(actor, self._secret, self._issuer)
        headers = {
            "Authorization": f"Bearer {self._tokens[actor.id]}",
            "Idempotency-Key": str(uuid.uuid4()),
        }
        for attempt in range(CALL_ATTEMPTS):
            try:
                response = await self._client.request(
                    method, f"{self._urls[service]}{path}", json=body, headers=headers
                )
                break
            except httpx.TransportError:
                # a connection dropped under load: the same request again, same
                # Idempotency-Key, is answered once (as any client should do)
                if attempt == CALL_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json()


@dataclass
class Proposal:
    id: str
    head: Actor


@dataclass
class Probe:
    """What arrived from outside the services: events on the wire, feed commits, the
    floor's answers (monotonic clock, as the driver's sends)."""

    events: EventLog
    feed: dict[tuple[str, str, str], float] = field(default_factory=dict)
    floor: dict[str, float] = field(default_factory=dict)


# --- preparing proposals (not timed) --------------------------------------------------------


async def endorsed(api: Api, heads: list[Actor], count: int, offset: int) -> list[Proposal]:
    async def one(index: int) -> Proposal:
        head = heads[(offset + index) % len(heads)]
        n = offset + index
        draft = road_proposal(
            title=f"Rabat beton {n}",
            area={"kecamatan": KECAMATAN, "kelurahan": head.kelurahan, "rt": head.rt},
            location={"lat": -1.55 - (n % 97) * 0.001, "lng": 103.55 + (n // 97) * 0.001},
        )
        created = await api.call("proposals", "POST", "/proposals", head, draft)
        pid = str(created["proposal"]["id"])
        await api.call("proposals", "POST", f"/proposals/{pid}/verify", lurah_of(head), {})
        await api.call("proposals", "POST", f"/proposals/{pid}/endorse", KECAMATAN_OFFICER, {})
        return Proposal(pid, head)

    return await measure.bounded(
        PREPARE_CONCURRENCY,
        [lambda i=i: one(i) for i in range(count)],  # type: ignore[misc]
    )


async def receive_stock(api: Api, jobs: int) -> None:
    lines = [{"item": item, "quantity": round(q * jobs, 1)} for item, q in STOCK.items()]
    receipt = {"warehouse": WAREHOUSE, "supplier": "CV Bangun Jaya", "lines": lines}
    await api.call("materials", "POST", "/stock/receipts", WAREHOUSE_OFFICER, receipt)


async def ready_to_complete(api: Api, probe: Probe, proposals: list[Proposal]) -> None:
    """Each approved job shipped, received, fulfilled, started and at 100 %."""

    async def one(p: Proposal) -> None:
        order = {"warehouse": WAREHOUSE, "note": "truck"}
        sent = await api.call(
            "materials", "POST", f"/jobs/{p.id}/shipments", WAREHOUSE_OFFICER, order
        )
        lines = [{"item": ln["item"], "received": ln["quantity"]} for ln in sent["lines"]]
        await api.call(
            "materials", "POST", f"/shipments/{sent['id']}/receipt", p.head, {"lines": lines}
        )
        await probe.events.wait_for(p.id, "material.fulfilled", 120)
        deadline = time.monotonic() + 60
        while (await api.call("proposals", "GET", f"/proposals/{p.id}", p.head))["proposal"][
            "state"
        ] != "materials_fulfilled":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{p.id} not materials_fulfilled")
            await asyncio.sleep(0.2)
        await api.call("proposals", "POST", f"/proposals/{p.id}/work/start", p.head, {})
        progress = {"percent": 100, "note": "poured", "volunteers": 35, "labour_days": 70}
        await api.call("proposals", "POST", f"/proposals/{p.id}/work/progress", p.head, progress)

    await measure.bounded(
        PREPARE_CONCURRENCY,
        [lambda p=p: one(p) for p in proposals],  # type: ignore[misc]
    )


# --- the timed runs -------------------------------------------------------------------------


async def at_rate(
    rate: float,
    targets: list[str],
    send: Any,
    arrived: Any,
    patience: float,
    wire: Any = None,
) -> dict[str, Any]:
    """`send(target)` at `rate`; latency = sent → `arrived(target)` (a time or None);
    with `wire(target)` (when the first service's event went over the wire), the two
    hops apart: sent → on the wire, on the wire → arrived."""
    sent: dict[str, float] = {}
    answered: list[float] = []

    async def one(index: int) -> None:
        target = targets[index]
        sent[target] = time.monotonic()
        await send(target)
        answered.append(time.monotonic() - sent[target])

    achieved, errors = await measure.paced(rate, len(targets), one)
    deadline = time.monotonic() + patience
    # the arrivals are filled in by the probe's consumers: polled, not awaited
    while any(arrived(t) is None for t in sent) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    latencies = [arrived(t) - at for t, at in sent.items() if arrived(t) is not None]
    hops: dict[str, Any] = {}
    if wire is not None:
        out = {t: wire(t) for t in sent if wire(t) is not None}
        hops["to_wire"] = measure.percentiles(out[t] - sent[t] for t in out)
        hops["wire_to_arrival"] = measure.percentiles(
            arrived(t) - out[t] for t in out if arrived(t) is not None
        )
    return {
        **hops,
        "rate": rate,
        "count": len(targets),
        "achieved_rate": round(achieved, 1),
        "errors": len(errors),
        "first_error": repr(errors[0])[:300] if errors else None,
        "missing": len(sent) - len(latencies),
        "http": measure.percentiles(answered),
        "latency": measure.percentiles(latencies),
    }


def sustained(run: dict[str, Any], p99_limit: float) -> bool:
    p99 = run["latency"]["p99"]
    return bool(
        run["errors"] == 0
        and run["missing"] == 0
        and run["achieved_rate"] >= 0.95 * run["rate"]
        and p99 is not None
        and p99 <= p99_limit
    )


@dataclass
class Bench:
    infra: Infrastructure
    namespace: str
    api: Api
    probe: Probe
    heads: list[Actor]
    floor_url: str
    client: httpx.AsyncClient
    mongo: measure.Mongo
    seconds: float
    p99_limit: float
    made: int = 0
    templates: list[Proposal] = field(default_factory=list)

    async def endorsed(self, count: int) -> list[Proposal]:
        """`count` endorsed proposals: copies of one endorsed over HTTP in each RT (the
        API would take minutes for thousands; approve reads nothing a copy lacks)."""
        if not self.templates:
            self.templates = await endorsed(self.api, self.heads, len(self.heads), 0)
        stored = self.mongo[database_name(self.namespace, "proposals")]["proposals"]
        originals = {
            str(d["_id"]): d
            async for d in stored.find({"_id": {"$in": [t.id for t in self.templates]}})
        }
        made, documents = [], []
        for index in range(count):
            template = self.templates[(self.made + index) % len(self.templates)]
            new = uuid.uuid4()
            documents.append(measure.copied(originals[template.id], uuid.UUID(template.id), new))
            made.append(Proposal(str(new), template.head))
        self.made += count
        for start in range(0, count, 1000):
            await stored.insert_many(documents[start : start + 1000])
        return made

    async def approvals(self, rate: float) -> tuple[dict[str, Any], list[Proposal]]:
        count = max(2, int(rate * self.seconds))
        proposals = await self.endorsed(count)
        await receive_stock(self.api, count)
        by_id = {p.id: p for p in proposals}
        await measure.quiet(self.mongo)
        before = await measure.server_transactions(self.mongo)
        body = {"budget_idr": BUDGET_IDR, "fiscal_year": YEAR}

        async def approve(pid: str) -> None:
            await self.api.call(
                "proposals", "POST", f"/proposals/{pid}/approve", CITY_OFFICER, body
            )

        run = await at_rate(
            rate,
            list(by_id),
            approve,
            lambda pid: self.probe.events.first_seen.get((pid, RESERVED)),
            patience=30 + self.seconds,
            wire=lambda pid: self.probe.events.first_seen.get((pid, "proposal.approved")),
        )
        run["transactions"] = measure.difference(
            await measure.server_transactions(self.mongo), before
        )
        run["sustained"] = sustained(run, self.p99_limit)
        return run, proposals

    async def completions(self, rate: float, proposals: list[Proposal]) -> dict[str, Any]:
        await self.approved_at_last(proposals)
        ready = [p for p in proposals if (p.id, RESERVED) in self.probe.events.first_seen]
        await ready_to_complete(self.api, self.probe, ready)
        heads = {p.id: p.head for p in ready}
        await measure.quiet(self.mongo)
        before = await measure.server_transactions(self.mongo)

        async def complete(pid: str) -> None:
            await self.api.call(
                "proposals", "POST", f"/proposals/{pid}/work/complete", heads[pid], {}
            )

        run = await at_rate(
            rate,
            list(heads),
            complete,
            lambda pid: self.probe.feed.get((heads[pid].id, pid, "work.completed")),
            patience=30 + self.seconds,
            wire=lambda pid: self.probe.events.first_seen.get((pid, "work.completed")),
        )
        run["transactions"] = measure.difference(
            await measure.server_transactions(self.mongo), before
        )
        return run

    async def approved_at_last(self, proposals: list[Proposal]) -> None:
        """The approvals the timed run lost (refused after their retries, or the client
        gave up), again a few at a time: the completions at this rate need them all."""
        body = {"budget_idr": BUDGET_IDR, "fiscal_year": YEAR}
        first_seen = self.probe.events.first_seen

        async def again(p: Proposal) -> None:
            if (p.id, RESERVED) in first_seen:
                return
            with contextlib.suppress(RuntimeError, httpx.HTTPError):  # approved meanwhile
                await self.api.call(
                    "proposals", "POST", f"/proposals/{p.id}/approve", CITY_OFFICER, body
                )
            with contextlib.suppress(Exception):
                await self.probe.events.wait_for(p.id, RESERVED, 60)

        await measure.quiet(self.mongo)
        await measure.bounded(4, [lambda p=p: again(p) for p in proposals])  # type: ignore[misc]

    async def floor(self, rate: float) -> dict[str, Any]:
        targets = [str(uuid.uuid4()) for _ in range(max(2, int(rate * self.seconds)))]
        body = {"budget_idr": BUDGET_IDR, "fiscal_year": YEAR}
        await measure.quiet(self.mongo)

        async def approve(pid: str) -> None:
            answer = await self.client.post(f"{self.floor_url}/approve/{pid}", json=body)
            answer.raise_for_status()

        run = await at_rate(rate, targets, approve, self.probe.floor.get, 30 + self.seconds)
        run["sustained"] = sustained(run, self.p99_limit)
        return run


async def search(bench: Bench, runs: dict[float, dict[str, Any]], steps: int) -> float | None:
    """The highest sustained approval rate: up by x1.5 from the best fixed rate that
    held, or bisecting between the last that held and the first that did not."""
    held = [r for r, run in runs.items() if run["sustained"]]
    failed = [r for r, run in runs.items() if not run["sustained"]]
    low = max(held) if held else None
    high = min((r for r in failed if low is None or r > low), default=None)
    for _ in range(steps):
        if high is None:
            probe = round((low or 10) * 1.5)
        elif low is None:
            probe = max(1, round(high / 2))
        else:
            probe = round((low + high) / 2)
            if probe in (low, high):
                break
        run, _ = await bench.approvals(probe)
        runs[probe] = run
        print(
            f"  search {probe}/s: {'sustained' if run['sustained'] else 'not sustained'} "
            f"(p99 {measure.ms(run['latency']['p99'])} ms)",
            flush=True,
        )
        if run["sustained"]:
            low = probe
        else:
            high = probe
    return low


# --- the processes and what watches them ----------------------------------------------------


@contextlib.asynccontextmanager
async def floor_watch(amqp_url: str, namespace: str, seen: dict[str, float]) -> AsyncIterator[None]:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            floor_exchange(namespace), aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, routing_key=RESERVED)

        async def keep(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            arrived = time.monotonic()
            seen.setdefault(json.loads(message.body)["data"]["proposal_id"], arrived)

        await queue.consume(keep, no_ack=True)
        yield


async def floor_collections(mongo: measure.Mongo, namespace: str) -> None:
    db = mongo[database(namespace)]
    for name in ("proposals", "outbox", "inbox", "jobs"):
        await db.create_collection(name)


async def set_up(api: Api, heads: list[Actor]) -> None:
    entry = {"preferences": {"channels": ["in_app"], "frequency": "immediately"}}

    async def register(head: Actor) -> None:
        person = {
            "role": "rt_head",
            "kecamatan": KECAMATAN,
            "kelurahan": head.kelurahan,
            "rt": head.rt,
            **entry,
        }
        await api.call("notifications", "PUT", f"/people/{head.id}", CITY_OFFICER, person)

    await measure.bounded(8, [lambda h=h: register(h) for h in heads])  # type: ignore[misc]
    ceiling = {"ceiling_idr": 10**13}
    await api.call("proposals", "PUT", f"/budgets/{KECAMATAN}/{YEAR}", CITY_OFFICER, ceiling)


@dataclass
class Options:
    rates: list[float]
    seconds: float
    search_steps: int
    p99_limit: float
    profile: bool = False


async def run(infra: Infrastructure, options: Options) -> dict[str, Any]:
    namespace = new_namespace()
    logs = measure.RESULTS_DIR / "logs" / namespace
    logs.mkdir(parents=True, exist_ok=True)
    mongo: measure.Mongo = AsyncMongoClient(
        infra.mongodb_url, uuidRepresentation="standard", tz_aware=True
    )
    await floor_collections(mongo, namespace)
    services = {s: measure.start_production(s, infra, namespace, logs) for s in SERVICES}
    floor = {
        kind: measure.start_baseline(kind, infra, namespace, logs)
        for kind in ("floor-http", "floor-consumer")
    }
    probe = Probe(EventLog(infra.amqp_url, namespace))
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
    client = httpx.AsyncClient(timeout=60, limits=limits)
    feed_task: asyncio.Task[None] | None = None
    try:
        await measure.ready(*services.values(), floor["floor-http"])
        await measure.wait_logged(floor["floor-consumer"], "floor consumer ready")
        await probe.events.start()
        feed = mongo[database_name(namespace, "notifications")]["feed"]
        feed_task = asyncio.create_task(watch_feed(feed, probe.feed))
        api = Api(client, {name: s.url for name, s in services.items()})
        heads = rt_heads()
        await set_up(api, heads)
        bench = Bench(
            infra,
            namespace,
            api,
            probe,
            heads,
            floor["floor-http"].url,
            client,
            mongo,
            options.seconds,
            options.p99_limit,
        )
        async with floor_watch(infra.amqp_url, namespace, probe.floor):
            result = await _runs(bench, options, services)
        result["service_peak_rss_mb_whole_run"] = {
            name: round(measure.rss_mb(s.process.pid, peak=True), 1) for name, s in services.items()
        }
        result["logs"] = str(logs)
        return result
    finally:
        if feed_task is not None:
            feed_task.cancel()
            await asyncio.gather(feed_task, return_exceptions=True)
        await probe.events.stop()
        await client.aclose()
        await measure.stopped(*services.values(), *floor.values())
        await mongo.close()
        await remove_namespace(namespace, infra.amqp_url, infra.mongodb_url)


async def _runs(
    bench: Bench, options: Options, services: dict[str, ServiceProcess]
) -> dict[str, Any]:
    approvals: dict[float, dict[str, Any]] = {}
    completions: dict[float, dict[str, Any]] = {}
    floors: dict[float, dict[str, Any]] = {}
    rss: dict[str, float] = {}
    profiles: dict[str, Any] = {}
    for rate in options.rates:
        print(f"  floor at {rate:g}/s", flush=True)
        floors[rate] = await bench.floor(rate)
        pids = {name: s.process.pid for name, s in services.items()}
        watch = measure.RssWatch(pids)
        spied = Path(services["proposals"].log).parent / "profiles" / f"at-{rate:g}"
        wanted = options.profile and rate == RSS_RATE
        async with watch.running(), measure.profiling(pids, spied if wanted else None) as spy:
            print(f"  approvals at {rate:g}/s", flush=True)
            approvals[rate], proposals = await bench.approvals(rate)
            print(f"  completions at {rate:g}/s", flush=True)
            completions[rate] = await bench.completions(rate, proposals)
        if rate == RSS_RATE:
            rss = {name: round(mb, 1) for name, mb in watch.peak.items()}
            profiles = spy
    highest = await search(bench, approvals, options.search_steps)
    if highest is not None and highest not in floors:
        floors[highest] = await bench.floor(highest)
    return {
        "p99_limit_seconds": options.p99_limit,
        "seconds_per_rate": options.seconds,
        "highest_sustained_rate": highest,
        "approvals": {f"{k:g}": v for k, v in sorted(approvals.items())},
        "completions": {f"{k:g}": v for k, v in sorted(completions.items())},
        "floor": {f"{k:g}": v for k, v in sorted(floors.items())},
        "service_peak_rss_mb_at_50_per_s": rss,
        "profiles_at_50_per_s": profiles,
    }


def report(result: dict[str, Any]) -> str:
    header = [
        "path",
        "rate/s",
        "sent/s",
        "n",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "http p99 ms",
        "missing",
        "errors",
        "aborted/committed",
        "p99 vs floor",
    ]
    rows = []
    floors = result["floor"]
    for kind, runs in (
        ("approve → material.reserved", result["approvals"]),
        ("complete → RT head in-app", result["completions"]),
        ("floor: HTTP → txn → publish → consume txn → publish", floors),
    ):
        for rate, run in runs.items():
            lat, txn = run["latency"], run.get("transactions")
            aborts = f"{txn['aborted']}/{txn['committed']}" if txn else None
            floor_p99 = floors.get(rate, {}).get("latency", {}).get("p99")
            versus = (
                f"{lat['p99'] / floor_p99:.2f}x"
                if lat["p99"] and floor_p99 and runs is not floors
                else None
            )
            rows.append(
                [
                    kind,
                    rate,
                    run["achieved_rate"],
                    lat["n"],
                    measure.ms(lat["p50"]),
                    measure.ms(lat["p95"]),
                    measure.ms(lat["p99"]),
                    measure.ms(lat["max"]),
                    measure.ms(run["http"]["p99"]),
                    run["missing"],
                    run["errors"],
                    aborts,
                    versus,
                ]
            )
            for hop, name in HOPS:
                if hop in run:
                    h = run[hop]
                    cells = [measure.ms(h[k]) for k in ("p50", "p95", "p99", "max")]
                    rows.append([name, rate, None, h["n"], *cells, None, None, None, None, None])
    text = measure.table(
        f"end to end, one kecamatan, {result['seconds_per_rate']:g} s per rate; highest "
        f"sustained approvals: {result['highest_sustained_rate']}/s (p99 <= "
        f"{result['p99_limit_seconds']:g} s, nothing missing)",
        header,
        rows,
    )
    rss = result["service_peak_rss_mb_at_50_per_s"]
    text += "\npeak RSS at 50/s (MB): " + ", ".join(f"{k} {v}" for k, v in rss.items())
    whole = result["service_peak_rss_mb_whole_run"]
    text += "\npeak RSS whole run (MB): " + ", ".join(f"{k} {v}" for k, v in whole.items())
    return text


def options_from(argv: list[str]) -> tuple[Options, Path | None]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rates", type=float, nargs="+", default=[10, 50, 100])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each rate's run")
    parser.add_argument("--search-steps", type=int, default=3)
    parser.add_argument("--p99-limit", type=float, default=1.0, help="seconds: sustained")
    parser.add_argument("--profile", action="store_true", help="py-spy on each service at 50/s")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    options = Options(args.rates, args.seconds, args.search_steps, args.p99_limit, args.profile)
    return options, args.json


async def main(argv: list[str]) -> None:
    options, path = options_from(argv)
    with infrastructure() as infra:
        result = await run(infra, options)
    print(report(result))
    print(f"\nJSON: {measure.write_results({'end_to_end': result}, path)}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
