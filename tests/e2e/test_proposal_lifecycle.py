"""The whole participatory lifecycle through the proposals service running as a real
process, on real RabbitMQ and MongoDB: a budget ceiling, a submission retried with an
Idempotency-Key, a return for revision and its resubmission, an approval that reserves the
budget, a rejection with a public reason, a withdrawal, deliveries and fulfilment from the
materials side, gotong royong reported, a completion returned by the supervisor, validation
and hand-over — and every event on the wire, the public view, the CSV and the totals.

The materials service's part is played by publishing its events on the exchange, as any
system on the bus could: this test is about the proposals lifecycle, and does not depend on
how the warehouse fills its stock.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from shared.contracts import new_envelope
from shared.identity import Actor
from tests.support.events import material_delivered, material_dispatched, material_fulfilled
from tests.support.infrastructure import Infrastructure
from tests.support.people import (
    CITY_OFFICER,
    KECAMATAN_OFFICER,
    KELURAHAN_OFFICER,
    RT_HEAD,
    SUPERVISOR,
    auth,
    road_proposal,
)
from tests.support.probe import EventProbe, until_async
from tests.support.processes import ServiceProcess, start_service, wait_ready
from tests.support.runtime import publish_envelope

MILLION = 1_000_000
ROAD_A = "A: Rabat beton Gang Mawar"
DRAIN_B = {
    "title": "B: Saluran Gang Melati",
    "work_type": "drain",
    "concrete_grade": None,
    "dimensions": {"length_m": 80, "width_m": 0.6, "thickness_m": 0.2, "depth_m": 0.8},
    "location": {"lat": -1.6125, "lng": 103.5931, "description": "Gang Melati"},
}
EXPECTED_A = [
    "proposal.submitted",
    "proposal.verified",
    "proposal.returned",
    "proposal.resubmitted",
    "proposal.verified",
    "proposal.endorsed",
    "proposal.approved",
    "work.started",
    "work.progress_reported",  # 40 %
    "work.progress_reported",  # 80 % (the second 40 % report published nothing)
    "work.progress_reported",  # 100 %, with the completion
    "work.completed",
    "work.returned",
    "work.completed",
    "work.validated",
]
EXPECTED_B = [
    "proposal.submitted",
    "proposal.verified",
    "proposal.endorsed",
    "proposal.rejected",
]
EXPECTED_C = ["proposal.submitted", "proposal.withdrawn"]


@pytest.fixture
def proposals_process(
    infra: Infrastructure, namespace: str, tmp_path: Path
) -> Iterator[ServiceProcess]:
    service = start_service("proposals", infra, namespace, tmp_path)
    try:
        wait_ready(service)
        yield service
    finally:
        service.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def api(proposals_process: ServiceProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=proposals_process.url, timeout=10) as client:
        yield client


class Steps:
    def __init__(self, api: httpx.AsyncClient) -> None:
        self.api = api

    async def act(
        self, proposal_id: str, path: str, actor: Actor, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        response = await self.api.post(
            f"/proposals/{proposal_id}/{path}", json=body or {}, headers=auth(actor)
        )
        assert response.status_code == 200, f"{path}: {response.text}"
        proposal: dict[str, Any] = response.json()["proposal"]
        return proposal

    async def submit(self, key: str, **changes: Any) -> httpx.Response:
        return await self.api.post(
            "/proposals",
            json=road_proposal(**changes),
            headers={**auth(RT_HEAD), "Idempotency-Key": key},
        )

    async def state_of(self, proposal_id: str) -> str:
        response = await self.api.get(f"/proposals/{proposal_id}", headers=auth(RT_HEAD))
        state: str = response.json()["proposal"]["state"]
        return state


def types_for(probe: EventProbe, proposal_id: str) -> list[str]:
    return [
        str(m.routing_key)
        for m in probe.messages
        if json.loads(m.body)["data"]["proposal_id"] == proposal_id
    ]


async def test_the_whole_lifecycle_with_a_return_a_rejection_and_a_hand_over(
    api: httpx.AsyncClient, infra: Infrastructure, namespace: str
) -> None:
    steps = Steps(api)
    async with EventProbe(infra.amqp_url, namespace, ["proposal.*", "work.*"]) as probe:
        # The city sets Telanaipura's ceiling for 2026.
        ceiling = await api.put(
            "/budgets/Telanaipura/2026",
            json={"ceiling_idr": 300 * MILLION},
            headers=auth(CITY_OFFICER),
        )
        assert ceiling.status_code == 200, ceiling.text

        # A: submitted on a bad connection — the retry with the same key acts once.
        key = str(uuid.uuid4())
        first = await steps.submit(key, title=ROAD_A)
        retry = await steps.submit(key, title=ROAD_A)
        assert (first.status_code, retry.status_code) == (201, 201)
        assert retry.headers["Idempotent-Replay"] == "true"
        a = first.json()["proposal"]["id"]
        assert retry.json()["proposal"]["id"] == a

        # Reviewed: the kecamatan returns it for revision, the RT resubmits, all approve.
        await steps.act(a, "verify", KELURAHAN_OFFICER)
        revision = "Show where the water goes: add the drain outlet to the sketch."
        returned = await steps.act(a, "return", KECAMATAN_OFFICER, {"reason": revision})
        assert returned["state"] == "returned"
        await steps.act(a, "resubmit", RT_HEAD, {"reason": "outlet added (photo 3)"})
        await steps.act(a, "verify", KELURAHAN_OFFICER)
        await steps.act(a, "endorse", KECAMATAN_OFFICER)
        approved = await steps.act(
            a, "approve", CITY_OFFICER, {"budget_idr": 150 * MILLION, "fiscal_year": 2026}
        )
        assert (approved["state"], approved["budget_idr"]) == ("approved", 150 * MILLION)

        # B: a drain the city rejects with a public reason; C: withdrawn by the RT.
        b = (await steps.submit(str(uuid.uuid4()), **DRAIN_B)).json()["proposal"]["id"]
        await steps.act(b, "verify", KELURAHAN_OFFICER)
        await steps.act(b, "endorse", KECAMATAN_OFFICER)
        rejection = "The drain is on a provincial road; the province maintains it."
        await steps.act(b, "reject", CITY_OFFICER, {"reason": rejection})
        c = (await steps.submit(str(uuid.uuid4()), title="C: a second idea")).json()
        await steps.act(c["proposal"]["id"], "withdraw", RT_HEAD, {"reason": "merged into A"})

        # The warehouse ships, the RT confirms, everything arrived (the materials side).
        shipment = uuid.uuid4()
        for data in (
            material_dispatched(uuid.UUID(a), shipment),
            material_delivered(uuid.UUID(a), shipment),
            material_fulfilled(uuid.UUID(a)),
        ):
            envelope = new_envelope(data, producer="materials", correlation_id="warehouse")
            await publish_envelope(infra, namespace, envelope)
        await until_async(
            lambda: steps.state_of(a), lambda s: s == "materials_fulfilled", within=30
        )

        # Gotong royong: started, reported, completed, returned once, validated.
        await steps.act(a, "work/start", RT_HEAD)
        for percent, volunteers, days in ((40, 30, 60), (40, 12, 12), (80, 28, 56)):
            body = {
                "percent": percent,
                "note": f"{percent}% poured",
                "photos": [f"https://photos.example.org/a-{percent}-{volunteers}.jpg"],
                "volunteers": volunteers,
                "labour_days": days,
            }
            await steps.act(a, "work/progress", RT_HEAD, body)
        completion = {"percent": 100, "note": "150 m poured", "volunteers": 20, "labour_days": 30}
        await steps.act(a, "work/complete", RT_HEAD, completion)
        crumbling = "The last 10 m crumble at the edges; recast them."
        await steps.act(a, "work/return", SUPERVISOR, {"reason": crumbling})
        await steps.act(a, "work/complete", RT_HEAD, {"note": "10 m recast"})
        handed_over = await steps.act(a, "validate", SUPERVISOR, {"reason": "handed over"})
        assert handed_over["state"] == "validated"

        await probe.wait_for(
            lambda: len(probe.messages) >= len(EXPECTED_A + EXPECTED_B + EXPECTED_C),
            within=30,
            what="every event of the three proposals",
        )

    # Every event once, in the order it happened, each with what its consumers need.
    assert types_for(probe, a) == EXPECTED_A
    assert types_for(probe, b) == EXPECTED_B
    assert types_for(probe, c["proposal"]["id"]) == EXPECTED_C
    events = {m.routing_key: json.loads(m.body)["data"] for m in probe.messages}
    assert events["proposal.returned"]["reason"] == revision
    assert events["proposal.returned"]["level"] == "kecamatan"
    assert events["proposal.rejected"]["reason"] == rejection
    assert events["proposal.approved"]["budget_idr"] == 150 * MILLION
    assert events["work.returned"]["reason"] == crumbling
    completed = [json.loads(m.body)["data"] for m in probe.of_type("work.completed")]
    assert (completed[-1]["volunteers_total"], completed[-1]["labour_days_total"]) == (90, 158)

    # The timeline: every transition with its reason, the deliveries, every report.
    timeline = (await api.get(f"/proposals/{a}/timeline", headers=auth(RT_HEAD))).json()
    kinds = [e["kind"] for e in timeline]
    assert kinds.count("progress") == 4 and kinds.count("transition") == 12
    assert kinds.index("dispatched") < kinds.index("delivered")
    reasons = {(e["action"], e["reason"]) for e in timeline}
    assert {("return", revision), ("return_work", crumbling)} <= reasons

    # The public sees A and B (not the withdrawn C), with reasons, without persons.
    public = (await api.get("/public/proposals")).json()
    assert {p["id"] for p in public["items"]} == {a, b}
    rejected = (await api.get(f"/public/proposals/{b}")).json()
    assert (rejected["state"], rejected["timeline"][-1]["reason"]) == ("rejected", rejection)
    assert RT_HEAD.id not in json.dumps(public) and SUPERVISOR.id not in json.dumps(public)
    rows = list(csv.DictReader(io.StringIO((await api.get("/public/proposals.csv")).text)))
    assert {r["id"]: r["state"] for r in rows} == {a: "validated", b: "rejected"}

    # The kecamatan's figures: 150 m built, half the ceiling used, 158 labour days.
    totals = (await api.get("/public/kecamatan-totals", params={"year": 2026})).json()
    telanaipura = next(t for t in totals if t["kecamatan"] == "Telanaipura")
    assert telanaipura["metres_built"] == 150
    assert (telanaipura["budget_used_idr"], telanaipura["budget_left_idr"]) == (
        150 * MILLION,
        150 * MILLION,
    )
    assert telanaipura["labour_days_contributed"] == 158
    assert telanaipura["proposals_by_state"]["validated"] == 1
    assert telanaipura["proposals_by_state"]["rejected"] == 1
