"""Complete flows through two replicas of each service while a chaos task kills them.

    .venv/bin/python -m benchmarks.chaos [--flows 200] [--kills|--no-kills] [--seed 1]
                                         [--concurrency 20] [--kill-mongod] [--json out.json]

What runs: a throwaway mongod (the wheel's, single-node replica set), an SMTP sink
(aiosmtpd), the local RabbitMQ (AMQP_URL, default guest on 127.0.0.1, a namespace of
its own) and two processes of each service (`python -m services.<name>`, the shipped
defaults but rate limits off), behind nothing: the driver spreads its HTTP calls over
the replicas and, when one does not answer, sends the same call (same Idempotency-Key)
to the other, as a client behind a load balancer would.

Each flow: stock received, a road proposed, verified, endorsed and approved (the
ceiling is set first), its materials reserved, dispatched, received, fulfilled, the
work started, reported, completed and validated. With kills, every 3 to 8 s (seeded) one
service replica is SIGKILLed and started again at once; `--kill-mongod` also kills and
restarts mongod once, after a third of the flows.

Measured from outside: a queue of its own on the events exchange (what went over the
wire and when), a change stream on the notifications feed, the SMTP sink.
- approve → `material.reserved`: from sending the approval to the event;
- complete → the RT head's in-app item (the feed insert) and → the supervisor's
  e-mail (registered to hear at once) at the sink.

After the flows, it waits until nothing moves (outboxes drained, no e-mail pending,
counts still), then counts:
- lost: a flow step that never happened (state not validated, a journey event never
  published, a feed item or an e-mail that never came);
- doubled business effects: more than one event id per (proposal, step), more than one
  shipment per proposal, budget reserved ≠ approvals times cost, stock balances off what
  was received and shipped, more than one feed item or e-mail delivery per (recipient,
  proposal, step);
- e-mail copies of one delivery (same Message-ID twice), flagged "possible duplicate"
  on the delivery or not; an unflagged copy counts as doubled;
- late: a step whose event came only after the driver stopped waiting (`--patience`).
Exit status 1 when anything was lost or doubled, or a flow did not complete.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import aio_pika
import httpx
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from aiosmtpd.controller import Controller
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from benchmarks.measure import cpu_seconds, percentiles, pid_of, profiling
from deploy.local.run import Mongod, free_port, start_mongod
from services.notifications.domain.webhooks import DELIVERY_HEADER
from shared.identity import Actor
from shared.messaging.topology import Topology
from shared.settings import ServiceSettings, database_name
from shared.storage import outbox
from shared.urls import without_password
from shared.web.auth import mint_token
from tests.support.namespace import SERVICES, new_namespace, remove_namespace
from tests.support.notifications import JOURNEY, RT_HEAD_ENTRY
from tests.support.people import (
    CITY_OFFICER,
    KECAMATAN,
    KECAMATAN_OFFICER,
    KELURAHAN_OFFICER,
    RT_HEAD,
    SUPERVISOR,
    WAREHOUSE_OFFICER,
    road_proposal,
)

REPO = Path(__file__).resolve().parents[1]
REPLICAS = 2
WAREHOUSE = "Gudang Kota Jambi"
# What one road job needs (SNI 7394:2008 K-175, +5 % waste): each flow receives it first,
# so approvals never wait for stock whatever order they run in.
STOCK = {"cement": 493.0, "sand": 41.1, "gravel": 43.3}
BUDGET_IDR, FISCAL_YEAR = 150_000_000, 2026
SUPERVISOR_ENTRY = {
    "role": "supervisor",
    "email": "eko@example.id",
    "preferences": {"channels": ["email", "in_app"], "frequency": "immediately"},
}
# The RT head is e-mailed at once of every step someone else took (not of his own).
RT_HEAD_EMAILED = [
    "proposal.verified",
    "proposal.endorsed",
    "proposal.approved",
    "material.reserved",
    "material.dispatched",
    "material.fulfilled",
    "work.validated",
]
RETRIED_STATUSES = {409, 429, 500, 502, 503, 504}  # nothing stored: the same call again
KILL_INTERVAL = (3.0, 8.0)
QUIET_SECONDS = 3.0  # nothing moved for this long: settled
STOCK_TOLERANCE = 1e-3


class StepFailed(Exception):
    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step, self.reason = step, reason


# --- the processes --------------------------------------------------------------------------


@dataclass
class Replica:
    service: str
    index: int
    port: int
    log: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    kills: int = 0
    cpu_of_ended: float = 0.0  # the CPU seconds of this replica's killed processes

    @property
    def name(self) -> str:
        return f"{self.service}-{self.index}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.service}"],
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        """Die at once, mid-whatever, as a crash would."""
        if self.process is not None:
            self.cpu_of_ended += cpu_seconds(self.process.pid)
            self.process.kill()
            self.process.wait()
        self.kills += 1

    def cpu_used(self) -> float:
        """CPU seconds of every process of this replica so far (call it before the end)."""
        if self.process is None or self.process.poll() is not None:
            return self.cpu_of_ended
        return self.cpu_of_ended + cpu_seconds(self.process.pid)

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait_stopped(self, timeout: float = 30.0) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def replicas_of(
    namespace: str,
    amqp_url: str,
    mongodb_url: str,
    smtp_port: int,
    logs: Path,
    extra: dict[str, str],
) -> dict[str, list[Replica]]:
    base = {
        **os.environ,
        "AMQP_URL": amqp_url,
        "MONGODB_URL": mongodb_url,
        "BERDAYA_NAMESPACE": namespace,
        # one driver fires every person's requests from one address
        "BERDAYA_RATE_LIMITS_ENABLED": "false",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(REPO),
    }
    mail = {"BERDAYA_SMTP_HOST": "127.0.0.1", "BERDAYA_SMTP_PORT": str(smtp_port)}
    replicas: dict[str, list[Replica]] = {}
    for service in SERVICES:
        replicas[service] = []
        for index in range(1, REPLICAS + 1):
            port = free_port()
            env = {**base, "HTTP_PORT": str(port), **(mail if service == "notifications" else {})}
            log = logs / f"{service}-{index}.log"
            replicas[service].append(Replica(service, index, port, log, {**env, **extra}))
    return replicas


async def wait_ready(client: httpx.AsyncClient, replica: Replica, within: float = 90.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if replica.process is not None and replica.process.poll() is not None:
            raise RuntimeError(f"{replica.name} exited; see {replica.log}")
        try:
            if (await client.get(f"{replica.url}/ready", timeout=2)).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.3)
    raise TimeoutError(f"{replica.name} not ready after {within:.0f} s; see {replica.log}")


# --- what is observed from outside ----------------------------------------------------------


class SmtpSink:
    """A real SMTP server; keeps (arrival, delivery id, Message-ID) of every message."""

    def __init__(self) -> None:
        self.port = free_port()
        self.arrivals: list[tuple[float, str, str]] = []
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        headers = BytesHeaderParser().parsebytes(envelope.content)
        delivery = str(headers.get(DELIVERY_HEADER, ""))
        self.arrivals.append((time.monotonic(), delivery, str(headers.get("Message-ID", ""))))
        return "250 Message accepted"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


class EventLog:
    """Every event on the namespace's events exchange, by proposal and type, with the
    time it first arrived; flows wait on it instead of polling the services."""

    def __init__(self, amqp_url: str, namespace: str) -> None:
        self._url = amqp_url
        self._exchange = Topology(namespace).events_exchange.name
        self._connection: AbstractRobustConnection | None = None
        self.received = 0
        self.event_ids: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.first_seen: dict[tuple[str, str], float] = {}
        self._arrived: dict[tuple[str, str], asyncio.Event] = defaultdict(asyncio.Event)

    async def start(self) -> None:
        self._connection = await aio_pika.connect_robust(self._url)
        channel = await self._connection.channel()
        exchange = await channel.declare_exchange(
            self._exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key="#")
        await queue.consume(self._keep, no_ack=True)

    async def stop(self) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def _keep(self, message: AbstractIncomingMessage) -> None:
        arrived = time.monotonic()
        self.received += 1
        try:
            envelope = json.loads(message.body)
            key = (str(envelope["data"]["proposal_id"]), str(envelope["type"]))
            event_id = str(envelope["event_id"])
        except (ValueError, KeyError, TypeError):
            return  # not about a proposal
        self.event_ids[key].add(event_id)
        self.first_seen.setdefault(key, arrived)
        self._arrived[key].set()

    async def wait_for(self, proposal_id: str, event_type: str, within: float) -> float:
        """When `event_type` about `proposal_id` first went over the wire."""
        key = (proposal_id, event_type)
        try:
            await asyncio.wait_for(self._arrived[key].wait(), within)
        except TimeoutError:
            raise StepFailed(event_type, f"not published within {within:.0f} s") from None
        return self.first_seen[key]


async def watch_feed(collection: Any, seen: dict[tuple[str, str, str], float]) -> None:
    """First arrival of each (recipient, proposal, event type) in the in-app feed.
    Resumes after the stream breaks (mongod killed)."""
    token: Any = None
    pipeline = [{"$match": {"operationType": {"$in": ["insert", "replace", "update"]}}}]
    while True:
        try:
            async with await collection.watch(
                pipeline, resume_after=token, full_document="updateLookup"
            ) as stream:
                async for change in stream:
                    token = stream.resume_token
                    document = change.get("fullDocument") or {}
                    key = (
                        str(document.get("recipient_id")),
                        str(document.get("proposal_id")),
                        str(document.get("event_type")),
                    )
                    seen.setdefault(key, time.monotonic())
        except PyMongoError:
            await asyncio.sleep(0.5)


# --- the driver -----------------------------------------------------------------------------


class Api:
    """HTTP calls spread over the replicas; a call that gets no answer, or an answer
    that stored nothing (5xx, 409, 429), goes again with the same Idempotency-Key."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        replicas: dict[str, list[Replica]],
        rng: random.Random,
        patience: float,
    ) -> None:
        self._client = client
        self._replicas = replicas
        self._rng = rng
        self._patience = patience
        self._tokens: dict[str, str] = {}
        settings = ServiceSettings()
        self._secret = settings.jwt_secret.get_secret_value()
        self._issuer = settings.jwt_issuer
        self.retries: Counter[str] = Counter()  # calls sent again, by service and why

    def _auth(self, actor: Actor) -> dict[str, str]:
        if actor.id not in self._tokens:
            self._tokens[actor.id] = mint_token(actor, self._secret, self._issuer)
        return {"Authorization": f"Bearer {self._tokens[actor.id]}"}

    async def call(
        self,
        step: str,
        service: str,
        method: str,
        path: str,
        actor: Actor,
        body: dict[str, Any] | None = None,
        expect: int = 200,
    ) -> Any:
        headers = {**self._auth(actor), "Idempotency-Key": str(uuid.uuid4())}
        deadline = time.monotonic() + self._patience
        replica = self._rng.choice(self._replicas[service])
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                response = await self._client.request(
                    method,
                    f"{replica.url}{path}",
                    json=body if body is not None or method == "GET" else {},
                    headers=headers,
                )
            except httpx.HTTPError as error:
                last, why = f"{replica.name}: {type(error).__name__}", type(error).__name__
            else:
                if response.status_code == expect:
                    return response.json()
                if response.status_code not in RETRIED_STATUSES:
                    raise StepFailed(step, f"{response.status_code} {response.text[:300]}")
                last = f"{replica.name}: {response.status_code} {response.text[:200]}"
                why = str(response.status_code)
            self.retries[f"{service} {why}"] += 1
            others = [r for r in self._replicas[service] if r is not replica]
            replica = self._rng.choice(others or self._replicas[service])
            await asyncio.sleep(0.2)
        raise StepFailed(step, f"gave up after {self._patience:.0f} s; last: {last}")

    async def get(self, service: str, path: str, actor: Actor) -> Any:
        return await self.call(f"GET {path}", service, "GET", path, actor)


@dataclass
class Flow:
    index: int
    proposal_id: str | None = None
    approve_sent: float | None = None
    complete_sent: float | None = None
    stocked: bool = False
    dispatched: dict[str, float] = field(default_factory=dict)
    done: bool = False
    failed_step: str | None = None
    failure: str | None = None


async def run_flow(flow: Flow, api: Api, events: EventLog, patience: float) -> None:
    try:
        await _steps(flow, api, events, patience)
        flow.done = True
    except StepFailed as failed:
        flow.failed_step, flow.failure = failed.step, failed.reason


async def _steps(flow: Flow, api: Api, events: EventLog, patience: float) -> None:
    lines = [{"item": item, "quantity": quantity} for item, quantity in STOCK.items()]
    receipt = {"warehouse": WAREHOUSE, "supplier": "CV Bangun Jaya", "lines": lines}
    await api.call(
        "received", "materials", "POST", "/stock/receipts", WAREHOUSE_OFFICER, receipt, 201
    )
    flow.stocked = True
    proposal = road_proposal(title=f"Rabat beton Gang Mawar {flow.index}")
    created = await api.call("submitted", "proposals", "POST", "/proposals", RT_HEAD, proposal, 201)
    pid = flow.proposal_id = str(created["proposal"]["id"])
    await api.call("verified", "proposals", "POST", f"/proposals/{pid}/verify", KELURAHAN_OFFICER)
    await api.call("endorsed", "proposals", "POST", f"/proposals/{pid}/endorse", KECAMATAN_OFFICER)
    approval = {"budget_idr": BUDGET_IDR, "fiscal_year": FISCAL_YEAR}
    flow.approve_sent = time.monotonic()
    await api.call(
        "approved", "proposals", "POST", f"/proposals/{pid}/approve", CITY_OFFICER, approval
    )
    await events.wait_for(pid, "material.reserved", patience)
    order = {"warehouse": WAREHOUSE, "note": f"truck {flow.index}"}
    shipment = await api.call(
        "dispatched", "materials", "POST", f"/jobs/{pid}/shipments", WAREHOUSE_OFFICER, order, 201
    )
    flow.dispatched = {line["item"]: float(line["quantity"]) for line in shipment["lines"]}
    received = {"lines": [{"item": i, "received": q} for i, q in flow.dispatched.items()]}
    path = f"/shipments/{shipment['id']}/receipt"
    await api.call("delivered", "materials", "POST", path, RT_HEAD, received)
    await events.wait_for(pid, "material.fulfilled", patience)
    await _until_state(api, pid, "materials_fulfilled", patience)
    await api.call("started", "proposals", "POST", f"/proposals/{pid}/work/start", RT_HEAD)
    progress = {"percent": 100, "note": "150 m poured", "volunteers": 35, "labour_days": 70}
    await api.call(
        "progress", "proposals", "POST", f"/proposals/{pid}/work/progress", RT_HEAD, progress
    )
    flow.complete_sent = time.monotonic()
    await api.call("completed", "proposals", "POST", f"/proposals/{pid}/work/complete", RT_HEAD)
    handed_over = {"reason": "handed over"}
    await api.call(
        "validated", "proposals", "POST", f"/proposals/{pid}/validate", SUPERVISOR, handed_over
    )


async def _until_state(api: Api, proposal_id: str, state: str, patience: float) -> None:
    """Proposals took in what materials announced (its own queue, its own pace)."""
    deadline = time.monotonic() + patience
    while True:
        view = await api.get("proposals", f"/proposals/{proposal_id}", RT_HEAD)
        if view["proposal"]["state"] == state:
            return
        if time.monotonic() > deadline:
            raise StepFailed(state, f"still {view['proposal']['state']} after {patience:.0f} s")
        await asyncio.sleep(0.25)


# --- chaos ----------------------------------------------------------------------------------


@dataclass
class Kill:
    at: float  # seconds since the flows started
    what: str


async def chaos(
    replicas: list[Replica],
    rng: random.Random,
    started: float,
    kills: list[Kill],
    mongod_due: Callable[[], bool] | None,
    restart_mongod: Callable[[], Awaitable[None]],
) -> None:
    """Until cancelled: every 3 to 8 s a replica (or, once, mongod) killed and restarted."""
    while True:
        await asyncio.sleep(rng.uniform(*KILL_INTERVAL))
        if mongod_due is not None and mongod_due():
            mongod_due = None
            kills.append(Kill(round(time.monotonic() - started, 1), "mongod"))
            await restart_mongod()
            continue
        victim = rng.choice(replicas)
        victim.kill()
        victim.start()  # at once: a supervisor (systemd, the orchestrator) would
        kills.append(Kill(round(time.monotonic() - started, 1), victim.name))


# --- the figures ----------------------------------------------------------------------------


@dataclass
class Tally:
    """What is lost or doubled, each by kind, with a few examples to look up."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, kind: str, example: str, count: int = 1) -> None:
        self.counts[kind] += count
        if len(self.examples[kind]) < 5:
            self.examples[kind].append(example)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


async def count_outcome(
    flows: list[Flow],
    events: EventLog,
    sink: SmtpSink,
    mongo: AsyncMongoClient[dict[str, Any]],
    api: Api,
    namespace: str,
) -> dict[str, Any]:
    lost, doubled, late = Tally(), Tally(), Tally()
    proposals_db = mongo[database_name(namespace, "proposals")]
    materials_db = mongo[database_name(namespace, "materials")]
    notifications_db = mongo[database_name(namespace, "notifications")]
    states = {str(d["_id"]): d.get("state") async for d in proposals_db["proposals"].find({})}
    shipments = Counter(
        [
            str(d["proposal_id"])
            async for d in materials_db["shipments"].find({}, {"proposal_id": 1})
        ]
    )
    feed = Counter(
        [
            (str(d["recipient_id"]), str(d.get("proposal_id")), str(d["event_type"]))
            async for d in notifications_db["feed"].find({})
        ]
    )
    deliveries = {
        str(d["_id"]): d async for d in notifications_db["deliveries"].find({"channel": "email"})
    }
    mails: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    for _, delivery_id, _ in sink.arrivals:
        row = deliveries.get(delivery_id, {})
        key = (
            str(row.get("recipient_id")),
            str(row.get("proposal_id")),
            str(row.get("event_type")),
        )
        mails[key][delivery_id] += 1

    flagged = unflagged = 0
    for flow in flows:
        pid = flow.proposal_id
        if not flow.done:
            # an event that came after the driver stopped waiting is late, not lost
            step, why = str(flow.failed_step), f"#{flow.index} {pid}: {flow.failure}"
            if (str(pid), step) in events.first_seen:
                late.add(f"{step} after the driver gave up", why)
            else:
                lost.add(f"flow stopped at {step}", why)
        if pid is None:
            continue
        if flow.done and states.get(pid) != "validated":
            lost.add("state not validated", f"{pid}: {states.get(pid)}")
        reached = JOURNEY if flow.done else [t for t in JOURNEY if (pid, t) in events.first_seen]
        for event_type in JOURNEY:
            ids = events.event_ids.get((pid, event_type), set())
            if flow.done and not ids:
                lost.add(f"event {event_type}", pid)
            if len(ids) > 1:
                doubled.add(f"event {event_type}", pid, len(ids) - 1)
        for event_type in reached:
            _once(
                feed[(RT_HEAD.id, pid, event_type)], "RT head feed", event_type, pid, lost, doubled
            )
            if event_type in RT_HEAD_EMAILED:
                copies = mails[(RT_HEAD.id, pid, event_type)]
                _once(len(copies), "RT head e-mail", event_type, pid, lost, doubled)
        if "work.completed" in reached:
            _once(
                feed[(SUPERVISOR.id, pid, "work.completed")],
                "supervisor feed",
                "work.completed",
                pid,
                lost,
                doubled,
            )
            copies = mails[(SUPERVISOR.id, pid, "work.completed")]
            _once(len(copies), "supervisor e-mail", "work.completed", pid, lost, doubled)
        if shipments[pid] > 1:
            doubled.add("shipment", pid, shipments[pid] - 1)
    for copies in mails.values():
        for delivery_id, count in copies.items():
            if count > 1 and deliveries.get(delivery_id, {}).get("possible_duplicate"):
                flagged += count - 1
            elif count > 1:
                unflagged += count - 1
                doubled.add("e-mail copy, unflagged", delivery_id, count - 1)

    budget = await _budget_reserved(api)
    approved = sum(
        1
        for f in flows
        if f.approve_sent is not None and (f.proposal_id, "proposal.approved") in events.first_seen
    )
    if budget != approved * BUDGET_IDR:
        doubled.add(
            "budget reserved", f"{budget} reserved for {approved} approvals of {BUDGET_IDR}"
        )
    await _check_stock(flows, events, api, lost, doubled)
    return {
        "flows_completed": sum(f.done for f in flows),
        "late": late.total,
        "late_by_kind": dict(late.counts),
        "late_examples": dict(late.examples),
        "lost": lost.total,
        "lost_by_kind": dict(lost.counts),
        "lost_examples": dict(lost.examples),
        "doubled": doubled.total,
        "doubled_by_kind": dict(doubled.counts),
        "doubled_examples": dict(doubled.examples),
        "email_copies_flagged": flagged,
        "email_copies_unflagged": unflagged,
        "emails_received": len(sink.arrivals),
        "feed_items": sum(feed.values()),
    }


def _once(found: int, what: str, event_type: str, pid: str, lost: Tally, doubled: Tally) -> None:
    if found == 0:
        lost.add(f"{what} {event_type}", pid)
    elif found > 1:
        doubled.add(f"{what} {event_type}", pid, found - 1)


async def _budget_reserved(api: Api) -> int:
    budgets = await api.get("proposals", f"/budgets?year={FISCAL_YEAR}", CITY_OFFICER)
    return sum(int(b["reserved_idr"]) for b in budgets if b["kecamatan"] == KECAMATAN)


def _reserved(flow: Flow, events: EventLog) -> bool:
    return (str(flow.proposal_id), "material.reserved") in events.first_seen


async def _check_stock(
    flows: list[Flow], events: EventLog, api: Api, lost: Tally, doubled: Tally
) -> None:
    """On hand = received - shipped; reserved = what reserved jobs have not shipped yet."""
    page = await api.get(
        "materials", f"/stock?warehouse={WAREHOUSE}&page_size=100", WAREHOUSE_OFFICER
    )
    levels = {b["item"]: b for b in page["items"]}
    received = sum(1 for f in flows if f.stocked)
    for item, quantity in STOCK.items():
        shipped = sum(f.dispatched.get(item, 0.0) for f in flows)
        waiting = sum(quantity for f in flows if _reserved(f, events) and not f.dispatched)
        level = levels.get(item, {"on_hand": 0.0, "reserved": 0.0})
        for name, expected in (("on_hand", received * quantity - shipped), ("reserved", waiting)):
            found = float(level[name])
            if found > expected + STOCK_TOLERANCE:
                doubled.add(f"stock {name}", f"{item}: {found} > {expected}")
            elif found < expected - STOCK_TOLERANCE:
                lost.add(f"stock {name}", f"{item}: {found} < {expected}")


def latencies(
    flows: list[Flow],
    events: EventLog,
    feed_seen: dict[tuple[str, str, str], float],
    sink: SmtpSink,
    deliveries: dict[str, tuple[str, str, str]],
) -> dict[str, dict[str, float | int | None]]:
    first_mail: dict[tuple[str, str, str], float] = {}
    for arrived, delivery_id, _ in sink.arrivals:
        key = deliveries.get(delivery_id)
        if key is not None:
            first_mail.setdefault(key, arrived)
    reserved, in_app, mail = [], [], []
    # the hops, to see which service the time goes to
    approved, approved_to_reserved, completed, completed_to_in_app = [], [], [], []
    for flow in flows:
        pid = flow.proposal_id
        if pid is None:
            continue
        seen_approved = events.first_seen.get((pid, "proposal.approved"))
        seen_reserved = events.first_seen.get((pid, "material.reserved"))
        seen_completed = events.first_seen.get((pid, "work.completed"))
        if flow.approve_sent is not None and seen_reserved is not None:
            reserved.append(seen_reserved - flow.approve_sent)
        if flow.approve_sent is not None and seen_approved is not None:
            approved.append(seen_approved - flow.approve_sent)
            if seen_reserved is not None:
                approved_to_reserved.append(seen_reserved - seen_approved)
        if flow.complete_sent is not None:
            seen_in_app = feed_seen.get((RT_HEAD.id, pid, "work.completed"))
            if seen_in_app is not None:
                in_app.append(seen_in_app - flow.complete_sent)
            if seen_completed is not None:
                completed.append(seen_completed - flow.complete_sent)
                if seen_in_app is not None:
                    completed_to_in_app.append(seen_in_app - seen_completed)
            if (sent := first_mail.get((SUPERVISOR.id, pid, "work.completed"))) is not None:
                mail.append(sent - flow.complete_sent)
    return {
        "approve → material.reserved": percentiles(reserved),
        "  approve → proposal.approved": percentiles(approved),
        "  proposal.approved → reserved": percentiles(approved_to_reserved),
        "complete → RT head in-app": percentiles(in_app),
        "  complete → work.completed": percentiles(completed),
        "  work.completed → in-app": percentiles(completed_to_in_app),
        "complete → supervisor e-mail": percentiles(mail),
    }


# --- waiting for quiet ----------------------------------------------------------------------


async def settle(
    mongo: AsyncMongoClient[dict[str, Any]],
    namespace: str,
    events: EventLog,
    feed_seen: dict[tuple[str, str, str], float],
    sink: SmtpSink,
    limit: float,
) -> bool:
    """Until every outbox is drained, no immediate delivery is open and nothing has
    moved for QUIET_SECONDS; False when `limit` ran out first."""
    deadline = time.monotonic() + limit
    last: tuple[int, ...] | None = None
    quiet_since = time.monotonic()
    notifications = mongo[database_name(namespace, "notifications")]
    while time.monotonic() < deadline:
        try:
            pending = [
                await outbox.count_pending(mongo[database_name(namespace, s)]) for s in SERVICES
            ]
            open_mail = await notifications["deliveries"].count_documents(
                {"batched": False, "status": {"$in": ["pending", "sending"]}}
            )
        except PyMongoError:
            pending, open_mail = [-1], -1
        snapshot = (events.received, len(feed_seen), len(sink.arrivals), *pending, open_mail)
        if snapshot != last or any(pending) or open_mail:
            last, quiet_since = snapshot, time.monotonic()
        elif time.monotonic() - quiet_since >= QUIET_SECONDS:
            return True
        await asyncio.sleep(0.5)
    return False


# --- the run --------------------------------------------------------------------------------


@dataclass
class Options:
    flows: int
    kills: bool
    seed: int
    concurrency: int
    kill_mongod: bool
    patience: float
    settle_limit: float
    json_path: Path | None
    env: dict[str, str]
    profile: bool = False


async def run(
    options: Options,
    mongod: Mongod,
    restart_mongod: Callable[[], Awaitable[None]],
    mongod_cpu: Callable[[], float],
) -> dict[str, Any]:
    namespace = new_namespace()
    amqp_url = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    logs = REPO / ".run" / "chaos" / namespace
    logs.mkdir(parents=True, exist_ok=True)
    sink = SmtpSink()
    sink.start()
    replicas = replicas_of(namespace, amqp_url, mongod.url, sink.port, logs, options.env)
    every = [r for group in replicas.values() for r in group]
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongod.url, uuidRepresentation="standard", tz_aware=True
    )
    events = EventLog(amqp_url, namespace)
    feed_seen: dict[tuple[str, str, str], float] = {}
    kills: list[Kill] = []
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    client = httpx.AsyncClient(timeout=30, limits=limits)
    background: list[asyncio.Task[None]] = []
    broker_pid = pid_of("beam.smp")
    broker_cpu_before = cpu_seconds(broker_pid) if broker_pid else 0.0
    driver_cpu_before = _own_cpu()
    try:
        for replica in every:
            replica.start()
        await asyncio.gather(*(wait_ready(client, r) for r in every))
        # start-up (imports, connecting) is not the flows' work
        cpu_at_ready = {s: sum(r.cpu_used() for r in group) for s, group in replicas.items()}
        mongod_cpu_at_ready = mongod_cpu()
        await events.start()
        feed = mongo[database_name(namespace, "notifications")]["feed"]
        background.append(asyncio.create_task(watch_feed(feed, feed_seen)))
        api = Api(client, replicas, random.Random(options.seed + 1), options.patience)
        await _set_up(api, options.flows)

        flows = [Flow(i) for i in range(1, options.flows + 1)]
        gate = asyncio.Semaphore(options.concurrency)
        started = time.monotonic()

        async def one(flow: Flow) -> None:
            async with gate:
                await run_flow(flow, api, events, options.patience)

        if options.kills:
            third = options.flows / 3
            due = (lambda: sum(f.done for f in flows) >= third) if options.kill_mongod else None
            background.append(
                asyncio.create_task(
                    chaos(every, random.Random(options.seed), started, kills, due, restart_mongod)
                )
            )
        first = {r.name: r.process.pid for r in every if r.index == 1 and r.process}
        async with profiling(first, logs / "profiles" if options.profile else None) as profiles:
            await asyncio.gather(*(one(f) for f in flows))
        flows_seconds = time.monotonic() - started
        for task in background[1:]:  # chaos stops; the feed watch goes on while settling
            task.cancel()
        await asyncio.gather(*background[1:], return_exceptions=True)
        if options.kills:
            await asyncio.gather(*(wait_ready(client, r) for r in every))
        settle_started = time.monotonic()
        settled = await settle(mongo, namespace, events, feed_seen, sink, options.settle_limit)
        settle_seconds = time.monotonic() - settle_started
        outcome = await count_outcome(flows, events, sink, mongo, api, namespace)
        cpu = {
            **{
                s: sum(r.cpu_used() for r in group) - cpu_at_ready[s]
                for s, group in replicas.items()
            },
            "mongod": mongod_cpu() - mongod_cpu_at_ready,
            "rabbitmq": (cpu_seconds(broker_pid) - broker_cpu_before) if broker_pid else None,
            "driver": _own_cpu() - driver_cpu_before,
        }
        deliveries = {
            str(d["_id"]): (
                str(d["recipient_id"]),
                str(d.get("proposal_id")),
                str(d.get("event_type")),
            )
            async for d in mongo[database_name(namespace, "notifications")]["deliveries"].find(
                {"channel": "email"}
            )
        }
        return {
            "flows": options.flows,
            "concurrency": options.concurrency,
            "kills_enabled": options.kills,
            "kill_mongod": options.kill_mongod,
            "seed": options.seed,
            "replicas_per_service": REPLICAS,
            "namespace": namespace,
            "logs": str(logs),
            "env": options.env,
            "flows_seconds": round(flows_seconds, 1),
            "settle_seconds": round(settle_seconds, 1),
            "settled": settled,
            "kills": len(kills),
            "kills_by_target": dict(Counter(k.what.rsplit("-", 1)[0] for k in kills)),
            "kill_log": [asdict(k) for k in kills],
            "http_retries": sum(api.retries.values()),
            "http_retries_by_reason": dict(api.retries),
            "latency_seconds": latencies(flows, events, feed_seen, sink, deliveries),
            # from the services being ready to the count (the broker's and the driver's:
            # from the run's start; a killed process's start-up counts)
            "cpu_seconds": {k: None if v is None else round(v, 1) for k, v in cpu.items()},
            "profiles": profiles,
            "mongodb_operations_per_flow": await _operations_per_flow(mongo, namespace, options),
            **outcome,
        }
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        for replica in every:
            replica.terminate()
        for replica in every:
            await asyncio.to_thread(replica.wait_stopped)
        await events.stop()
        await client.aclose()
        await mongo.close()
        sink.stop()
        await remove_namespace(namespace, amqp_url, mongod.url)


async def _operations_per_flow(
    mongo: AsyncMongoClient[dict[str, Any]], namespace: str, options: Options
) -> dict[str, dict[str, float]]:
    """Per collection of the run's databases, MongoDB's `top` counts (operations since
    mongod started, the driver's reads included) divided by the flows: where the round
    trips go."""
    totals = (await mongo.admin.command("top"))["totals"]
    kinds = ("queries", "insert", "update", "remove", "getmore", "commands")
    per_flow: dict[str, dict[str, float]] = {}
    for name, counts in sorted(totals.items()):
        if name.startswith(namespace):
            figures = {k: round(counts[k]["count"] / options.flows, 1) for k in kinds}
            per_flow[name.removeprefix(f"{namespace}_")] = {k: v for k, v in figures.items() if v}
    return per_flow


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _set_up(api: Api, flows: int) -> None:
    """The people who hear by e-mail at once, and a ceiling with room for every flow."""
    await api.call(
        "directory", "notifications", "PUT", f"/people/{RT_HEAD.id}", CITY_OFFICER, RT_HEAD_ENTRY
    )
    await api.call(
        "directory",
        "notifications",
        "PUT",
        f"/people/{SUPERVISOR.id}",
        CITY_OFFICER,
        SUPERVISOR_ENTRY,
    )
    ceiling = {"ceiling_idr": (flows + 1) * BUDGET_IDR}
    await api.call(
        "ceiling", "proposals", "PUT", f"/budgets/{KECAMATAN}/{FISCAL_YEAR}", CITY_OFFICER, ceiling
    )


def report(result: dict[str, Any]) -> str:
    kills = ", ".join(f"{k} {n}" for k, n in sorted(result["kills_by_target"].items())) or "none"
    lines = [
        f"\n{result['flows']} flows, {result['concurrency']} at a time, "
        f"{result['replicas_per_service']} replicas of each service, "
        f"kills {'on' if result['kills_enabled'] else 'off'} (seed {result['seed']})",
        f"flows took {result['flows_seconds']} s; settled in {result['settle_seconds']} s"
        + ("" if result["settled"] else " (NOT settled: limit reached)"),
        f"kills: {result['kills']} ({kills}); HTTP calls sent again: {result['http_retries']}"
        + (f" ({_kinds(result['http_retries_by_reason'])})" if result["http_retries"] else ""),
        "",
        f"{'latency (s)':34} {'n':>5} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}",
    ]
    for name, figures in result["latency_seconds"].items():
        cells = [
            f"{figures[k]:7.3f}" if figures[k] is not None else f"{'-':>7}"
            for k in ("p50", "p95", "p99", "max")
        ]
        lines.append(f"{name:34} {figures['n']:5} {' '.join(cells)}")
    lines += [
        "",
        f"{'flows completed':34} {result['flows_completed']:5} of {result['flows']}",
        f"{'late (driver gave up first)':34} {result['late']:5}  {_kinds(result['late_by_kind'])}",
        f"{'lost':34} {result['lost']:5}  {_kinds(result['lost_by_kind'])}",
        f"{'doubled':34} {result['doubled']:5}  {_kinds(result['doubled_by_kind'])}",
        f"{'e-mail copies, flagged':34} {result['email_copies_flagged']:5}",
        f"{'e-mail copies, unflagged':34} {result['email_copies_unflagged']:5}",
        f"{'e-mails received':34} {result['emails_received']:5}",
        f"{'feed items':34} {result['feed_items']:5}",
        "",
        "CPU seconds (per flow, ms): "
        + ", ".join(
            f"{part} {seconds:g} ({seconds * 1000 / result['flows']:.0f})"
            for part, seconds in result["cpu_seconds"].items()
            if seconds is not None
        ),
        f"\nservice logs: {result['logs']}",
    ]
    return "\n".join(lines)


def _kinds(counts: dict[str, int]) -> str:
    return ", ".join(f"{kind}: {n}" for kind, n in sorted(counts.items()))


async def main(options: Options) -> int:
    with tempfile.TemporaryDirectory(prefix="berdaya-chaos-mongo-") as directory:
        dbpath, port = Path(directory), free_port()
        mongod = await asyncio.to_thread(start_mongod, dbpath, port)
        current = [mongod]
        ended_cpu = [0.0]  # of the mongod killed

        def mongod_cpu() -> float:
            return ended_cpu[0] + cpu_seconds(current[0].process.pid)

        async def restart_mongod() -> None:
            ended_cpu[0] += cpu_seconds(current[0].process.pid)
            current[0].process.kill()
            current[0].process.wait()
            current[0] = await asyncio.to_thread(start_mongod, dbpath, port)

        try:
            print(f"mongod {without_password(mongod.url)}; services starting", flush=True)
            result = await run(options, mongod, restart_mongod, mongod_cpu)
        finally:
            current[0].stop()
    print(report(result))
    if options.json_path is not None:
        options.json_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    incomplete = result["flows_completed"] < result["flows"]
    return 1 if result["lost"] or result["doubled"] or incomplete else 0


def parse(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--flows", type=int, default=200)
    parser.add_argument("--kills", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=10, help="flows in flight at once")
    parser.add_argument("--kill-mongod", action="store_true", help="kill and restart mongod once")
    parser.add_argument("--patience", type=float, default=120.0, help="seconds a step may take")
    parser.add_argument("--settle", type=float, default=180.0, help="seconds to wait for quiet")
    parser.add_argument("--json", type=Path, help="write the figures there as JSON")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy on the first replica of each service"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for every service process (repeatable)",
    )
    args = parser.parse_args(argv)
    env = dict(item.split("=", 1) for item in args.env)
    return Options(
        args.flows,
        args.kills,
        args.seed,
        args.concurrency,
        args.kill_mongod,
        args.patience,
        args.settle,
        args.json,
        env,
        args.profile,
    )


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse(sys.argv[1:]))))
