"""Approvals as load for the fault tests, and the reckoning afterwards: each approval
over HTTP becomes one job in materials (reserved, or short) and one answer on the
wire; nothing lost, nothing doubled, nothing dead-lettered.

    load = ApprovalLoad(proposals_url, materials_url)
    await load.prepare()                  # stock and a budget ceiling for the lot
    await load.approve(5, "before")       # five proposals submitted, reviewed, approved
    ...
    await load.reckon(probe, mongodb_url, namespace)   # raises if anything is off
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from shared.messaging.dead_letters import DeadLetters
from shared.messaging.topology import Topology
from tests.support.people import KECAMATAN, WAREHOUSE_OFFICER, ProposalDriver, auth
from tests.support.probe import EventProbe, until_async
from tests.support.processes import ServiceProcess

# What the probe listens to: the approvals and materials' answer to each.
WATCHED = ["proposal.approved", "material.reserved", "material.shortage"]
ANSWERS = ("material.reserved", "material.shortage")
YEAR = 2026
BUDGET_IDR = 150_000_000


@dataclass
class ApprovalLoad:
    proposals_url: str
    materials_url: str
    approved: list[str] = field(default_factory=list)
    # when each approval was answered by the proposals API (monotonic clock)
    approved_at: dict[str, float] = field(default_factory=dict)
    timeout: float = 30.0

    async def prepare(self, capacity: int = 60) -> None:
        async with httpx.AsyncClient(base_url=self.materials_url, timeout=self.timeout) as http:
            received = await http.post(
                "/stock/receipts",
                json={
                    "warehouse": "Gudang Kota Jambi",
                    "supplier": "CV Bangun Jaya",
                    "lines": [
                        {"item": item, "quantity": quantity * capacity}
                        for item, quantity in (("cement", 493), ("sand", 41.1), ("gravel", 43.3))
                    ],
                },
                headers=auth(WAREHOUSE_OFFICER),
            )
            assert received.status_code == 201, received.text
        async with httpx.AsyncClient(base_url=self.proposals_url, timeout=self.timeout) as http:
            await ProposalDriver(http).set_ceiling(KECAMATAN, YEAR, BUDGET_IDR * capacity)

    async def approve(self, count: int, tag: str) -> list[str]:
        """`count` proposals submitted, verified, endorsed and approved over HTTP."""
        ids = []
        async with httpx.AsyncClient(base_url=self.proposals_url, timeout=self.timeout) as http:
            driver = ProposalDriver(http)
            for i in range(count):
                n = len(self.approved)
                proposal_id = await driver.approved(
                    YEAR,
                    BUDGET_IDR,
                    title=f"Rabat beton {tag} {i}",
                    # far enough apart that none is flagged as a duplicate of another
                    location={"lat": -1.50 - n * 0.01, "lng": 103.50 + (n % 7) * 0.01},
                )
                self.approved.append(proposal_id)
                self.approved_at[proposal_id] = time.monotonic()
                ids.append(proposal_id)
        return ids

    async def wait_for_jobs(self, mongodb_url: str, namespace: str, within: float) -> float:
        """Until every approval has its job in materials; returns when (monotonic)."""
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url)
        try:
            jobs = client[f"{namespace}_materials"]["jobs"]
            await until_async(
                lambda: jobs.count_documents({}),
                lambda found: found >= len(self.approved),
                within=within,
                what=f"{len(self.approved)} jobs",
            )
            return time.monotonic()
        finally:
            await client.close()

    async def reckon(
        self, probe: EventProbe, amqp_url: str, mongodb_url: str, namespace: str
    ) -> Reckoning:
        """Every approval handled once: one job each in materials' database, one
        approval and one answer per proposal on the wire (a publish repeated after a
        lost confirm carries the same event id: counted, not a second effect), and no
        dead letter in any service's queue."""
        await probe.wait_for(
            lambda: self._all_on_the_wire(probe), what="every approval and its answer on the wire"
        )
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            mongodb_url, uuidRepresentation="standard"
        )
        try:
            jobs = await client[f"{namespace}_materials"]["jobs"].find({}).to_list()
        finally:
            await client.close()
        per_proposal = Counter(str(job["proposal_id"]) for job in jobs)
        assert set(per_proposal) == set(self.approved), "a job is missing, or one is foreign"
        assert set(per_proposal.values()) == {1}, f"a job was made twice: {per_proposal}"

        wire = {event_type: _events(probe, event_type) for event_type in WATCHED}
        approvals = wire["proposal.approved"]
        answers = {**wire["material.reserved"], **wire["material.shortage"]}
        assert set(approvals.values()) == set(self.approved), "an approval never went out"
        assert len(approvals) == len(self.approved), "an approval was announced twice"
        assert sorted(answers.values()) == sorted(self.approved), "an answer is missing or two"

        topology = Topology(namespace)
        dead = {
            service: await DeadLetters(amqp_url, topology, service, user="guest").peek()
            for service in ("proposals", "materials")
        }
        assert dead == {"proposals": [], "materials": []}, f"dead letters: {dead}"
        return Reckoning(
            approvals=len(approvals),
            answers=len(answers),
            reserved=len(wire["material.reserved"]),
            repeated_on_the_wire=sum(len(m) for m in (probe.of_type(t) for t in WATCHED))
            - len(approvals)
            - len(answers),
        )

    def _all_on_the_wire(self, probe: EventProbe) -> bool:
        wanted = set(self.approved)
        approved = set(_events(probe, "proposal.approved").values())
        answered = {
            *_events(probe, "material.reserved").values(),
            *_events(probe, "material.shortage").values(),
        }
        return wanted <= approved and wanted <= answered


@dataclass(frozen=True)
class Reckoning:
    approvals: int
    answers: int
    reserved: int
    repeated_on_the_wire: int  # same event id seen again: a publish retried


def _events(probe: EventProbe, event_type: str) -> dict[str, str]:
    """event id → proposal id, of the distinct events of that type the probe saw."""
    found = {}
    for message in probe.of_type(event_type):
        envelope = json.loads(message.body)
        found[envelope["event_id"]] = envelope["data"]["proposal_id"]
    return found


async def is_ready(service: ServiceProcess) -> bool:
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            return (await http.get(f"{service.url}/ready")).status_code == 200
    except httpx.HTTPError:
        return False


async def until_ready(service: ServiceProcess, wanted: bool, within: float) -> float:
    """Seconds until the service's `/ready` says `wanted`."""
    started = time.monotonic()
    while await is_ready(service) is not wanted:
        assert time.monotonic() - started < within, (
            f"{service.name} /ready not {wanted} within {within}s:\n{service.log_tail()}"
        )
        await asyncio.sleep(0.25)
    return time.monotonic() - started
