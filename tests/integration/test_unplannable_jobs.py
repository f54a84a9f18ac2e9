"""No flow hangs on a business refusal, against real RabbitMQ and MongoDB: materials
answers an approval it cannot plan with `material.unplannable` (no dead letter); the
proposals service blocks the job, releases its budget, and lets the city return it or
cancel it; drafts that break the shared work rules are refused before anyone approves;
operators see the flows that stopped moving."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import pytest_asyncio

from shared.contracts import new_envelope
from shared.contracts.events import MaterialUnplannableV2
from shared.contracts.types import Area, Dimensions
from tests.support.events import proposal_approved
from tests.support.infrastructure import Infrastructure
from tests.support.materials import MaterialsApi, emitted
from tests.support.people import CITY_OFFICER, KELURAHAN, RT_HEAD, auth, road_proposal
from tests.support.probe import EventProbe, until_async
from tests.support.proposals import ProposalsApi
from tests.support.runtime import asgi_client, publish_envelope, running_service

CULVERT = Dimensions(length_m=6, width_m=1, thickness_m=0.2, depth_m=1)
CULVERT_JSON = CULVERT.model_dump()
REFUSAL = "cannot compute the bill of materials: unknown grade 'K-175' for culvert; allowed: K-225"


@pytest_asyncio.fixture(loop_scope="session")
async def proposals(infra: Infrastructure, namespace: str) -> AsyncIterator[ProposalsApi]:
    # approved jobs count as stuck after 1 s here, so the stuck view can be seen
    async with (
        running_service(
            "proposals", infra, namespace, stuck_after_hours={"approved": 1 / 3600}
        ) as (runtime, app),
        asgi_client(app, "http://proposals") as api,
    ):
        ready = ProposalsApi(runtime, api)
        await ready.drive.set_ceiling("Telanaipura", 2026, 1_000_000_000)
        yield ready


async def reserved_of(setup: ProposalsApi) -> int:
    response = await setup.api.get("/budgets", params={"year": 2026})
    assert response.status_code == 200, response.text
    [budget] = [b for b in response.json() if b["kecamatan"] == "Telanaipura"]
    reserved: int = budget["reserved_idr"]
    return reserved


async def unplannable(infra: Infrastructure, namespace: str, proposal_id: str) -> None:
    data = MaterialUnplannableV2(
        proposal_id=uuid.UUID(proposal_id),
        area=Area(kecamatan="Telanaipura", kelurahan=KELURAHAN, rt="003"),
        proposer_id=RT_HEAD.id,
        public=True,
        reason=REFUSAL,
        work_type="concrete_road",
        dimensions=Dimensions(length_m=150, width_m=4, thickness_m=0.12),
        concrete_grade="K-175",
        allowed_grades=("K-175", "K-225"),
    )
    envelope = new_envelope(data, producer="materials", correlation_id="unplannable")
    await publish_envelope(infra, namespace, envelope)


async def blocked(setup: ProposalsApi, proposal_id: str) -> None:
    await until_async(
        lambda: setup.drive.state_of(proposal_id), lambda s: s == "blocked", what="blocked"
    )


# --------------------------------------------------------------------------------------------
# materials: the refusal is an event, not a dead letter
# --------------------------------------------------------------------------------------------


async def test_materials_answers_an_approval_it_cannot_plan_with_material_unplannable(
    infra: Infrastructure, namespace: str, materials: MaterialsApi
) -> None:
    approved = proposal_approved(work_type="culvert", dimensions=CULVERT, concrete_grade="K-175")
    async with EventProbe(infra.amqp_url, namespace, ["material.*"]) as probe:
        await publish_envelope(
            infra, namespace, new_envelope(approved, producer="proposals", correlation_id="k175")
        )
        await probe.wait_for(lambda: bool(probe.of_type("material.unplannable")), what="refusal")
    [message] = probe.of_type("material.unplannable")
    data = json.loads(message.body)["data"]
    assert data["proposal_id"] == str(approved.proposal_id)
    assert data["reason"] == REFUSAL
    assert (data["work_type"], data["concrete_grade"], data["allowed_grades"]) == (
        "culvert",
        "K-175",
        ["K-225"],
    )
    assert probe.of_type("material.reserved") == probe.of_type("material.shortage") == []
    assert await materials.runtime.dead_letters.peek() == []
    assert await emitted(materials.runtime, "material.reserved") == []


async def test_a_corrected_approval_of_the_same_job_is_planned(
    infra: Infrastructure, namespace: str, materials: MaterialsApi
) -> None:
    """Returned, corrected and approved again: the refusal left nothing in the way."""
    first = proposal_approved(work_type="culvert", dimensions=CULVERT, concrete_grade="K-175")
    again = first.model_copy(update={"concrete_grade": "K-225"})
    async with EventProbe(infra.amqp_url, namespace, ["material.*"]) as probe:
        for data in (first, again):
            envelope = new_envelope(data, producer="proposals", correlation_id="k225")
            await publish_envelope(infra, namespace, envelope)
        await probe.wait_for(lambda: bool(probe.of_type("material.shortage")), what="planned")
    assert len(probe.of_type("material.unplannable")) == 1
    assert (await materials.job(first.proposal_id))["norm"] == "K-225"
    assert await materials.runtime.dead_letters.peek() == []


# --------------------------------------------------------------------------------------------
# proposals: blocked, budget released, the city decides
# --------------------------------------------------------------------------------------------


async def test_an_unplannable_job_is_blocked_and_its_budget_released(
    infra: Infrastructure, namespace: str, proposals: ProposalsApi
) -> None:
    proposal_id = await proposals.drive.approved(budget_idr=90_000_000)
    assert await reserved_of(proposals) == 90_000_000
    await unplannable(infra, namespace, proposal_id)
    await blocked(proposals, proposal_id)
    assert await reserved_of(proposals) == 0
    view = (await proposals.api.get(f"/proposals/{proposal_id}", headers=auth(CITY_OFFICER))).json()
    assert view["proposal"]["timeline"][-1]["reason"] == REFUSAL
    assert view["allowed_actions"] == ["return", "cancel"]
    # a second copy of the refusal (another event id) changes nothing
    await unplannable(infra, namespace, proposal_id)
    # the city returns it for correction; the RT corrects and resubmits; approved again
    await proposals.drive.act(proposal_id, "return", {"reason": "use K-225"}, CITY_OFFICER)
    assert await proposals.drive.state_of(proposal_id) == "returned"
    corrected = road_proposal(concrete_grade="K-225")
    revised = await proposals.api.put(
        f"/proposals/{proposal_id}/draft", json=corrected, headers=auth(RT_HEAD)
    )
    assert revised.status_code == 200, revised.text
    assert revised.json()["proposal"]["draft"]["concrete_grade"] == "K-225"
    assert revised.json()["proposal"]["timeline"][-1]["reason"] == "changed: concrete_grade"
    await proposals.drive.act(proposal_id, "resubmit", {"reason": ""}, RT_HEAD)
    await proposals.drive.act(proposal_id, "verify")
    await proposals.drive.act(proposal_id, "endorse")
    body: dict[str, object] = {"budget_idr": 80_000_000, "fiscal_year": 2026}
    await proposals.drive.act(proposal_id, "approve", body)
    assert await reserved_of(proposals) == 80_000_000
    assert await proposals.runtime.dead_letters.peek() == []


async def test_the_city_cancels_a_blocked_job_and_no_budget_is_released_twice(
    infra: Infrastructure, namespace: str, proposals: ProposalsApi
) -> None:
    proposal_id = await proposals.drive.approved(budget_idr=70_000_000)
    await unplannable(infra, namespace, proposal_id)
    await blocked(proposals, proposal_id)
    await proposals.drive.act(proposal_id, "cancel", {"reason": "not needed"}, CITY_OFFICER)
    assert await proposals.drive.state_of(proposal_id) == "cancelled"
    assert await reserved_of(proposals) == 0
    assert await proposals.runtime.dead_letters.peek() == []


async def test_a_draft_the_work_rules_refuse_is_refused_naming_the_allowed_grades(
    proposals: ProposalsApi,
) -> None:
    body = {
        "title": "Gorong-gorong Gang Mawar",
        "area": {"kecamatan": "Telanaipura", "kelurahan": KELURAHAN, "rt": "003"},
        "work_type": "culvert",
        "dimensions": CULVERT_JSON,
        "concrete_grade": "K-175",
        "location": {"lat": -1.6105, "lng": 103.5912},
        "problem": "The lane floods where the ditch crosses it every rainy season.",
        "households_served": 30,
        "estimated_cost_idr": 60_000_000,
    }
    response = await proposals.api.post("/proposals", json=body, headers=auth(RT_HEAD))
    assert response.status_code == 422, response.text
    assert "unknown grade 'K-175' for culvert; allowed: K-225" in response.text


# --------------------------------------------------------------------------------------------
# operators: the flows that stopped moving
# --------------------------------------------------------------------------------------------


async def test_the_stuck_view_lists_an_approved_job_materials_never_answered(
    proposals: ProposalsApi,
) -> None:
    proposal_id = await proposals.drive.approved(budget_idr=10_000_000)

    async def stuck() -> list[dict[str, object]]:
        response = await proposals.api.get(
            "/admin/stuck-proposals", params={"page_size": 100}, headers=auth(CITY_OFFICER)
        )
        assert response.status_code == 200, response.text
        return [i for i in response.json()["items"] if i["proposal_id"] == proposal_id]

    [item] = await until_async(stuck, lambda found: len(found) == 1, what="stuck")
    assert item["state"] == "approved"
    assert str(item["waits_for"]).startswith("the materials service: no reservation")
    assert item["threshold_hours"] == 1 / 3600
    refused = await proposals.api.get("/admin/stuck-proposals", headers=auth(RT_HEAD))
    assert refused.status_code == 403
