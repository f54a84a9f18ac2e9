"""Reads against real MongoDB: the public view and CSV without personal data, scoped and
filtered lists with pages, the full timeline, and per-kecamatan totals."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest_asyncio

from shared.contracts import new_envelope
from tests.support.events import material_fulfilled
from tests.support.infrastructure import Infrastructure
from tests.support.people import (
    CITY_OFFICER,
    KECAMATAN_OFFICER,
    KELURAHAN_OFFICER,
    OTHER_KECAMATAN_OFFICER,
    OTHER_KELURAHAN_OFFICER,
    OTHER_RT_HEAD,
    RESIDENT,
    RT_HEAD,
    auth,
)
from tests.support.probe import until_async
from tests.support.proposals import ProposalsApi, proposals_api
from tests.support.runtime import publish_envelope

THIS_YEAR = datetime.now(UTC).year
RT_004 = {"kecamatan": "Telanaipura", "kelurahan": "Simpang IV Sipin", "rt": "004"}
DRAIN: dict[str, Any] = {
    "work_type": "drain",
    "concrete_grade": None,
    "dimensions": {"length_m": 80, "width_m": 0.6, "thickness_m": 0.2, "depth_m": 0.8},
}
PEOPLE = (RT_HEAD, OTHER_RT_HEAD, KELURAHAN_OFFICER, KECAMATAN_OFFICER, CITY_OFFICER)


@pytest_asyncio.fixture(loop_scope="session")
async def setup(infra: Infrastructure, namespace: str) -> AsyncIterator[ProposalsApi]:
    async with proposals_api(infra, namespace) as ready:
        yield ready


async def some_of_each(setup: ProposalsApi) -> dict[str, str]:
    """submitted, verified, withdrawn (RT 003 roads), a verified drain, an RT 004 road."""
    drive = setup.drive
    found = {
        "submitted": await drive.submit(),
        "verified": await drive.submit(),
        "withdrawn": await drive.submit(),
        "drain": await drive.submit(**DRAIN),
        "rt004": await drive.submit(OTHER_RT_HEAD, area=RT_004),
    }
    for name in ("verified", "drain", "rt004"):
        await drive.act(found[name], "verify")
    await drive.act(found["withdrawn"], "verify")
    await drive.act(found["withdrawn"], "withdraw")
    return found


def ids(page: dict[str, Any]) -> set[str]:
    return {item["id"] for item in page["items"]}


# --------------------------------------------------------------------------------------------
# Public
# --------------------------------------------------------------------------------------------


async def test_the_public_reads_published_proposals_without_personal_data(
    setup: ProposalsApi,
) -> None:
    made = await some_of_each(setup)
    page = (await setup.api.get("/public/proposals")).json()
    assert ids(page) == {made["verified"], made["drain"], made["rt004"]}
    assert page["total"] == 3
    text = (await setup.api.get("/public/proposals")).text
    for person in (*PEOPLE, RESIDENT):
        assert person.id not in text
    assert "proposer_id" not in text
    one = await setup.api.get(f"/public/proposals/{made['verified']}")
    assert one.status_code == 200
    assert [e["kind"] for e in one.json()["timeline"]] == ["submitted", "transition"]
    assert one.json()["timeline"][1]["actor_role"] == "kelurahan_officer"


async def test_an_unpublished_proposal_is_not_found_publicly(setup: ProposalsApi) -> None:
    made = await some_of_each(setup)
    for name in ("submitted", "withdrawn"):
        response = await setup.api.get(f"/public/proposals/{made[name]}")
        assert response.status_code == 404
        assert response.json()["detail"] == f"no published proposal {made[name]}"
    absent = uuid.uuid4()
    assert (await setup.api.get(f"/public/proposals/{absent}")).status_code == 404


async def test_asking_the_public_list_for_an_unpublished_state_is_422(setup: ProposalsApi) -> None:
    response = await setup.api.get("/public/proposals", params={"state": "submitted"})
    assert response.status_code == 422
    assert "submitted proposals are not published" in response.json()["detail"]


async def test_the_csv_export_holds_the_published_proposals_public_fields(
    setup: ProposalsApi,
) -> None:
    made = await some_of_each(setup)
    response = await setup.api.get("/public/proposals.csv", params={"work_type": "concrete_road"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert {r["id"] for r in rows} == {made["verified"], made["rt004"]}
    assert {r["rt"] for r in rows} == {"003", "004"}
    assert all(r["state"] == "verified" and r["length_m"] == "150" for r in rows)
    for person in PEOPLE:
        assert person.id not in response.text


# --------------------------------------------------------------------------------------------
# Lists for the people who act
# --------------------------------------------------------------------------------------------


async def test_lists_filter_by_area_state_year_and_work_type(setup: ProposalsApi) -> None:
    made = await some_of_each(setup)

    async def listed(**params: Any) -> set[str]:
        response = await setup.api.get("/proposals", params=params, headers=auth(CITY_OFFICER))
        assert response.status_code == 200, response.text
        return ids(response.json())

    assert await listed() == set(made.values())
    assert await listed(rt="004") == {made["rt004"]}
    assert await listed(kecamatan="Jelutung") == set()
    assert await listed(state="verified") == {made["verified"], made["drain"], made["rt004"]}
    assert await listed(state="withdrawn") == {made["withdrawn"]}
    assert await listed(work_type="drain") == {made["drain"]}
    assert await listed(year=THIS_YEAR) == set(made.values())
    assert await listed(year=THIS_YEAR - 1) == set()
    assert await listed(
        kelurahan="Simpang IV Sipin", state="verified", work_type="concrete_road"
    ) == {
        made["verified"],
        made["rt004"],
    }


async def test_the_year_of_an_approved_job_is_its_fiscal_year(setup: ProposalsApi) -> None:
    await setup.drive.set_ceiling("Telanaipura", THIS_YEAR + 1, 500_000_000)
    approved = await setup.drive.approved(year=THIS_YEAR + 1)
    submitted = await setup.drive.submit()
    for year, expected in ((THIS_YEAR + 1, {approved}), (THIS_YEAR, {submitted})):
        page = await setup.api.get("/proposals", params={"year": year}, headers=auth(CITY_OFFICER))
        assert ids(page.json()) == expected


async def test_lists_come_in_pages_newest_first(setup: ProposalsApi) -> None:
    made = [await setup.drive.submit() for _ in range(5)]
    seen: list[dict[str, Any]] = []
    for page in (1, 2, 3):
        response = await setup.api.get(
            "/proposals", params={"page": page, "page_size": 2}, headers=auth(KELURAHAN_OFFICER)
        )
        body = response.json()
        assert (body["total"], body["page"], body["page_size"]) == (5, page, 2)
        assert len(body["items"]) == (2 if page < 3 else 1)
        seen += body["items"]
    assert sorted(item["id"] for item in seen) == sorted(made)  # no overlap, none missed
    created = [item["created_at"] for item in seen]
    assert created == sorted(created, reverse=True)


async def test_each_person_lists_only_their_own_area(setup: ProposalsApi) -> None:
    made = await some_of_each(setup)

    async def listed(actor: Any, **params: Any) -> httpx.Response:
        return await setup.api.get("/proposals", params=params, headers=auth(actor))

    assert ids((await listed(RT_HEAD)).json()) == set(made.values()) - {made["rt004"]}
    assert ids((await listed(OTHER_RT_HEAD)).json()) == {made["rt004"]}
    assert ids((await listed(KECAMATAN_OFFICER)).json()) == set(made.values())
    assert ids((await listed(OTHER_KELURAHAN_OFFICER)).json()) == set()
    elsewhere = await listed(OTHER_KECAMATAN_OFFICER, kecamatan="Telanaipura")
    assert elsewhere.status_code == 403
    assert "you act for kecamatan Jelutung" in elsewhere.json()["detail"]
    other_rt = await listed(RT_HEAD, rt="004")
    assert other_rt.status_code == 403
    resident = await listed(RESIDENT)
    assert resident.status_code == 403
    assert "/public/proposals" in resident.json()["detail"]


async def test_a_proposal_outside_your_area_is_404_and_a_resident_is_sent_to_public(
    setup: ProposalsApi,
) -> None:
    made = await some_of_each(setup)
    outside = await setup.api.get(
        f"/proposals/{made['verified']}", headers=auth(OTHER_KELURAHAN_OFFICER)
    )
    assert outside.status_code == 404
    assert outside.json()["detail"] == f"no proposal {made['verified']}"
    assert (
        await setup.api.get(f"/proposals/{made['verified']}/timeline", headers=auth(OTHER_RT_HEAD))
    ).status_code == 404
    resident = await setup.api.get(f"/proposals/{made['verified']}", headers=auth(RESIDENT))
    assert resident.status_code == 403
    assert f"/public/proposals/{made['verified']}" in resident.json()["detail"]


async def test_the_view_lists_what_the_caller_may_do_next(setup: ProposalsApi) -> None:
    proposal_id = await setup.drive.submit()

    async def yours(actor: Any) -> list[str]:
        response = await setup.api.get(f"/proposals/{proposal_id}", headers=auth(actor))
        found: list[str] = response.json()["your_actions"]
        return found

    assert await yours(RT_HEAD) == ["withdraw"]
    assert await yours(KELURAHAN_OFFICER) == ["verify", "return"]
    assert await yours(KECAMATAN_OFFICER) == []  # waiting for the kelurahan


# --------------------------------------------------------------------------------------------
# Totals
# --------------------------------------------------------------------------------------------


async def test_per_kecamatan_totals_count_states_metres_budget_and_labour(
    setup: ProposalsApi, infra: Infrastructure, namespace: str
) -> None:
    drive = setup.drive
    await drive.set_ceiling("Telanaipura", 2026, 400_000_000)
    built = await drive.approved(budget_idr=150_000_000)
    await drive.approved(budget_idr=100_000_000)
    await drive.submit()
    fulfilment = new_envelope(
        material_fulfilled(uuid.UUID(built)), producer="materials", correlation_id="c"
    )
    await publish_envelope(infra, namespace, fulfilment)
    await until_async(lambda: drive.state_of(built), lambda s: s == "materials_fulfilled")
    await drive.act(built, "work/start")
    await drive.act(built, "work/progress", {"percent": 50, "volunteers": 30, "labour_days": 60})
    await drive.act(built, "work/complete", {"percent": 100, "volunteers": 25, "labour_days": 52.5})
    await drive.act(built, "validate")

    response = await setup.api.get("/public/kecamatan-totals", params={"year": 2026})
    assert response.status_code == 200
    totals = {row["kecamatan"]: row for row in response.json()}
    assert len(totals) == 11
    telanaipura = totals["Telanaipura"]
    # the plain submission belongs to the year it was made in
    submitted_this_year = 1 if THIS_YEAR == 2026 else 0
    assert telanaipura["proposals_by_state"] == {
        "approved": 1,
        "validated": 1,
        **({"submitted": 1} if submitted_this_year else {}),
    }
    assert telanaipura["metres_built"] == 150
    assert (
        telanaipura["ceiling_idr"],
        telanaipura["budget_used_idr"],
        telanaipura["budget_left_idr"],
    ) == (400_000_000, 250_000_000, 150_000_000)
    assert (telanaipura["volunteers_contributed"], telanaipura["labour_days_contributed"]) == (
        55,
        112.5,
    )
    assert totals["Jelutung"]["proposals"] == 0 and totals["Jelutung"]["ceiling_idr"] is None
