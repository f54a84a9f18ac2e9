"""The proposal aggregate: submission, approval, progress, swadaya, and the draft's rules."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.proposals.domain.lifecycle import Action, State
from services.proposals.domain.model import (
    MaterialShipment,
    MaterialsWord,
    ProgressReport,
    Proposal,
    Transition,
)
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.identity import Actor, Role
from shared.reference.work_rules import work_rules
from tests.unit.proposals.builders import (
    BY_ROLE,
    CITY_OFFICER,
    KECAMATAN,
    KECAMATAN_OFFICER,
    KELURAHAN,
    KELURAHAN_OFFICER,
    NOW,
    OTHER_KELURAHAN_OFFICER,
    OTHER_RT_HEAD,
    RT_HEAD,
    draft,
    proposal_in,
    submitted,
)

LATER = NOW + timedelta(days=40)


def report(
    percent: int, *, volunteers: int = 0, labour_days: float = 0, day: int = 0
) -> ProgressReport:
    return ProgressReport(
        percent=percent,
        note=f"{percent}% poured",
        volunteers=volunteers,
        labour_days=labour_days,
        reported_by=RT_HEAD.id,
        at=LATER + timedelta(days=day),
    )


# --------------------------------------------------------------------------------------------
# Submission
# --------------------------------------------------------------------------------------------


def test_an_rt_head_submits_for_their_own_rt() -> None:
    the_draft = draft()
    proposal = Proposal.submit(the_draft, RT_HEAD, NOW)
    assert proposal.state is State.SUBMITTED
    assert proposal.draft == the_draft
    assert proposal.proposer_id == RT_HEAD.id
    assert proposal.created_at == proposal.updated_at == NOW
    assert (proposal.budget_idr, proposal.fiscal_year, proposal.progress) == (None, None, [])
    assert proposal.timeline == [
        Transition(
            action=None,
            from_state=None,
            to_state=State.SUBMITTED,
            actor_id=RT_HEAD.id,
            actor_role=Role.RT_HEAD,
            at=NOW,
        )
    ]


def test_each_submission_gets_its_own_id() -> None:
    assert Proposal.submit(draft(), RT_HEAD, NOW).id != Proposal.submit(draft(), RT_HEAD, NOW).id


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.RT_HEAD])
def test_only_an_rt_head_submits(role: Role) -> None:
    with pytest.raises(Forbidden, match="only an RT head"):
        Proposal.submit(draft(), BY_ROLE[role], NOW)


@pytest.mark.parametrize(
    "area",
    [
        {"kecamatan": "Telanaipura", "kelurahan": "Simpang IV Sipin", "rt": "004"},
        {"kecamatan": "Telanaipura", "kelurahan": "Pematang Sulur", "rt": "003"},
        {"kecamatan": "Jelutung", "kelurahan": "Simpang IV Sipin", "rt": "003"},
    ],
)
def test_an_rt_head_cannot_submit_for_another_rt(area: dict[str, str]) -> None:
    with pytest.raises(Forbidden, match="their own RT"):
        Proposal.submit(draft(area=area), RT_HEAD, NOW)


def test_the_other_rt_head_submits_for_their_rt() -> None:
    area = {"kecamatan": "Telanaipura", "kelurahan": "Simpang IV Sipin", "rt": "004"}
    assert Proposal.submit(draft(area=area), OTHER_RT_HEAD, NOW).proposer_id == OTHER_RT_HEAD.id


# --------------------------------------------------------------------------------------------
# Approval
# --------------------------------------------------------------------------------------------


def test_approval_sets_budget_and_fiscal_year() -> None:
    proposal = proposal_in(State.ENDORSED)
    proposal.approve(CITY_OFFICER, LATER, budget_idr=148_500_000, fiscal_year=2027)
    assert proposal.state is State.APPROVED
    assert (proposal.budget_idr, proposal.fiscal_year) == (148_500_000, 2027)
    entry = proposal.timeline[-1]
    assert (entry.action, entry.actor_id, entry.actor_role) == (
        Action.APPROVE,
        CITY_OFFICER.id,
        Role.CITY_OFFICER,
    )


@pytest.mark.parametrize("budget", [0, -1, -150_000_000])
def test_approval_refuses_a_non_positive_budget(budget: int) -> None:
    proposal = proposal_in(State.ENDORSED)
    entries = len(proposal.timeline)
    with pytest.raises(Unprocessable, match="positive budget"):
        proposal.approve(CITY_OFFICER, LATER, budget_idr=budget, fiscal_year=2027)
    assert proposal.state is State.ENDORSED
    assert (proposal.budget_idr, proposal.fiscal_year) == (None, None)
    assert len(proposal.timeline) == entries


def test_approval_from_the_wrong_state_changes_nothing() -> None:
    proposal = proposal_in(State.VERIFIED)
    with pytest.raises(Conflict):
        proposal.approve(CITY_OFFICER, LATER, budget_idr=1_000_000, fiscal_year=2027)
    assert (proposal.budget_idr, proposal.fiscal_year) == (None, None)


def test_a_bad_budget_in_the_wrong_state_is_a_conflict_not_a_value_error() -> None:
    proposal = proposal_in(State.SUBMITTED)
    with pytest.raises(Conflict):
        proposal.approve(CITY_OFFICER, LATER, budget_idr=0, fiscal_year=2027)


def test_a_bad_budget_from_the_wrong_role_is_forbidden_not_a_value_error() -> None:
    proposal = proposal_in(State.ENDORSED)
    with pytest.raises(Forbidden):
        proposal.approve(KECAMATAN_OFFICER, LATER, budget_idr=0, fiscal_year=2027)


def test_approval_by_the_wrong_role_changes_nothing() -> None:
    proposal = proposal_in(State.ENDORSED)
    with pytest.raises(Forbidden):
        proposal.approve(KECAMATAN_OFFICER, LATER, budget_idr=1_000_000, fiscal_year=2027)
    assert proposal.state is State.ENDORSED
    assert proposal.budget_idr is None


# --------------------------------------------------------------------------------------------
# Progress
# --------------------------------------------------------------------------------------------


def test_a_first_report_above_zero_moves_the_percent() -> None:
    proposal = proposal_in(State.IN_PROGRESS)
    entries = len(proposal.timeline)
    assert proposal.percent_done == 0
    assert proposal.report_progress(report(30), RT_HEAD) is True
    assert proposal.percent_done == 30
    assert proposal.progress == [report(30)]
    assert proposal.state is State.IN_PROGRESS
    assert len(proposal.timeline) == entries + 1
    entry = proposal.timeline[-1]
    assert (entry.action, entry.from_state, entry.to_state) == (
        Action.REPORT_PROGRESS,
        State.IN_PROGRESS,
        State.IN_PROGRESS,
    )
    assert (entry.reason, entry.at) == ("30% poured", LATER)


def test_a_report_of_zero_percent_does_not_move() -> None:
    proposal = proposal_in(State.IN_PROGRESS)
    assert proposal.report_progress(report(0, volunteers=12), RT_HEAD) is False
    assert len(proposal.progress) == 1


def test_a_report_at_the_same_percent_is_kept_but_does_not_move() -> None:
    proposal = proposal_in(State.IN_PROGRESS)
    proposal.report_progress(report(30), RT_HEAD)
    assert proposal.report_progress(report(30, volunteers=8, day=1), RT_HEAD) is False
    assert [r.percent for r in proposal.progress] == [30, 30]
    assert proposal.percent_done == 30


def test_progress_never_goes_down() -> None:
    proposal = proposal_in(State.IN_PROGRESS)
    proposal.report_progress(report(60), RT_HEAD)
    entries = len(proposal.timeline)
    with pytest.raises(Unprocessable, match="it is 60% already, not 45%"):
        proposal.report_progress(report(45, day=1), RT_HEAD)
    assert [r.percent for r in proposal.progress] == [60]
    assert len(proposal.timeline) == entries
    assert proposal.report_progress(report(100, day=2), RT_HEAD) is True
    assert proposal.percent_done == 100


def test_progress_is_refused_outside_work() -> None:
    proposal = proposal_in(State.MATERIALS_FULFILLED)
    with pytest.raises(Conflict):
        proposal.report_progress(report(10), RT_HEAD)
    assert proposal.progress == []


def test_progress_from_another_rt_head_is_refused() -> None:
    proposal = proposal_in(State.IN_PROGRESS)
    with pytest.raises(NotFound):
        proposal.report_progress(report(10), OTHER_RT_HEAD)
    assert proposal.progress == []


def test_a_lower_percent_from_another_rt_head_is_not_found_and_tells_nothing() -> None:
    proposal = proposal_in(State.IN_PROGRESS)
    proposal.report_progress(report(60), RT_HEAD)
    with pytest.raises(NotFound) as refused:
        proposal.report_progress(report(10, day=1), OTHER_RT_HEAD)
    assert "60%" not in refused.value.message


def test_a_lower_percent_after_completion_is_a_conflict() -> None:
    proposal = proposal_in(State.COMPLETED)
    with pytest.raises(Conflict):
        proposal.report_progress(report(0, day=9), RT_HEAD)


@pytest.mark.parametrize("percent", [-1, 101])
def test_a_report_is_between_zero_and_one_hundred(percent: int) -> None:
    with pytest.raises(ValidationError):
        report(percent)


# --------------------------------------------------------------------------------------------
# Swadaya
# --------------------------------------------------------------------------------------------


def test_swadaya_contributed_is_zero_before_any_report() -> None:
    assert proposal_in(State.IN_PROGRESS).swadaya_contributed() == (0, 0)


def test_swadaya_contributed_sums_volunteers_and_labour_days() -> None:
    proposal = proposal_in(State.IN_PROGRESS)
    proposal.report_progress(report(20, volunteers=25, labour_days=12.5), RT_HEAD)
    proposal.report_progress(report(20, volunteers=10, labour_days=4, day=1), RT_HEAD)
    proposal.report_progress(report(55, volunteers=31, labour_days=15.25, day=2), RT_HEAD)
    volunteers, labour_days = proposal.swadaya_contributed()
    assert volunteers == 66
    assert labour_days == pytest.approx(31.75)


# --------------------------------------------------------------------------------------------
# The draft
# --------------------------------------------------------------------------------------------


def road(**dimensions: Any) -> dict[str, Any]:
    return {"length_m": 150, "width_m": 4, "thickness_m": 0.12, **dimensions}


def refusal(**overrides: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        draft(**overrides)
    return str(caught.value)


@pytest.mark.parametrize("thickness", [0.08, 0.12, 0.15, 0.30])
def test_a_road_slab_from_8_to_30_cm_is_accepted(thickness: float) -> None:
    assert draft(dimensions=road(thickness_m=thickness)).dimensions.thickness_m == thickness


@pytest.mark.parametrize("thickness", [0.05, 0.079, 0.301, 0.5])
def test_a_road_slab_outside_8_to_30_cm_is_refused(thickness: float) -> None:
    assert "0.08 to 0.30 m thick" in refusal(dimensions=road(thickness_m=thickness))


def test_a_road_needs_a_thickness() -> None:
    dimensions = {"length_m": 150, "width_m": 4}
    assert "thickness_m is required" in refusal(dimensions=dimensions)


def test_a_road_has_no_depth() -> None:
    assert "has no depth_m" in refusal(dimensions=road(depth_m=0.5))


@pytest.mark.parametrize("width", [0.8, 4, 8])
def test_a_road_up_to_8_m_wide_is_accepted(width: float) -> None:
    assert draft(dimensions=road(width_m=width)).dimensions.width_m == width


@pytest.mark.parametrize("width", [8.01, 12])
def test_a_road_wider_than_8_m_is_refused(width: float) -> None:
    assert "at most 8 m wide" in refusal(dimensions=road(width_m=width))


@pytest.mark.parametrize(("work_type", "grade"), [("drain", None), ("culvert", "K-225")])
def test_a_drain_or_culvert_with_a_depth_is_accepted(work_type: str, grade: str | None) -> None:
    dimensions = {"length_m": 80, "width_m": 0.6, "thickness_m": 0.15, "depth_m": 0.8}
    made = draft(work_type=work_type, dimensions=dimensions, concrete_grade=grade)
    assert made.dimensions.depth_m == 0.8


@pytest.mark.parametrize("work_type", ["drain", "culvert"])
def test_a_drain_or_culvert_needs_a_depth(work_type: str) -> None:
    dimensions = {"length_m": 80, "width_m": 0.6, "thickness_m": 0.15}
    problem = refusal(work_type=work_type, dimensions=dimensions, concrete_grade=None)
    assert f"a {work_type} needs dimensions.depth_m" in problem


@pytest.mark.parametrize("work_type", ["drain", "culvert"])
def test_a_drain_or_culvert_needs_a_wall_thickness(work_type: str) -> None:
    dimensions = {"length_m": 80, "width_m": 0.6, "depth_m": 0.8}
    problem = refusal(work_type=work_type, dimensions=dimensions, concrete_grade=None)
    assert "thickness_m is required" in problem


@pytest.mark.parametrize("grade", ["K-175", "K-225"])
def test_a_drain_takes_no_concrete_grade(grade: str) -> None:
    dimensions = {"length_m": 80, "width_m": 0.6, "thickness_m": 0.15, "depth_m": 0.8}
    with pytest.raises(Unprocessable, match="a drain takes no concrete grade; allowed: none"):
        submitted(work_type="drain", dimensions=dimensions, concrete_grade=grade)


def test_a_culvert_names_the_grades_it_may_be_built_of() -> None:
    dimensions = {"length_m": 6, "width_m": 1, "thickness_m": 0.2, "depth_m": 1}
    culvert = draft(work_type="culvert", dimensions=dimensions, concrete_grade="K-175")
    with pytest.raises(Unprocessable) as caught:
        Proposal.submit(culvert, RT_HEAD, NOW)
    assert caught.value.message == (
        "concrete_grade: unknown grade 'K-175' for culvert; allowed: K-225"
    )


def test_a_road_slab_may_name_its_concrete_grade() -> None:
    assert draft(concrete_grade="K-225").concrete_grade == "K-225"


def test_a_draft_refuses_unknown_fields() -> None:
    assert "Extra inputs are not permitted" in refusal(budget_idr=1)


def test_a_draft_needs_at_least_one_household() -> None:
    assert "households_served" in refusal(households_served=0)


@pytest.mark.parametrize(
    ("work_type", "dimension", "value", "expected"),
    [
        ("concrete_road", "length_m", 2500, "length_m of a concrete_road is 1 to 2000 m"),
        ("concrete_road", "width_m", 0.5, "width_m of a concrete_road is 0.8 to 8 m"),
        ("drain", "depth_m", 4, "depth_m of a drain is 0.2 to 3 m, not 4 m"),
        ("drain", "width_m", 5, "width_m of a drain is 0.2 to 3 m"),
        ("culvert", "length_m", 150, "length_m of a culvert is 1 to 100 m"),
        ("culvert", "thickness_m", 0.6, "thickness_m of a culvert is 0.1 to 0.4 m"),
    ],
)
def test_sizes_outside_the_sane_range_of_the_work_are_refused_naming_the_range(
    work_type: str, dimension: str, value: float, expected: str
) -> None:
    dimensions: dict[str, Any] = {"length_m": 80, "width_m": 1, "thickness_m": 0.15}
    if work_type == "concrete_road":
        dimensions["thickness_m"] = 0.12
    else:
        dimensions["depth_m"] = 0.8
    dimensions[dimension] = value
    assert expected in refusal(work_type=work_type, dimensions=dimensions, concrete_grade=None)


@pytest.mark.parametrize(
    ("lat", "lng"),
    [(0, 0), (1.6105, 103.5912), (-1.6105, 104.5), (-6.2, 106.8)],
)
def test_a_location_outside_the_city_is_refused(lat: float, lng: float) -> None:
    problem = refusal(location={"lat": lat, "lng": lng, "description": "Gang Mawar"})
    assert "lies outside the city" in problem
    assert "not swapped" in problem


def test_a_draft_takes_at_most_twenty_attachment_references() -> None:
    assert len(draft(attachments=[f"doc://{i}" for i in range(20)]).attachments) == 20
    assert "attachments" in refusal(attachments=[f"doc://{i}" for i in range(21)])


# --------------------------------------------------------------------------------------------
# Completion
# --------------------------------------------------------------------------------------------


def test_completion_below_one_hundred_percent_is_a_conflict_naming_the_percent() -> None:
    proposal = proposal_in(State.IN_PROGRESS)
    proposal.report_progress(report(60), RT_HEAD)
    entries = len(proposal.timeline)
    with pytest.raises(Conflict, match="reported at 60%; report 100%"):
        proposal.act(Action.COMPLETE_WORK, RT_HEAD, LATER)
    assert proposal.state is State.IN_PROGRESS
    assert len(proposal.timeline) == entries


def test_completion_at_one_hundred_percent_is_accepted() -> None:
    proposal = proposal_in(State.IN_PROGRESS)
    proposal.report_progress(report(100), RT_HEAD)
    assert proposal.complete(RT_HEAD, LATER, "all 150 m poured") is False
    assert proposal.state is State.COMPLETED
    assert proposal.timeline[-1].reason == "all 150 m poured"


def test_a_completion_may_carry_its_final_report_of_one_hundred_percent() -> None:
    proposal = proposal_in(State.IN_PROGRESS)
    proposal.report_progress(report(60, volunteers=30, labour_days=60), RT_HEAD)
    final = report(100, volunteers=20, labour_days=40, day=3)
    assert proposal.complete(RT_HEAD, LATER, "done", final) is True
    assert proposal.state is State.COMPLETED
    assert proposal.progress[-1] == final
    assert [t.action for t in proposal.timeline[-2:]] == [
        Action.REPORT_PROGRESS,
        Action.COMPLETE_WORK,
    ]
    assert proposal.swadaya_contributed() == (50, 100)


def test_a_final_report_below_one_hundred_changes_nothing() -> None:
    proposal = proposal_in(State.IN_PROGRESS)
    entries = len(proposal.timeline)
    with pytest.raises(Conflict, match="reported at 90%"):
        proposal.complete(RT_HEAD, LATER, "", report(90))
    assert (proposal.state, proposal.progress, len(proposal.timeline)) == (
        State.IN_PROGRESS,
        [],
        entries,
    )


def test_a_final_report_lower_than_the_last_one_is_refused() -> None:
    proposal = proposal_in(State.COMPLETED)
    proposal.act(Action.RETURN_WORK, BY_ROLE[Role.SUPERVISOR], LATER, "the edges crumble")
    with pytest.raises(Unprocessable, match="never goes down"):
        proposal.complete(RT_HEAD, LATER, "", report(95))
    assert proposal.state is State.IN_PROGRESS


def test_after_a_returned_completion_the_rt_completes_again_at_one_hundred() -> None:
    proposal = proposal_in(State.COMPLETED)
    proposal.act(Action.RETURN_WORK, BY_ROLE[Role.SUPERVISOR], LATER, "the edges crumble")
    assert proposal.percent_done == 100
    proposal.complete(RT_HEAD, LATER + timedelta(days=2), "edges repaired")
    assert proposal.state is State.COMPLETED


def test_completion_by_another_rt_head_is_not_found_before_the_percent_is_told() -> None:
    proposal = proposal_in(State.IN_PROGRESS)
    with pytest.raises(NotFound):
        proposal.complete(OTHER_RT_HEAD, LATER, "", report(100))
    assert proposal.progress == []


# --------------------------------------------------------------------------------------------
# Budget held, materials, deliveries
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "holds"),
    [
        (State.ENDORSED, False),
        (State.APPROVED, True),
        (State.MATERIALS_FULFILLED, True),
        (State.IN_PROGRESS, True),
        (State.VALIDATED, True),
        (State.CANCELLED, False),
        (State.REJECTED, False),
    ],
)
def test_a_job_holds_its_budget_from_approval_until_cancelled(state: State, holds: bool) -> None:
    assert proposal_in(state).holds_budget is holds


def test_a_cancelled_job_keeps_its_budget_figure_for_the_record() -> None:
    proposal = proposal_in(State.CANCELLED)
    assert (proposal.budget_idr, proposal.fiscal_year) == (150_000_000, 2026)
    assert proposal.timeline[-1].reason


def test_materials_fulfilled_moves_an_approved_job_on() -> None:
    proposal = proposal_in(State.APPROVED)
    assert proposal.record_materials_fulfilled(LATER) is True
    assert proposal.state is State.MATERIALS_FULFILLED
    assert (proposal.timeline[-1].actor_id, proposal.timeline[-1].at) == ("system", LATER)


def test_materials_fulfilled_for_a_cancelled_job_changes_nothing() -> None:
    proposal = proposal_in(State.CANCELLED)
    entries = len(proposal.timeline)
    assert proposal.record_materials_fulfilled(LATER) is False
    assert unchanged_state(proposal, State.CANCELLED, entries)


def unchanged_state(proposal: Proposal, state: State, entries: int) -> bool:
    return proposal.state is state and len(proposal.timeline) == entries


def dispatch(shipment: uuid.UUID, status: str = "dispatched") -> MaterialShipment:
    return MaterialShipment.model_validate(
        {
            "shipment_id": shipment,
            "status": status,
            "at": LATER,
            "warehouse": "Gudang Kota Jambi",
            "sent": [{"item": "cement", "unit": "bag", "quantity": 493}],
        }
    )


@pytest.mark.parametrize(
    "state",
    [State.APPROVED, State.MATERIALS_FULFILLED, State.IN_PROGRESS, State.CANCELLED],
)
def test_a_delivery_is_recorded_once_from_approval_on(state: State) -> None:
    proposal = proposal_in(state)
    shipment = uuid.uuid4()
    assert proposal.record_delivery(dispatch(shipment)) is True
    assert proposal.record_delivery(dispatch(shipment)) is False
    assert proposal.record_delivery(dispatch(shipment, "delivered")) is True
    assert [d.status for d in proposal.deliveries] == ["dispatched", "delivered"]
    assert proposal.state is state


@pytest.mark.parametrize("state", [State.SUBMITTED, State.ENDORSED, State.REJECTED])
def test_a_delivery_before_approval_is_a_conflict(state: State) -> None:
    proposal = proposal_in(state)
    with pytest.raises(Conflict, match="only an approved job receives materials"):
        proposal.record_delivery(dispatch(uuid.uuid4()))
    assert proposal.deliveries == []


# --------------------------------------------------------------------------------------------
# Who reads the whole proposal
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role",
    [r for r in Role if r is not Role.RESIDENT],
)
def test_people_of_the_area_read_the_whole_proposal(role: Role) -> None:
    proposal_in(State.SUBMITTED).check_may_read(BY_ROLE[role])


def test_a_resident_is_sent_to_the_public_view() -> None:
    proposal = proposal_in(State.VERIFIED)
    with pytest.raises(Forbidden, match=f"/public/proposals/{proposal.id}"):
        proposal.check_may_read(BY_ROLE[Role.RESIDENT])


@pytest.mark.parametrize("outsider", [OTHER_RT_HEAD, OTHER_KELURAHAN_OFFICER])
def test_people_of_another_area_cannot_read_it_nor_learn_it_exists(outsider: Actor) -> None:
    proposal = proposal_in(State.SUBMITTED)
    with pytest.raises(NotFound, match=f"^no proposal {proposal.id}$"):
        proposal.check_may_read(outsider)


def test_a_resident_does_not_see_a_proposal_before_it_is_published() -> None:
    proposal = proposal_in(State.SUBMITTED)
    with pytest.raises(NotFound, match=f"^no proposal {proposal.id}$"):
        proposal.check_may_read(BY_ROLE[Role.RESIDENT])


def test_the_programme_year_is_the_submission_year_then_the_fiscal_year() -> None:
    assert proposal_in(State.ENDORSED).programme_year == NOW.year
    proposal = proposal_in(State.ENDORSED)
    proposal.approve(CITY_OFFICER, LATER, budget_idr=1_000_000, fiscal_year=2027)
    assert proposal.programme_year == 2027
    assert proposal.model_dump()["programme_year"] == 2027  # stored, so lists filter on it


# --------------------------------------------------------------------------------------------
# A job another service cannot carry out: blocked, waiting for the city
# --------------------------------------------------------------------------------------------

UNPLANNABLE = "unknown grade 'K-175' for culvert; allowed: K-225"


def test_an_approved_job_is_blocked_with_the_reason_and_holds_no_budget() -> None:
    proposal = proposal_in(State.APPROVED)
    assert proposal.holds_budget
    assert proposal.block(UNPLANNABLE, LATER)
    assert proposal.state is State.BLOCKED
    assert not proposal.holds_budget
    last = proposal.timeline[-1]
    assert (last.action, last.actor_id, last.reason) == (Action.BLOCK, "system", UNPLANNABLE)


@pytest.mark.parametrize("state", [State.BLOCKED, State.CANCELLED, State.MATERIALS_FULFILLED])
def test_only_an_approved_job_is_blocked(state: State) -> None:
    proposal = proposal_in(state)
    entries = len(proposal.timeline)
    assert not proposal.block(UNPLANNABLE, LATER)
    assert proposal.state is state and len(proposal.timeline) == entries


def test_the_city_returns_a_blocked_job_to_its_rt_and_it_is_approved_again() -> None:
    proposal = proposal_in(State.BLOCKED)
    proposal.act(Action.RETURN, CITY_OFFICER, LATER, "use K-225 for a culvert")
    assert proposal.state is State.RETURNED and not proposal.holds_budget
    proposal.act(Action.RESUBMIT, RT_HEAD, LATER, "")
    proposal.act(Action.VERIFY, BY_ROLE[Role.KELURAHAN_OFFICER], LATER)
    proposal.act(Action.ENDORSE, KECAMATAN_OFFICER, LATER)
    proposal.approve(CITY_OFFICER, LATER, budget_idr=90_000_000, fiscal_year=2026)
    assert proposal.holds_budget and proposal.budget_idr == 90_000_000


def test_the_city_cancels_a_blocked_job() -> None:
    proposal = proposal_in(State.BLOCKED)
    proposal.act(Action.CANCEL, CITY_OFFICER, LATER, "not needed any more")
    assert proposal.state is State.CANCELLED and not proposal.holds_budget


def test_an_approval_is_refused_when_the_rules_no_longer_allow_the_grade(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    culvert = {"length_m": 6, "width_m": 1, "thickness_m": 0.2, "depth_m": 1}
    proposal = submitted(work_type="culvert", dimensions=culvert, concrete_grade="K-225")
    proposal.act(Action.VERIFY, BY_ROLE[Role.KELURAHAN_OFFICER], LATER)
    proposal.act(Action.ENDORSE, KECAMATAN_OFFICER, LATER)
    rules = work_rules()
    changed = rules.model_copy(
        update={"concrete_grades": {**rules.concrete_grades, "culvert": ("K-175",)}}
    )
    monkeypatch.setattr("services.proposals.domain.model.work_rules", lambda: changed)
    with pytest.raises(Unprocessable, match=r"allowed: K-175 .*return it to the RT"):
        proposal.approve(CITY_OFFICER, LATER, budget_idr=90_000_000, fiscal_year=2026)
    assert proposal.state is State.ENDORSED


def test_the_last_progress_is_the_latest_step_word_or_shipment() -> None:
    proposal = proposal_in(State.APPROVED)
    approved_at = proposal.updated_at
    assert proposal.last_progress_at == approved_at
    word = MaterialsWord(status="short", at=approved_at + timedelta(minutes=1))
    assert proposal.record_materials_word(word)
    assert proposal.last_progress_at == word.at
    older = MaterialsWord(status="reserved", at=approved_at)
    assert not proposal.record_materials_word(older)
    assert proposal.materials == word


def test_a_returned_proposal_is_revised_by_its_rt_head_and_keeps_its_state() -> None:
    proposal = proposal_in(State.RETURNED)
    corrected = draft(title="Rabat beton Gang Mawar (revisi)", households_served=70)
    proposal.revise(corrected, RT_HEAD, NOW)
    assert proposal.state is State.RETURNED
    assert proposal.draft == corrected
    last = proposal.timeline[-1]
    assert (last.action, last.actor_id, last.reason) == (
        Action.REVISE,
        RT_HEAD.id,
        "changed: title, households_served",
    )


@pytest.mark.parametrize("state", [State.SUBMITTED, State.VERIFIED, State.APPROVED])
def test_only_a_returned_proposal_is_revised(state: State) -> None:
    proposal = proposal_in(state)
    with pytest.raises(Conflict):
        proposal.revise(draft(title="Rabat beton lain"), RT_HEAD, NOW)
    assert proposal.draft == draft()


def test_a_revision_keeps_the_rt_and_the_rules() -> None:
    proposal = proposal_in(State.RETURNED)
    other_rt = {"kecamatan": KECAMATAN, "kelurahan": KELURAHAN, "rt": "004"}
    with pytest.raises(Unprocessable, match="keeps the proposal's RT"):
        proposal.revise(draft(area=other_rt), RT_HEAD, NOW)
    culvert = {"length_m": 6, "width_m": 1, "thickness_m": 0.15, "depth_m": 1}
    with pytest.raises(Unprocessable, match="K-175"):
        proposal.revise(draft(work_type="culvert", dimensions=culvert), RT_HEAD, NOW)
    assert proposal.draft == draft()


def test_someone_else_cannot_revise_and_learns_nothing() -> None:
    proposal = proposal_in(State.RETURNED)
    with pytest.raises(NotFound):
        proposal.revise(draft(), OTHER_RT_HEAD, NOW)
    with pytest.raises(Forbidden):
        proposal.revise(draft(), KELURAHAN_OFFICER, NOW)
