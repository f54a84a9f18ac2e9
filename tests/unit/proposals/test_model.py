"""The proposal aggregate: submission, approval, progress, swadaya, and the draft's rules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.proposals.domain.lifecycle import Action, State
from services.proposals.domain.model import ProgressReport, Proposal, Transition
from shared.errors import Conflict, Forbidden, Unprocessable
from shared.identity import Role
from tests.unit.proposals.builders import (
    BY_ROLE,
    CITY_OFFICER,
    KECAMATAN_OFFICER,
    NOW,
    OTHER_RT_HEAD,
    RT_HEAD,
    draft,
    proposal_in,
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
    with pytest.raises(Forbidden):
        proposal.report_progress(report(10), OTHER_RT_HEAD)
    assert proposal.progress == []


def test_a_lower_percent_from_another_rt_head_is_forbidden_and_tells_nothing() -> None:
    proposal = proposal_in(State.IN_PROGRESS)
    proposal.report_progress(report(60), RT_HEAD)
    with pytest.raises(Forbidden) as refused:
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
    problem = refusal(work_type="drain", dimensions=dimensions, concrete_grade=grade)
    assert "takes no concrete_grade" in problem


def test_a_road_slab_may_name_its_concrete_grade() -> None:
    assert draft(concrete_grade="K-225").concrete_grade == "K-225"


def test_a_draft_refuses_unknown_fields() -> None:
    assert "Extra inputs are not permitted" in refusal(budget_idr=1)


def test_a_draft_needs_at_least_one_household() -> None:
    assert "households_served" in refusal(households_served=0)
