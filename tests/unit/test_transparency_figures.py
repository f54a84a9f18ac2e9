"""The transparency page's figures: derived from the set of public facts, so any
arrival order and any duplicate give the same figures; nothing personal kept."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.transparency.domain.facts import Allocation, Fact, allocation_of, fact_of
from services.transparency.domain.figures import ceilings, city_figures, median
from services.transparency.domain.proposals import view_of
from shared.contracts import events as ev
from shared.contracts.types import MaterialLine, ReceivedLine
from tests.support.events import AREA, PROPOSER, about_the_road, proposal_approved

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
KECAMATAN = ["Jelutung", "Telanaipura"]


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def facts_of_a_road(proposal_id: uuid.UUID) -> list[Fact]:
    return [
        fact_of(uuid.uuid4(), kind, at(day), data) for kind, day, data in road_story(proposal_id)
    ]


def road_story(proposal_id: uuid.UUID) -> list[tuple[str, float, ev.ProposalStep]]:
    """A road's whole story, (event type, day, payload): submitted, reviewed, approved
    (9 days on), materials reserved with a shortage, then complete, shipped and
    received, built, validated."""
    approved = proposal_approved().model_copy(update={"proposal_id": proposal_id})
    cement = MaterialLine(item="cement", unit="bag", quantity=400)
    steps: list[tuple[str, float, ev.ProposalStep]] = [
        ("proposal.submitted", 0, submitted(proposal_id)),
        (
            "proposal.verified",
            2,
            about(ev.ProposalVerifiedV2, proposal_id, verified_by="officer-ani"),
        ),
        (
            "proposal.endorsed",
            4,
            about(ev.ProposalEndorsedV2, proposal_id, endorsed_by="officer-joko"),
        ),
        ("proposal.approved", 9, approved),
        ("material.reserved", 9.01, reserved(proposal_id, cement, complete=False)),
        ("material.shortage", 9.02, shortage(proposal_id, 93)),
        (
            "material.reserved",
            11,
            reserved(proposal_id, cement.model_copy(update={"quantity": 493})),
        ),
        ("material.dispatched", 12, dispatched(proposal_id, 493)),
        ("material.delivered", 13, delivered(proposal_id, 493, 490)),
        ("work.started", 14, about(ev.WorkStartedV2, proposal_id, started_by=PROPOSER)),
        ("work.progress_reported", 20, progress(proposal_id, 60, 20, 40.0)),
        ("work.progress_reported", 25, progress(proposal_id, 100, 15, 30.0)),
        ("work.completed", 30, completed(proposal_id, 35, 70.0)),
        (
            "work.validated",
            33,
            about(ev.WorkValidatedV2, proposal_id, validated_by="supervisor-rudi"),
        ),
    ]
    return steps


def about(kind: type[ev.ProposalStep], proposal_id: uuid.UUID, **values: object) -> ev.ProposalStep:
    return about_the_road(kind, proposal_id, values)


def submitted(proposal_id: uuid.UUID) -> ev.ProposalStep:
    approved = proposal_approved()
    return about(
        ev.ProposalSubmittedV2,
        proposal_id,
        title="Rabat beton Gang Mawar",
        work_type="concrete_road",
        dimensions=approved.dimensions,
        location=approved.location,
        problem="The lane floods and turns to mud every rainy season.",
        households_served=40,
        estimated_cost_idr=160_000_000,
        swadaya=approved.swadaya,
    )


def reserved(proposal_id: uuid.UUID, line: MaterialLine, complete: bool = True) -> ev.ProposalStep:
    return about(
        ev.MaterialReservedV2, proposal_id, work_volume_m3=72.0, lines=(line,), complete=complete
    )


def shortage(proposal_id: uuid.UUID, missing: float) -> ev.ProposalStep:
    line = MaterialLine(item="cement", unit="bag", quantity=missing)
    return about(ev.MaterialShortageV2, proposal_id, missing=(line,))


SHIPMENT = uuid.uuid4()


def dispatched(proposal_id: uuid.UUID, quantity: float) -> ev.ProposalStep:
    line = MaterialLine(item="cement", unit="bag", quantity=quantity)
    return about(
        ev.MaterialDispatchedV2,
        proposal_id,
        shipment_id=SHIPMENT,
        warehouse="Gudang",
        lines=(line,),
    )


def delivered(proposal_id: uuid.UUID, sent: float, received: float) -> ev.ProposalStep:
    line = ReceivedLine(
        item="cement", unit="bag", sent=sent, received=received, discrepancy_reason="damaged"
    )
    return about(
        ev.MaterialDeliveredV2,
        proposal_id,
        shipment_id=SHIPMENT,
        confirmed_by=PROPOSER,
        lines=(line,),
    )


def progress(proposal_id: uuid.UUID, percent: int, volunteers: int, days: float) -> ev.ProposalStep:
    return about(
        ev.WorkProgressReportedV2,
        proposal_id,
        percent=percent,
        note="Pak Budi (0812-3456-789) brought the mixer",
        photos=("https://photos.example.org/day.jpg",),
        volunteers=volunteers,
        labour_days=days,
        reported_by=PROPOSER,
    )


def completed(proposal_id: uuid.UUID, volunteers: int, days: float) -> ev.ProposalStep:
    return about(
        ev.WorkCompletedV2,
        proposal_id,
        reported_by=PROPOSER,
        volunteers_total=volunteers,
        labour_days_total=days,
    )


def test_a_whole_road_gives_its_figures() -> None:
    view = view_of(facts_of_a_road(uuid.uuid4()))
    assert view.public and view.state == "validated" and view.year == 2026
    assert view.budget_idr == 150_000_000
    assert view.days_to_approval == 9 and view.days_to_completion == 21
    assert (view.volunteers, view.labour_days) == (35, 70.0)  # the totals at completion
    assert (view.pledged_volunteers, view.pledged_labour_days) == (40, 120.0)
    (cement,) = view.materials
    assert (cement.bill, cement.dispatched, cement.delivered) == (493, 493, 490)
    assert view.photos == ("https://photos.example.org/day.jpg",) * 2
    assert [step.type for step in view.timeline][:3] == [
        "proposal.submitted",
        "proposal.verified",
        "proposal.endorsed",
    ]


def test_nothing_personal_is_kept() -> None:
    text = "".join(fact.model_dump_json() for fact in facts_of_a_road(uuid.uuid4()))
    for personal in (
        PROPOSER,
        "officer-ani",
        "officer-joko",
        "supervisor-rudi",
        "city-officer-sari",
        "0812",
        "Budi",
    ):
        assert personal not in text


def test_until_reserved_whole_the_bill_is_what_is_secured_plus_what_is_missing() -> None:
    facts = facts_of_a_road(uuid.uuid4())[:6]  # up to the first shortage
    (cement,) = view_of(facts).materials
    assert cement.bill == 493  # 400 reserved + 93 missing


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_order_and_any_duplicate_give_the_same_view(data: st.DataObject) -> None:
    facts = facts_of_a_road(uuid.uuid4())
    shuffled = data.draw(st.permutations(facts))
    duplicated = data.draw(st.lists(st.sampled_from(facts), max_size=5))
    assert view_of([*shuffled, *duplicated]) == view_of(facts)


def test_a_proposal_with_its_rt_is_not_public() -> None:
    proposal_id = uuid.uuid4()
    facts = facts_of_a_road(proposal_id)[:3]
    returned = about(
        ev.ProposalReturnedV2, proposal_id, returned_by="camat", level="kecamatan", reason="Lebar?"
    )
    back = [*facts, fact_of(uuid.uuid4(), "proposal.returned", at(5), returned)]
    assert view_of(facts).public
    assert not view_of(back).public
    assert not view_of(facts[:1]).public  # submitted only


def test_the_page_takes_publicity_from_the_event_not_from_its_type() -> None:
    """The producer states it from the proposal's state; the page does not second-guess."""
    proposal_id = uuid.uuid4()
    facts = facts_of_a_road(proposal_id)[:3]
    withheld = about(ev.ProposalEndorsedV2, proposal_id, endorsed_by="joko", public=False)
    later = fact_of(uuid.uuid4(), "proposal.endorsed", at(5), withheld)
    assert view_of(facts).public
    assert not view_of([*facts, later]).public


def test_facts_stored_before_events_stated_publicity_follow_the_rule() -> None:
    stored_by_v1 = [f.model_copy(update={"public": None}) for f in facts_of_a_road(uuid.uuid4())]
    assert view_of(stored_by_v1[:3]).public
    assert not view_of(stored_by_v1[:1]).public  # submitted only


def test_a_rejected_or_cancelled_job_holds_no_budget() -> None:
    proposal_id = uuid.uuid4()
    facts = facts_of_a_road(proposal_id)[:5]
    cancelled = about(ev.ProposalCancelledV2, proposal_id, cancelled_by="x", reason="Dilebarkan")
    view = view_of([*facts, fact_of(uuid.uuid4(), "proposal.cancelled", at(10), cancelled)])
    assert view.state == "cancelled" and view.budget_idr == 0
    assert view.timeline[-1].reason == "Dilebarkan"


def allocation(kecamatan: str, ceiling: int, day: float) -> Allocation:
    data = ev.BudgetAllocatedV1(
        kecamatan=kecamatan,
        fiscal_year=2026,
        ceiling_idr=ceiling,
        allocated_by="finance",
        reference=f"DPA-{ceiling}",
    )
    return allocation_of(uuid.uuid4(), at(day), data)


def test_the_ceiling_is_the_one_set_last_whatever_order_it_arrived_in() -> None:
    first, correction = allocation("Telanaipura", 400, 0), allocation("Telanaipura", 900, 1)
    assert ceilings([correction, first], 2026) == {"Telanaipura": 900}
    assert ceilings([first, correction], 2026) == {"Telanaipura": 900}
    assert ceilings([first], 2027) == {}


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_city_figures_are_the_same_in_any_order(data: st.DataObject) -> None:
    roads = [view_of(facts_of_a_road(uuid.uuid4())) for _ in range(3)]
    elsewhere = view_of(
        [
            f.model_copy(update={"area": f.area.model_copy(update={"kecamatan": "Jelutung"})})
            for f in facts_of_a_road(uuid.uuid4())[:3]
        ]
    )
    views = [*roads, elsewhere]
    budgets = [allocation("Telanaipura", 500_000_000, 0), allocation("Jelutung", 200_000_000, 0)]
    expected = city_figures(views, budgets, 2026, KECAMATAN)
    shuffled = city_figures(
        data.draw(st.permutations(views)), data.draw(st.permutations(budgets)), 2026, KECAMATAN
    )
    assert shuffled == expected
    telanaipura = next(k for k in expected.kecamatan if k.kecamatan == "Telanaipura")
    assert telanaipura.approved_budget_idr == 450_000_000
    assert telanaipura.budget_share == 0.9
    assert telanaipura.jobs_validated == 3 and telanaipura.volunteers == 105
    assert telanaipura.by_state["validated"] == 3
    jelutung = next(k for k in expected.kecamatan if k.kecamatan == "Jelutung")
    assert jelutung.by_state["endorsed"] == 1 and jelutung.approved_budget_idr == 0
    assert expected.city.proposals == 4 and expected.city.ceiling_idr == 700_000_000
    assert expected.city.median_days_to_approval == 9.0


def test_the_median_of_nothing_is_none() -> None:
    assert median([]) is None and median([None, 3.0, 1.0]) == 2.0


def test_area_is_kept_in_the_facts() -> None:
    fact = facts_of_a_road(uuid.uuid4())[0]
    assert fact.area.kecamatan == AREA.kecamatan and fact.area.rt == AREA.rt
