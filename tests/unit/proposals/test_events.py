"""Every transition publishes the event of the catalogue, with what consumers need."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.proposals.domain.lifecycle import RULES, Action, State
from services.proposals.domain.model import ProgressReport
from services.proposals.service import events
from shared.contracts import events as ev
from shared.contracts.catalogue import contract_of
from tests.unit.proposals.builders import (
    NOW,
    REASON,
    RT_HEAD,
    proposal_in,
    ready_for,
    rightful,
    submitted,
)

LATER = NOW + timedelta(days=30)
PLAIN: dict[Action, type[ev.ProposalStep]] = {
    Action.VERIFY: ev.ProposalVerifiedV2,
    Action.ENDORSE: ev.ProposalEndorsedV2,
    Action.RETURN: ev.ProposalReturnedV2,
    Action.REJECT: ev.ProposalRejectedV2,
    Action.RESUBMIT: ev.ProposalResubmittedV2,
    Action.WITHDRAW: ev.ProposalWithdrawnV2,
    Action.CANCEL: ev.ProposalCancelledV2,
    Action.START_WORK: ev.WorkStartedV2,
    Action.VALIDATE: ev.WorkValidatedV2,
    Action.RETURN_WORK: ev.WorkReturnedV2,
}
# Their own builders in events.py (they carry more than a plain transition knows).
OWN_BUILDERS = {Action.APPROVE, Action.REPORT_PROGRESS, Action.COMPLETE_WORK}
# A correction of a returned proposal is news with the resubmission that follows it.
UNPUBLISHED = {Action.REVISE}
# After these the proposal is with its RT again (or withdrawn): its events say so.
NOT_PUBLIC_AFTER = {Action.RETURN, Action.RESUBMIT, Action.WITHDRAW}


def test_every_person_action_publishes_an_event() -> None:
    person_actions = {a for a, r in RULES.items() if r.roles}
    assert person_actions == set(PLAIN) | OWN_BUILDERS | UNPUBLISHED


@pytest.mark.parametrize(
    ("action", "state"),
    [(a, s) for a in PLAIN for s in sorted(RULES[a].source)],
)
def test_a_plain_transition_publishes_its_event(action: Action, state: State) -> None:
    proposal = ready_for(action, state)
    actor = rightful(action, state)
    assert actor is not None
    proposal.act(action, actor, LATER, REASON)
    event = events.for_action(proposal, action, actor.id, REASON, state)
    assert isinstance(event, PLAIN[action])
    assert (event.proposal_id, event.area, event.proposer_id) == (
        proposal.id,
        proposal.area,
        proposal.proposer_id,
    )
    assert event.public is (action not in NOT_PUBLIC_AFTER)
    assert contract_of(type(event)).producer == "proposals"


@pytest.mark.parametrize(
    ("state", "level"),
    [(State.SUBMITTED, "kelurahan"), (State.VERIFIED, "kecamatan"), (State.ENDORSED, "city")],
)
def test_a_return_names_the_level_that_returned_it(state: State, level: str) -> None:
    proposal = proposal_in(state)
    actor = rightful(Action.RETURN, state)
    assert actor is not None
    proposal.act(Action.RETURN, actor, LATER, REASON)
    event = events.for_action(proposal, Action.RETURN, actor.id, REASON, state)
    assert isinstance(event, ev.ProposalReturnedV2)
    assert (event.level, event.reason, event.returned_by) == (level, REASON, actor.id)


def test_a_cancellation_carries_who_and_why() -> None:
    proposal = proposal_in(State.APPROVED)
    proposal.act(Action.CANCEL, rightful(Action.CANCEL, State.APPROVED), LATER, REASON)
    event = events.for_action(proposal, Action.CANCEL, "city-officer-sari", REASON, State.APPROVED)
    assert isinstance(event, ev.ProposalCancelledV2)
    assert (event.cancelled_by, event.reason) == ("city-officer-sari", REASON)


def test_materials_fulfilled_publishes_nothing() -> None:
    proposal = proposal_in(State.MATERIALS_FULFILLED)
    none = events.for_action(
        proposal, Action.RECORD_MATERIALS_FULFILLED, "system", "", State.APPROVED
    )
    assert none is None


def test_the_submission_flags_possible_duplicates() -> None:
    proposal = submitted()
    other = submitted()
    proposal.possible_duplicates = [other.id]
    event = events.submitted(proposal)
    assert event.public is False  # nobody has checked it yet
    assert event.possible_duplicate_of == (other.id,)
    assert (event.households_served, event.estimated_cost_idr) == (62, 150_000_000)
    assert event.swadaya.volunteers == 40


def test_the_approval_carries_what_materials_and_the_city_need() -> None:
    event = events.approved(proposal_in(State.APPROVED), "city-officer-sari")
    assert event.public is True
    assert (event.budget_idr, event.fiscal_year, event.concrete_grade) == (
        150_000_000,
        2026,
        "K-175",
    )
    assert event.dimensions.thickness_m == 0.12
    assert event.location.lat == pytest.approx(-1.6105)


def test_completion_carries_the_swadaya_actually_contributed() -> None:
    proposal = proposal_in(State.IN_PROGRESS)
    for percent, volunteers in ((50, 30), (100, 12)):
        report = ProgressReport(
            percent=percent,
            volunteers=volunteers,
            labour_days=volunteers * 1.5,
            reported_by=RT_HEAD.id,
            at=LATER,
        )
        proposal.report_progress(report, RT_HEAD)
    proposal.complete(RT_HEAD, LATER, "done")
    event = events.completed(proposal, RT_HEAD.id)
    assert (event.volunteers_total, event.labour_days_total) == (42, 63)
