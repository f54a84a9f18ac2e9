"""The audit trail against real MongoDB and RabbitMQ: one record per officer action, in
the action's transaction (none for a refused or failed one), read per proposal and per
officer through GET /audit."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from shared.identity import Actor
from shared.storage import audit
from shared.storage.unit_of_work import UnitOfWork
from tests.integration.test_proposals_work import fulfilled
from tests.support.infrastructure import Infrastructure
from tests.support.materials import MaterialsApi, receive_stock
from tests.support.notifications import notifications_api
from tests.support.people import (
    CITY_OFFICER,
    KECAMATAN,
    KECAMATAN_OFFICER,
    KELURAHAN,
    KELURAHAN_OFFICER,
    RESIDENT,
    RT_HEAD,
    SUPERVISOR,
    WAREHOUSE_OFFICER,
    auth,
)
from tests.support.probe import dead_letters_eventually
from tests.support.proposals import ProposalsApi, proposals_api
from tests.support.runtime import publish_raw

YEAR = 2026


@pytest_asyncio.fixture(loop_scope="session")
async def proposals(infra: Infrastructure, namespace: str) -> AsyncIterator[ProposalsApi]:
    async with proposals_api(infra, namespace) as ready:
        yield ready


async def records(db: Any, **wanted: Any) -> list[dict[str, Any]]:
    """The stored records that match, straight from the collection."""
    return [r async for r in db[audit.COLLECTION].find(wanted)]


async def read(
    api: httpx.AsyncClient, actor: Actor, expected: int = 200, **params: Any
) -> dict[str, Any]:
    response = await api.get("/audit", params=params, headers=auth(actor))
    assert response.status_code == expected, response.text
    body: dict[str, Any] = response.json()
    return body


# --------------------------------------------------------------------------------------------
# proposals
# --------------------------------------------------------------------------------------------


async def test_an_approval_leaves_exactly_one_record_naming_the_officer_and_the_proposal(
    proposals: ProposalsApi,
) -> None:
    await proposals.drive.set_ceiling(KECAMATAN, YEAR, 1_000_000_000)
    proposal_id = await proposals.drive.approved(year=YEAR, budget_idr=150_000_000)
    db = proposals.runtime.db

    approvals = await records(db, action="approve")
    assert len(approvals) == 1
    approval = approvals[0]
    assert approval["actor_id"] == CITY_OFFICER.id
    assert approval["role"] == "city_officer"
    assert approval["service"] == "proposals"
    assert (approval["target_kind"], approval["target_id"]) == ("proposal", proposal_id)
    assert approval["proposal_id"] == uuid.UUID(proposal_id)
    assert approval["details"]["budget_idr"] == 150_000_000
    assert approval["details"]["state"] == "approved"
    assert approval["correlation_id"]
    # the review before it, each once, by its officer; the RT head's submission is not
    by_action = {r["action"]: r["actor_id"] for r in await records(db)}
    assert by_action == {
        "set_budget_ceiling": CITY_OFFICER.id,
        "verify": KELURAHAN_OFFICER.id,
        "endorse": KECAMATAN_OFFICER.id,
        "approve": CITY_OFFICER.id,
    }
    verify = (await records(db, action="verify"))[0]
    assert verify["area"] == {
        "kecamatan": KECAMATAN,
        "kelurahan": KELURAHAN_OFFICER.kelurahan,
        "rt": None,
    }


async def test_a_refused_or_failed_command_leaves_no_record(proposals: ProposalsApi) -> None:
    proposal_id = await proposals.drive.submit()
    await proposals.drive.act(proposal_id, "verify")
    await proposals.drive.act(proposal_id, "endorse")
    api, db = proposals.api, proposals.runtime.db
    approve = {"budget_idr": 150_000_000, "fiscal_year": YEAR}

    # the wrong officer: refused before anything is written
    wrong = await api.post(
        f"/proposals/{proposal_id}/approve", json=approve, headers=auth(KECAMATAN_OFFICER)
    )
    assert wrong.status_code == 403, wrong.text
    # no ceiling for the year: the budget refuses it inside the transaction
    no_budget = await api.post(
        f"/proposals/{proposal_id}/approve", json=approve, headers=auth(CITY_OFFICER)
    )
    assert no_budget.status_code in (409, 422), no_budget.text
    # a rejection needs a reason
    reasonless = await api.post(
        f"/proposals/{proposal_id}/reject", json={}, headers=auth(CITY_OFFICER)
    )
    assert reasonless.status_code == 422, reasonless.text

    left = await records(db, proposal_id=uuid.UUID(proposal_id))
    assert sorted(r["action"] for r in left) == ["endorse", "verify"]


async def test_a_record_written_in_a_transaction_that_fails_is_rolled_back(
    proposals: ProposalsApi,
) -> None:
    """The record joins the transaction: whatever fails after it takes it back too."""

    class Boom(Exception):
        pass

    async def audited_then_failing(uow: UnitOfWork) -> None:
        await uow.audit(CITY_OFFICER, "approve", "proposal", "p-1", details={"x": 1})
        raise Boom

    with pytest.raises(Boom):
        await proposals.runtime.transactions.run(audited_then_failing, correlation_id="c")
    assert await records(proposals.runtime.db) == []

    async def audited(uow: UnitOfWork) -> None:
        await uow.audit(CITY_OFFICER, "approve", "proposal", "p-2")

    await proposals.runtime.transactions.run(audited, correlation_id="c-ok")
    assert [r["correlation_id"] for r in await records(proposals.runtime.db)] == ["c-ok"]


async def test_the_api_reads_per_proposal_and_per_officer_newest_first(
    proposals: ProposalsApi,
) -> None:
    await proposals.drive.set_ceiling(KECAMATAN, YEAR, 1_000_000_000)
    first = await proposals.drive.approved(year=YEAR, budget_idr=100_000_000)
    second = await proposals.drive.approved(year=YEAR, budget_idr=120_000_000)
    api = proposals.api

    of_first = await read(api, CITY_OFFICER, proposal_id=first)
    assert [r["action"] for r in of_first["items"]] == ["approve", "endorse", "verify"]
    assert {r["proposal_id"] for r in of_first["items"]} == {first}
    assert of_first["total"] == 3

    of_lurah = await read(api, CITY_OFFICER, officer=KELURAHAN_OFFICER.id)
    assert [r["target_id"] for r in of_lurah["items"]] == [second, first]
    assert {r["actor_id"] for r in of_lurah["items"]} == {KELURAHAN_OFFICER.id}

    approvals = await read(api, CITY_OFFICER, action="approve")
    assert [r["target_id"] for r in approvals["items"]] == [second, first]
    instants = [r["at"] for r in (await read(api, CITY_OFFICER))["items"]]
    assert instants == sorted(instants, reverse=True)

    # a time window: from the second approval on
    since = approvals["items"][0]["at"]
    assert [
        r["target_id"]
        for r in (await read(api, CITY_OFFICER, **{"from": since}))["items"]
        if r["action"] == "approve"
    ] == [second]
    assert (await read(api, CITY_OFFICER, until=since, action="approve"))["total"] == 1


async def test_an_officer_reads_only_their_own_actions_and_a_resident_none(
    proposals: ProposalsApi,
) -> None:
    await proposals.drive.set_ceiling(KECAMATAN, YEAR, 1_000_000_000)
    proposal_id = await proposals.drive.approved(year=YEAR)
    api = proposals.api

    own = await read(api, KELURAHAN_OFFICER)
    assert [(r["action"], r["actor_id"]) for r in own["items"]] == [
        ("verify", KELURAHAN_OFFICER.id)
    ]
    on_the_proposal = await read(api, KECAMATAN_OFFICER, proposal_id=proposal_id)
    assert [r["action"] for r in on_the_proposal["items"]] == ["endorse"]

    await read(api, KELURAHAN_OFFICER, 403, officer=CITY_OFFICER.id)
    refused = await read(api, RESIDENT, 403)
    assert "operators and officers" in refused["detail"]
    await read(api, RT_HEAD, 403, proposal_id=proposal_id)
    anonymous = await api.get("/audit")
    assert anonymous.status_code == 401


async def test_the_api_pages_without_overlap(proposals: ProposalsApi) -> None:
    for year in range(YEAR, YEAR + 5):
        await proposals.drive.set_ceiling(KECAMATAN, year, 1_000_000_000)
    api = proposals.api

    pages = [await read(api, CITY_OFFICER, page=n, page_size=2) for n in (1, 2, 3, 4)]
    assert [len(p["items"]) for p in pages] == [2, 2, 1, 0]
    assert {p["total"] for p in pages} == {5}
    seen = [r["target_id"] for p in pages for r in p["items"]]
    assert sorted(seen) == sorted(f"{KECAMATAN}/{year}" for year in range(YEAR, YEAR + 5))
    assert seen[0] == f"{KECAMATAN}/{YEAR + 4}"  # newest first

    for bad in ({"page": 0}, {"page_size": 201}, {"page": 10**9}, {"from": "2026-01-01T00:00"}):
        response = await api.get("/audit", params=bad, headers=auth(CITY_OFFICER))
        assert response.status_code == 422, (bad, response.text)


async def recorded(
    proposals: ProposalsApi, proposal_id: str, officer: Actor, action: str
) -> dict[str, Any]:
    """The one `action` record on the proposal, naming `officer`, also read through
    GET /audit per proposal (as the city) and per officer (as the officer themself)."""
    (record,) = await records(
        proposals.runtime.db, action=action, proposal_id=uuid.UUID(proposal_id)
    )
    assert (record["actor_id"], record["role"]) == (officer.id, officer.role.value)
    assert (record["target_kind"], record["target_id"]) == ("proposal", proposal_id)
    assert record["service"] == "proposals"
    assert record["correlation_id"]

    of_proposal = await read(proposals.api, CITY_OFFICER, proposal_id=proposal_id)
    assert {r["proposal_id"] for r in of_proposal["items"]} == {proposal_id}
    (through_api,) = [r for r in of_proposal["items"] if r["action"] == action]
    assert through_api["actor_id"] == officer.id
    assert through_api["id"] == str(record["id"])

    of_officer = await read(proposals.api, officer, officer=officer.id)
    assert {r["actor_id"] for r in of_officer["items"]} == {officer.id}
    assert (action, proposal_id) in [(r["action"], r["target_id"]) for r in of_officer["items"]]
    return record


async def test_a_rejection_is_recorded_with_its_reason(proposals: ProposalsApi) -> None:
    proposal_id = await proposals.drive.submit()
    await proposals.drive.act(proposal_id, "verify")
    await proposals.drive.act(proposal_id, "endorse")
    reason = "  The province already funds this lane in 2026.  "
    await proposals.drive.act(proposal_id, "reject", {"reason": reason})

    record = await recorded(proposals, proposal_id, CITY_OFFICER, "reject")
    assert record["details"] == {
        "state": "rejected",
        "previous": "endorsed",
        "reason": reason.strip(),  # as the timeline keeps it
    }
    of_proposal = await read(proposals.api, CITY_OFFICER, proposal_id=proposal_id)
    assert [r["action"] for r in of_proposal["items"]] == ["reject", "endorse", "verify"]


async def test_a_return_is_recorded_and_the_rt_heads_resubmission_is_not(
    proposals: ProposalsApi,
) -> None:
    proposal_id = await proposals.drive.submit()
    reason = "Add the lane's width at the mosque end."
    await proposals.drive.act(proposal_id, "return", {"reason": reason}, KELURAHAN_OFFICER)
    await proposals.drive.act(proposal_id, "resubmit")
    await proposals.drive.act(proposal_id, "verify")

    record = await recorded(proposals, proposal_id, KELURAHAN_OFFICER, "return")
    assert record["details"] == {"state": "returned", "previous": "submitted", "reason": reason}
    assert record["area"] == {
        "kecamatan": KECAMATAN,
        "kelurahan": KELURAHAN_OFFICER.kelurahan,
        "rt": None,
    }
    # the officer's own actions, newest first; the RT head's resubmission is in none
    own = await read(proposals.api, KELURAHAN_OFFICER)
    assert [(r["action"], r["target_id"]) for r in own["items"]] == [
        ("verify", proposal_id),
        ("return", proposal_id),
    ]
    assert await records(proposals.runtime.db, action="resubmit") == []


async def test_a_validation_of_completed_work_is_recorded(
    proposals: ProposalsApi, infra: Infrastructure, namespace: str
) -> None:
    await proposals.drive.set_ceiling(KECAMATAN, YEAR, 1_000_000_000)
    # approved, its materials fulfilled by an event from materials, as in the work tests
    proposal_id = await fulfilled(proposals, infra, namespace)
    await proposals.drive.act(proposal_id, "work/start")
    await proposals.drive.act(proposal_id, "work/complete", {"percent": 100})
    validated = await proposals.drive.act(proposal_id, "validate", {"reason": "handed over"})
    assert validated["state"] == "validated"

    record = await recorded(proposals, proposal_id, SUPERVISOR, "validate")
    assert record["details"] == {
        "state": "validated",
        "previous": "completed",
        "reason": "handed over",
    }
    # the officers' steps only: the RT head's start and completion are in the timeline
    of_proposal = await read(proposals.api, CITY_OFFICER, proposal_id=proposal_id)
    assert [r["action"] for r in of_proposal["items"]] == [
        "validate",
        "approve",
        "endorse",
        "verify",
    ]


# --------------------------------------------------------------------------------------------
# materials
# --------------------------------------------------------------------------------------------


async def test_a_dispatch_leaves_one_record_and_a_refused_one_none(
    materials: MaterialsApi,
) -> None:
    proposal_id = await materials.approved_road()
    db = materials.runtime.db
    assert [r["action"] for r in await records(db)] == ["receive_stock"]

    refused = await materials.api.post(
        f"/jobs/{proposal_id}/shipments",
        json={"warehouse": "Gudang Kota Jambi"},
        headers=auth(RT_HEAD),
    )
    assert refused.status_code == 403, refused.text
    unknown = await materials.dispatch(uuid.uuid4())
    assert unknown.status_code == 404, unknown.text
    assert await records(db, action="dispatch") == []

    response = await materials.dispatch(proposal_id)
    assert response.status_code == 201, response.text
    shipment = response.json()
    dispatches = await records(db, action="dispatch")
    assert len(dispatches) == 1
    record = dispatches[0]
    assert (record["actor_id"], record["role"]) == (WAREHOUSE_OFFICER.id, "warehouse_officer")
    assert (record["target_kind"], record["target_id"]) == ("shipment", shipment["id"])
    assert record["proposal_id"] == proposal_id
    assert record["service"] == "materials"
    assert any(line.startswith("cement 493") for line in record["details"]["lines"])

    own = await read(materials.api, WAREHOUSE_OFFICER, proposal_id=str(proposal_id))
    assert [r["action"] for r in own["items"]] == ["dispatch"]


async def test_a_stock_adjustment_is_recorded_with_its_reason(materials: MaterialsApi) -> None:
    await receive_stock(materials.api, {"sand": 10.0})
    response = await materials.api.post(
        "/stock/adjustments",
        json={
            "warehouse": "Gudang Kota Jambi",
            "item": "sand",
            "quantity": -1.5,
            "reason": "damaged_in_store",
            "note": "wet sacks",
        },
        headers=auth(WAREHOUSE_OFFICER),
    )
    assert response.status_code in (200, 201), response.text
    (record,) = await records(materials.runtime.db, action="adjust_stock")
    assert record["details"]["quantity"] == -1.5
    assert record["details"]["reason"] == "damaged_in_store"
    assert record["target_id"] == response.json()["id"]


# --------------------------------------------------------------------------------------------
# dead-letter administration (shared/web/app.py, every service)
# --------------------------------------------------------------------------------------------


async def test_a_dead_letter_replay_is_recorded_and_a_missing_one_is_not(
    infra: Infrastructure, namespace: str, materials: MaterialsApi
) -> None:
    await publish_raw(infra, namespace, "proposal.approved", b"{not json", message_id="bad-1")
    await publish_raw(infra, namespace, "proposal.approved", b"{not json", message_id="bad-2")
    await dead_letters_eventually(materials.runtime, 2)
    api, db = materials.api, materials.runtime.db

    peeked = await api.get("/admin/dead-letters", headers=auth(CITY_OFFICER))
    assert peeked.status_code == 200
    refused = await api.post("/admin/dead-letters/bad-1/replay", headers=auth(RESIDENT))
    assert refused.status_code == 403
    missing = await api.post("/admin/dead-letters/nothing/replay", headers=auth(CITY_OFFICER))
    assert missing.status_code == 404
    assert await records(db) == []  # peeking, refusals and misses leave nothing

    replayed = await api.post("/admin/dead-letters/bad-1/replay", headers=auth(CITY_OFFICER))
    assert replayed.status_code == 200, replayed.text
    (record,) = await records(db)
    assert (record["action"], record["target_kind"], record["target_id"]) == (
        "replay_dead_letter",
        "dead_letter",
        "bad-1",
    )
    assert record["actor_id"] == CITY_OFFICER.id
    assert record["correlation_id"] == replayed.headers["X-Correlation-ID"]

    # the replayed message fails again; a bulk replay takes both, in one record
    await dead_letters_eventually(materials.runtime, 2)
    # (limit 2: a message that fails again at once would come round again in the pass)
    bulk = await api.post(
        "/admin/dead-letters/replay",
        params={"limit": 2},
        json={"reason_contains": "invalid envelope"},
        headers=auth(CITY_OFFICER),
    )
    assert bulk.status_code == 200, bulk.text
    (bulk_record,) = await records(db, action="replay_dead_letters")
    assert bulk_record["details"]["replayed"] == len(bulk.json()["replayed"]) == 2
    assert bulk_record["details"]["message_ids"] == [
        letter["message_id"] for letter in bulk.json()["replayed"]
    ]
    assert bulk_record["details"]["reason_contains"] == "invalid envelope"


# --------------------------------------------------------------------------------------------
# notifications
# --------------------------------------------------------------------------------------------


async def test_directory_administration_is_recorded(infra: Infrastructure, namespace: str) -> None:
    async with notifications_api(infra, namespace) as (runtime, api):
        entry = {"role": "kelurahan_officer", "kecamatan": KECAMATAN, "kelurahan": KELURAHAN}
        refused = await api.put("/people/ani", json=entry, headers=auth(RESIDENT))
        assert refused.status_code == 403
        put = await api.put("/people/ani", json=entry, headers=auth(CITY_OFFICER))
        assert put.status_code == 200, put.text
        removed = await api.delete("/people/ani", headers=auth(CITY_OFFICER))
        assert removed.status_code == 204, removed.text
        gone = await api.delete("/people/ani", headers=auth(CITY_OFFICER))
        assert gone.status_code == 404

        trail = await read(api, CITY_OFFICER, officer=CITY_OFFICER.id)
        assert [(r["action"], r["target_id"]) for r in trail["items"]] == [
            ("delete_person", "ani"),
            ("put_person", "ani"),
        ]
        assert {r["service"] for r in trail["items"]} == {"notifications"}
        assert len(await records(runtime.db)) == 2


async def test_webhook_administration_is_recorded_without_its_secret(
    infra: Infrastructure, namespace: str
) -> None:
    wanted = {"url": "https://93.184.215.14/hooks/berdaya", "events": ["*"]}
    async with notifications_api(infra, namespace) as (runtime, api):
        refused = await api.post(
            "/webhooks",
            json={**wanted, "url": "https://127.0.0.1/hook"},
            headers=auth(CITY_OFFICER),
        )
        assert refused.status_code == 422, refused.text
        forbidden = await api.post("/webhooks", json=wanted, headers=auth(WAREHOUSE_OFFICER))
        assert forbidden.status_code == 403, forbidden.text
        assert await records(runtime.db) == []

        created = await api.post("/webhooks", json=wanted, headers=auth(CITY_OFFICER))
        assert created.status_code == 201, created.text
        endpoint_id = created.json()["endpoint"]["id"]
        secret = created.json().get("secret")  # shown once, to the operator
        removed = await api.delete(f"/webhooks/{endpoint_id}", headers=auth(CITY_OFFICER))
        assert removed.status_code == 204, removed.text

        trail = await read(api, CITY_OFFICER)
        assert [(r["action"], r["target_kind"], r["target_id"]) for r in trail["items"]] == [
            ("delete_webhook", "webhook_endpoint", endpoint_id),
            ("create_webhook", "webhook_endpoint", endpoint_id),
        ]
        assert trail["items"][1]["details"]["host"] == "93.184.215.14"
        stored = str(await records(runtime.db))
        assert "secret" not in stored and (not secret or secret not in stored)
