"""From approval to hand-over against real MongoDB and RabbitMQ: deliveries and fulfilment
from the materials service, progress, completion at 100 %, validation or return, the
swadaya summed per job, and duplicate proposals flagged for the reviewers."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from shared.contracts import new_envelope
from tests.support.events import (
    material_delivered,
    material_dispatched,
    material_fulfilled,
)
from tests.support.infrastructure import Infrastructure
from tests.support.people import (
    KELURAHAN_OFFICER,
    RT_HEAD,
    SUPERVISOR,
    auth,
    road_proposal,
)
from tests.support.probe import EventProbe, dead_letters_eventually, until_async
from tests.support.proposals import ProposalsApi, proposals_api
from tests.support.runtime import publish_envelope


@pytest_asyncio.fixture(loop_scope="session")
async def setup(infra: Infrastructure, namespace: str) -> AsyncIterator[ProposalsApi]:
    async with proposals_api(infra, namespace) as ready:
        await ready.drive.set_ceiling("Telanaipura", 2026, 1_000_000_000)
        yield ready


async def from_materials(infra: Infrastructure, namespace: str, *events: Any) -> None:
    for data in events:
        envelope = new_envelope(data, producer="materials", correlation_id="materials-flow")
        await publish_envelope(infra, namespace, envelope)


async def fulfilled(setup: ProposalsApi, infra: Infrastructure, namespace: str) -> str:
    """An approved job whose materials all arrived."""
    proposal_id = await setup.drive.approved()
    await from_materials(infra, namespace, material_fulfilled(uuid.UUID(proposal_id)))
    await until_async(
        lambda: setup.drive.state_of(proposal_id),
        lambda state: state == "materials_fulfilled",
        what="materials_fulfilled",
    )
    return proposal_id


async def timeline(setup: ProposalsApi, proposal_id: str) -> list[dict[str, Any]]:
    response = await setup.api.get(f"/proposals/{proposal_id}/timeline", headers=auth(RT_HEAD))
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()
    return entries


def data_of(probe: EventProbe, event_type: str) -> list[dict[str, Any]]:
    return [json.loads(m.body)["data"] for m in probe.of_type(event_type)]


async def test_shipments_and_fulfilment_from_materials_reach_the_timeline(
    setup: ProposalsApi, infra: Infrastructure, namespace: str
) -> None:
    proposal_id = await setup.drive.approved()
    shipment = uuid.uuid4()
    pid = uuid.UUID(proposal_id)
    dispatched = material_dispatched(pid, shipment)
    await from_materials(
        infra, namespace, dispatched, dispatched, material_delivered(pid, shipment)
    )
    await from_materials(infra, namespace, material_fulfilled(pid))
    await until_async(
        lambda: timeline(setup, proposal_id),
        lambda found: (
            {"dispatched", "delivered"} <= {e["kind"] for e in found}
            and any(e["to_state"] == "materials_fulfilled" for e in found)
        ),
        what="deliveries and fulfilment in the timeline",
    )
    await until_async(
        lambda: setup.runtime.db["inbox"].count_documents({"type": "material.dispatched"}),
        lambda handled: handled == 2,
        what="both copies of the dispatch handled",
    )
    entries = await timeline(setup, proposal_id)
    deliveries = [e for e in entries if e["kind"] in ("dispatched", "delivered")]
    # the same shipment announced twice (a resend with a new event id) is recorded once
    assert [e["kind"] for e in deliveries] == ["dispatched", "delivered"]
    assert deliveries[0]["shipment_id"] == str(shipment)
    assert deliveries[0]["warehouse"] == "Gudang Kota Jambi"
    assert deliveries[0]["sent"] == [{"item": "cement", "unit": "bag", "quantity": 493.0}]
    received = deliveries[1]["received"][0]
    assert (received["received"], received["discrepancy_reason"]) == (490.0, "damaged")
    assert deliveries[1]["actor_id"] == RT_HEAD.id
    assert await setup.drive.state_of(proposal_id) == "materials_fulfilled"


async def test_a_shipment_for_an_unknown_proposal_is_dead_lettered(
    setup: ProposalsApi, infra: Infrastructure, namespace: str
) -> None:
    unknown = uuid.uuid4()
    event = material_dispatched(unknown, uuid.uuid4())
    envelope = new_envelope(event, producer="materials", correlation_id="c")
    await publish_envelope(infra, namespace, envelope)
    (letter,) = await dead_letters_eventually(setup.runtime, 1)
    assert letter.message_id == str(envelope.event_id)
    assert letter.reason == f"refused: no proposal {unknown}"


async def test_materials_fulfilled_for_a_cancelled_job_changes_nothing(
    setup: ProposalsApi, infra: Infrastructure, namespace: str
) -> None:
    proposal_id = await setup.drive.approved()
    await setup.drive.act(proposal_id, "cancel", {"reason": "the province builds it"})
    fulfilment = new_envelope(
        material_fulfilled(uuid.UUID(proposal_id)), producer="materials", correlation_id="c"
    )
    await publish_envelope(infra, namespace, fulfilment)
    await until_async(
        lambda: setup.runtime.db["inbox"].count_documents({"event_id": str(fulfilment.event_id)}),
        lambda count: count == 1,
        what="the fulfilment handled",
    )
    assert await setup.drive.state_of(proposal_id) == "cancelled"
    assert await setup.runtime.dead_letters.peek() == []


async def test_a_progress_event_only_when_the_percent_changes(
    setup: ProposalsApi, infra: Infrastructure, namespace: str
) -> None:
    proposal_id = await fulfilled(setup, infra, namespace)
    async with EventProbe(
        infra.amqp_url, namespace, ["work.started", "work.progress_reported"]
    ) as probe:
        await setup.drive.act(proposal_id, "work/start")
        for percent, volunteers in ((30, 20), (30, 15), (60, 25)):
            await setup.drive.act(
                proposal_id,
                "work/progress",
                {
                    "percent": percent,
                    "note": f"{percent}% poured",
                    "photos": [f"https://photos.example.org/{percent}-{volunteers}.jpg"],
                    "volunteers": volunteers,
                    "labour_days": volunteers * 2,
                },
            )
        lower = await setup.api.post(
            f"/proposals/{proposal_id}/work/progress",
            json={"percent": 45},
            headers=auth(RT_HEAD),
        )
        assert lower.status_code == 422
        assert "never goes down: it is 60% already, not 45%" in lower.json()["detail"]
        await probe.wait_for(lambda: len(probe.of_type("work.progress_reported")) == 2)
    reported = data_of(probe, "work.progress_reported")
    assert [(r["percent"], r["volunteers"], r["photos"]) for r in reported] == [
        (30, 20, ["https://photos.example.org/30-20.jpg"]),
        (60, 25, ["https://photos.example.org/60-25.jpg"]),
    ]
    assert await setup.runtime.db["outbox"].count_documents({"type": "work.progress_reported"}) == 2
    progress = [e for e in await timeline(setup, proposal_id) if e["kind"] == "progress"]
    assert [e["percent"] for e in progress] == [30, 30, 60]  # every report is kept


async def test_completion_needs_one_hundred_percent_and_sums_the_swadaya(
    setup: ProposalsApi, infra: Infrastructure, namespace: str
) -> None:
    proposal_id = await fulfilled(setup, infra, namespace)
    await setup.drive.act(proposal_id, "work/start")
    await setup.drive.act(
        proposal_id, "work/progress", {"percent": 60, "volunteers": 35, "labour_days": 70}
    )
    early = await setup.api.post(
        f"/proposals/{proposal_id}/work/complete", json={}, headers=auth(RT_HEAD)
    )
    assert early.status_code == 409
    assert "reported at 60%; report 100%" in early.json()["detail"]
    async with EventProbe(
        infra.amqp_url, namespace, ["work.progress_reported", "work.completed"]
    ) as probe:
        done = await setup.drive.act(
            proposal_id,
            "work/complete",
            {"note": "150 m poured", "percent": 100, "volunteers": 20, "labour_days": 45.5},
        )
        await probe.wait_for(lambda: len(probe.messages) == 2, what="progress then completion")
    assert done["state"] == "completed"
    assert [m.routing_key for m in probe.messages] == ["work.progress_reported", "work.completed"]
    (completed,) = data_of(probe, "work.completed")
    assert (completed["volunteers_total"], completed["labour_days_total"]) == (55, 115.5)
    assert completed["reported_by"] == RT_HEAD.id


async def test_a_final_report_without_its_percent_is_422(
    setup: ProposalsApi, infra: Infrastructure, namespace: str
) -> None:
    proposal_id = await fulfilled(setup, infra, namespace)
    await setup.drive.act(proposal_id, "work/start")
    response = await setup.api.post(
        f"/proposals/{proposal_id}/work/complete",
        json={"volunteers": 12},
        headers=auth(RT_HEAD),
    )
    assert response.status_code == 422
    assert "need its percent" in response.text


async def test_a_supervisor_returns_the_completion_with_a_reason_then_validates(
    setup: ProposalsApi, infra: Infrastructure, namespace: str
) -> None:
    proposal_id = await fulfilled(setup, infra, namespace)
    await setup.drive.act(proposal_id, "work/start")
    await setup.drive.act(proposal_id, "work/complete", {"percent": 100})
    not_the_rt = await setup.api.post(
        f"/proposals/{proposal_id}/validate", json={}, headers=auth(RT_HEAD)
    )
    assert not_the_rt.status_code == 403
    assert "only supervisor may validate" in not_the_rt.json()["detail"]
    async with EventProbe(
        infra.amqp_url, namespace, ["work.returned", "work.completed", "work.validated"]
    ) as probe:
        reason = "The slab edges crumble near the drain; recast 10 m."
        back = await setup.drive.act(proposal_id, "work/return", {"reason": reason})
        assert back["state"] == "in_progress"
        await setup.drive.act(proposal_id, "work/complete", {"note": "10 m recast"})
        validated = await setup.drive.act(proposal_id, "validate", {"reason": "handed over"})
        assert validated["state"] == "validated"
        await probe.wait_for(
            lambda: len(probe.messages) == 3, what="returned, completed, validated"
        )
    assert data_of(probe, "work.returned")[0]["reason"] == reason
    assert data_of(probe, "work.validated")[0]["validated_by"] == SUPERVISOR.id
    kinds = [(e["action"], e["reason"]) for e in await timeline(setup, proposal_id)]
    assert ("return_work", reason) in kinds
    assert kinds[-1] == ("validate", "handed over")


async def test_a_nearby_proposal_of_the_same_rt_and_work_is_flagged_not_refused(
    setup: ProposalsApi, infra: Infrastructure, namespace: str
) -> None:
    # the probe binds before the first submission: its event, published whenever the
    # relay gets to it, is then one of the four the probe waits for, never a fifth
    async with EventProbe(infra.amqp_url, namespace, ["proposal.submitted"]) as probe:
        first = await setup.drive.submit()
        near = await setup.api.post(
            "/proposals",
            json=road_nearby(metres_north=60),
            headers=auth(RT_HEAD),
        )
        assert near.status_code == 201
        far = await setup.drive.submit(
            location={"lat": -1.6105 + 0.01, "lng": 103.5912, "description": "1 km north"}
        )
        drain = await setup.drive.submit(
            work_type="drain",
            concrete_grade=None,
            dimensions={"length_m": 80, "width_m": 0.6, "thickness_m": 0.2, "depth_m": 0.8},
        )
        await probe.wait_for(lambda: len(probe.messages) == 4, what="four submissions")
    assert near.json()["proposal"]["possible_duplicates"] == [first]
    flags = {
        e["proposal_id"]: e["possible_duplicate_of"] for e in data_of(probe, "proposal.submitted")
    }
    assert flags == {first: [], near.json()["proposal"]["id"]: [first], far: [], drain: []}
    reviewer_view = await setup.api.get(
        f"/proposals/{near.json()['proposal']['id']}", headers=auth(KELURAHAN_OFFICER)
    )
    assert reviewer_view.json()["proposal"]["possible_duplicates"] == [first]


def road_nearby(metres_north: float) -> dict[str, Any]:
    return road_proposal(
        title="Rabat beton Gang Mawar ujung",
        location={"lat": -1.6105 + metres_north / 111_195, "lng": 103.5912},
    )
