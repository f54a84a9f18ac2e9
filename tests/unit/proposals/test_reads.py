"""What people read: the merged timeline, the public view, open-data rows, totals, scopes."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from services.proposals.domain.budget import Allocation, Budget
from services.proposals.domain.lifecycle import PUBLISHED_STATES, Action, State
from services.proposals.domain.model import MaterialShipment, ProgressReport, Proposal
from services.proposals.domain.reads import (
    CSV_COLUMNS,
    AreaFilter,
    StateFigures,
    csv_row,
    is_published,
    kecamatan_totals,
    public_view,
    scoped_filter,
    timeline_of,
)
from shared.errors import Forbidden
from shared.identity import Actor, Role
from tests.unit.proposals.builders import (
    CITY_OFFICER,
    KECAMATAN_OFFICER,
    KELURAHAN_OFFICER,
    NOW,
    REASON,
    RESIDENT,
    RT_HEAD,
    SUPERVISOR,
    draft,
    proposal_in,
)

LATER = NOW + timedelta(days=30)
SHIPMENT = uuid.UUID("0f7d0b8e-8d8f-4b0e-a8a8-2c6a1b9d3e22")


def built_with_everything() -> Proposal:
    """Approved at hour 3, materials on days 2 and 3, reports on days 10 and 12, done."""
    proposal = proposal_in(State.APPROVED)
    for status, day in (("dispatched", 2), ("delivered", 3)):
        proposal.record_delivery(
            MaterialShipment.model_validate(
                {
                    "shipment_id": SHIPMENT,
                    "status": status,
                    "at": NOW + timedelta(days=day),
                    "warehouse": "Gudang Kota Jambi" if status == "dispatched" else "",
                    "confirmed_by": RT_HEAD.id if status == "delivered" else None,
                    "sent": [{"item": "cement", "unit": "bag", "quantity": 493}],
                }
            )
        )
    proposal.record_materials_fulfilled(NOW + timedelta(days=3, hours=1))
    proposal.act(Action.START_WORK, RT_HEAD, NOW + timedelta(days=5))
    for percent, day, volunteers in ((40, 10, 30), (100, 12, 25)):
        report = ProgressReport(
            percent=percent,
            note=f"{percent}% poured",
            photos=(f"photo://day-{day}.jpg",),
            volunteers=volunteers,
            labour_days=volunteers * 2,
            reported_by=RT_HEAD.id,
            at=NOW + timedelta(days=day),
        )
        proposal.report_progress(report, RT_HEAD)
    proposal.act(Action.COMPLETE_WORK, RT_HEAD, NOW + timedelta(days=12), "done")
    return proposal


# --------------------------------------------------------------------------------------------
# Timeline
# --------------------------------------------------------------------------------------------


def test_the_timeline_holds_transitions_reports_and_deliveries_in_order() -> None:
    entries = timeline_of(built_with_everything())
    assert [(e.kind, e.action) for e in entries] == [
        ("submitted", None),
        ("transition", Action.VERIFY),
        ("transition", Action.ENDORSE),
        ("transition", Action.APPROVE),
        ("dispatched", None),
        ("delivered", None),
        ("transition", Action.RECORD_MATERIALS_FULFILLED),
        ("transition", Action.START_WORK),
        ("progress", Action.REPORT_PROGRESS),
        ("progress", Action.REPORT_PROGRESS),
        ("transition", Action.COMPLETE_WORK),
    ]
    assert [e.at for e in entries] == sorted(e.at for e in entries)


def test_a_progress_entry_carries_the_report() -> None:
    progress = [e for e in timeline_of(built_with_everything()) if e.kind == "progress"]
    assert [(e.percent, e.volunteers, e.labour_days) for e in progress] == [
        (40, 30, 60),
        (100, 25, 50),
    ]
    assert progress[0].photos == ("photo://day-10.jpg",)
    assert progress[0].reason == "40% poured"
    assert progress[0].actor_id == RT_HEAD.id


def test_a_delivery_entry_carries_the_shipment() -> None:
    entries = timeline_of(built_with_everything())
    dispatched = next(e for e in entries if e.kind == "dispatched")
    delivered = next(e for e in entries if e.kind == "delivered")
    assert (dispatched.shipment_id, dispatched.warehouse) == (SHIPMENT, "Gudang Kota Jambi")
    assert dispatched.sent[0].quantity == 493
    assert (delivered.actor_id, delivered.actor_role) == (RT_HEAD.id, Role.RT_HEAD)


def test_reasons_stay_in_the_timeline() -> None:
    proposal = proposal_in(State.RETURNED)
    assert timeline_of(proposal)[-1].reason == REASON


def test_the_public_timeline_has_roles_but_no_person() -> None:
    entries = timeline_of(built_with_everything(), public=True)
    assert all(e.actor_id is None for e in entries)
    assert Role.CITY_OFFICER in {e.actor_role for e in entries}


DRIVER_NOTE = "Truck BH 8123 KA, driver Pak Anton 0812-7000-1234, arriving 14:00"


def test_the_public_timeline_shows_deliveries_without_their_note() -> None:
    proposal = proposal_in(State.APPROVED)
    for status, day in (("dispatched", 2), ("delivered", 3)):
        proposal.record_delivery(
            MaterialShipment.model_validate(
                {
                    "shipment_id": SHIPMENT,
                    "status": status,
                    "at": NOW + timedelta(days=day),
                    "warehouse": "Gudang Kota Jambi",
                    "note": DRIVER_NOTE,
                    "sent": [{"item": "cement", "unit": "bag", "quantity": 493}],
                }
            )
        )
    internal = [e for e in timeline_of(proposal) if e.kind in {"dispatched", "delivered"}]
    assert [e.reason for e in internal] == [DRIVER_NOTE, DRIVER_NOTE]
    public = [
        e for e in timeline_of(proposal, public=True) if e.kind in {"dispatched", "delivered"}
    ]
    assert [(e.kind, e.at, e.reason) for e in public] == [
        ("dispatched", NOW + timedelta(days=2), ""),
        ("delivered", NOW + timedelta(days=3), ""),
    ]
    assert public[0].sent[0].quantity == 493
    assert public[0].warehouse == "Gudang Kota Jambi"
    assert DRIVER_NOTE not in public_view(proposal).model_dump_json()
    # the reasons of decisions stay public
    assert timeline_of(proposal_in(State.RETURNED), public=True)[-1].reason == REASON


# --------------------------------------------------------------------------------------------
# Public view
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(State))
def test_published_means_from_verification_on_and_not_withdrawn(state: State) -> None:
    published = state not in {State.SUBMITTED, State.RETURNED, State.WITHDRAWN}
    assert (state in PUBLISHED_STATES) is published


def test_is_published_follows_the_state() -> None:
    assert not is_published(proposal_in(State.SUBMITTED))
    assert is_published(proposal_in(State.VERIFIED))
    assert is_published(proposal_in(State.REJECTED))
    assert not is_published(proposal_in(State.WITHDRAWN))


def test_the_public_view_holds_no_personal_data() -> None:
    proposal = built_with_everything()
    proposal.draft = proposal.draft.model_copy(update={"attachments": ("ktp://budi.jpg",)})
    text = public_view(proposal).model_dump_json()
    for person in (RT_HEAD, KELURAHAN_OFFICER, KECAMATAN_OFFICER, CITY_OFFICER, SUPERVISOR):
        assert person.id not in text
    assert "proposer" not in text
    assert "ktp://" not in text


def test_the_public_view_shows_what_reviewers_and_the_public_need() -> None:
    view = public_view(built_with_everything())
    assert view.title == draft().title
    assert view.area == draft().area
    assert (view.state, view.percent_done) == (State.COMPLETED, 100)
    assert (view.budget_idr, view.fiscal_year, view.programme_year) == (150_000_000, 2026, 2026)
    assert (view.volunteers_contributed, view.labour_days_contributed) == (55, 110)
    assert view.swadaya_pledged.volunteers == 40


# --------------------------------------------------------------------------------------------
# Open data
# --------------------------------------------------------------------------------------------


def test_a_csv_row_has_one_value_per_column() -> None:
    row = dict(zip(CSV_COLUMNS, csv_row(public_view(built_with_everything())), strict=True))
    assert row["kecamatan"] == "Telanaipura"
    assert row["rt"] == "003"
    assert (row["length_m"], row["width_m"], row["thickness_m"], row["depth_m"]) == (
        "150",
        "4",
        "0.12",
        "",
    )
    assert (row["lat"], row["lng"]) == ("-1.610500", "103.591200")
    assert (row["state"], row["percent_done"], row["budget_idr"]) == (
        "completed",
        "100",
        "150000000",
    )
    assert (row["volunteers_contributed"], row["labour_days_contributed"]) == ("55", "110")


@pytest.mark.parametrize("start", ["=", "+", "-", "@"])
def test_free_text_cannot_become_a_spreadsheet_formula(start: str) -> None:
    proposal = proposal_in(State.VERIFIED)
    proposal.draft = proposal.draft.model_copy(
        update={"title": f"{start}HYPERLINK(evil)", "problem": f"{start}1+1 every rainy season"}
    )
    row = dict(zip(CSV_COLUMNS, csv_row(public_view(proposal)), strict=True))
    assert row["title"] == f"'{start}HYPERLINK(evil)"
    assert row["problem"].startswith(f"'{start}")
    assert row["lat"].startswith("-")  # numbers are left alone


# --------------------------------------------------------------------------------------------
# Per-kecamatan totals
# --------------------------------------------------------------------------------------------


def figures(state: State, count: int, length: float, volunteers: int, days: float) -> StateFigures:
    return StateFigures("Telanaipura", state, count, length, volunteers, days)


def test_totals_list_every_kecamatan_with_zeros_where_nothing_happened() -> None:
    totals = kecamatan_totals(2026, ["Telanaipura", "Jelutung"], [], [])
    assert [t.kecamatan for t in totals] == ["Jelutung", "Telanaipura"]
    assert all(t.proposals == 0 and t.ceiling_idr is None for t in totals)
    assert all(t.budget_used_idr == 0 and t.budget_left_idr is None for t in totals)


def test_totals_sum_states_metres_built_budget_and_swadaya() -> None:
    budget = Budget.allocate(
        "Telanaipura",
        2026,
        Allocation(ceiling_idr=500_000_000, by=CITY_OFFICER.id, source="http", at=NOW),
    )
    budget.reserve(300_000_000)
    rows = [
        figures(State.SUBMITTED, 3, 400, 0, 0),
        figures(State.IN_PROGRESS, 1, 100, 20, 40.5),
        figures(State.VALIDATED, 2, 270.5, 60, 130),
    ]
    (totals,) = kecamatan_totals(2026, ["Telanaipura"], rows, [budget])
    assert totals.proposals == 6
    assert totals.proposals_by_state == {
        State.IN_PROGRESS: 1,
        State.SUBMITTED: 3,
        State.VALIDATED: 2,
    }
    assert totals.metres_built == 270.5  # only what was handed over
    assert (totals.ceiling_idr, totals.budget_used_idr, totals.budget_left_idr) == (
        500_000_000,
        300_000_000,
        200_000_000,
    )
    assert (totals.volunteers_contributed, totals.labour_days_contributed) == (80, 170.5)


def test_totals_ignore_a_budget_of_another_year() -> None:
    other_year = Budget.allocate(
        "Telanaipura",
        2025,
        Allocation(ceiling_idr=1, by=CITY_OFFICER.id, source="http", at=NOW),
    )
    (totals,) = kecamatan_totals(2026, ["Telanaipura"], [], [other_year])
    assert totals.ceiling_idr is None


# --------------------------------------------------------------------------------------------
# Who lists what
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        (RT_HEAD, AreaFilter(kecamatan="Telanaipura", kelurahan="Simpang IV Sipin", rt="003")),
        (KELURAHAN_OFFICER, AreaFilter(kecamatan="Telanaipura", kelurahan="Simpang IV Sipin")),
        (KECAMATAN_OFFICER, AreaFilter(kecamatan="Telanaipura")),
        (CITY_OFFICER, AreaFilter()),
        (SUPERVISOR, AreaFilter()),
    ],
)
def test_a_list_is_narrowed_to_the_callers_area(actor: Actor, expected: AreaFilter) -> None:
    assert scoped_filter(actor, AreaFilter()) == expected


def test_a_narrower_filter_inside_the_area_is_kept() -> None:
    wanted = AreaFilter(kelurahan="Simpang IV Sipin", rt="007")
    assert scoped_filter(KECAMATAN_OFFICER, wanted) == AreaFilter(
        kecamatan="Telanaipura", kelurahan="Simpang IV Sipin", rt="007"
    )
    assert scoped_filter(CITY_OFFICER, AreaFilter(kecamatan="Jelutung")) == AreaFilter(
        kecamatan="Jelutung"
    )


@pytest.mark.parametrize(
    ("actor", "wanted", "message"),
    [
        (KECAMATAN_OFFICER, AreaFilter(kecamatan="Jelutung"), "kecamatan Telanaipura"),
        (KELURAHAN_OFFICER, AreaFilter(kelurahan="Pematang Sulur"), "kelurahan Simpang IV Sipin"),
        (RT_HEAD, AreaFilter(rt="004"), "rt 003; proposals of rt 004"),
    ],
)
def test_asking_for_another_area_is_forbidden(
    actor: Actor, wanted: AreaFilter, message: str
) -> None:
    with pytest.raises(Forbidden, match=message):
        scoped_filter(actor, wanted)


def test_a_resident_lists_the_public_proposals_instead() -> None:
    with pytest.raises(Forbidden, match="/public/proposals"):
        scoped_filter(RESIDENT, AreaFilter())
