"""The proposal lifecycle: every rule from every state, who may act, where, and why."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from services.proposals.domain.lifecycle import (
    PUBLISHED_STATES,
    RETURNER,
    REVIEWER,
    RULES,
    Action,
    State,
    allowed_actions,
)
from services.proposals.domain.model import ProgressReport, Proposal
from shared.errors import Conflict, DomainError, Forbidden, NotFound, Unprocessable
from shared.identity import Actor, Role
from tests.unit.proposals.builders import (
    BY_ROLE,
    CITY_OFFICER,
    EVERYONE,
    KECAMATAN_OFFICER,
    KELURAHAN_OFFICER,
    NOW,
    OTHER_KECAMATAN_OFFICER,
    OTHER_KELURAHAN_OFFICER,
    OTHER_RT_HEAD,
    REASON,
    RT_HEAD,
    SUPERVISOR,
    proposal_in,
    ready_for,
    rightful,
)

LATER = NOW + timedelta(days=30)
TERMINAL = (State.REJECTED, State.WITHDRAWN, State.VALIDATED, State.CANCELLED)
REVIEWERS = (Role.KELURAHAN_OFFICER, Role.KECAMATAN_OFFICER, Role.CITY_OFFICER)

ALLOWED = [(a, s) for a, r in RULES.items() for s in sorted(r.source)]
REFUSED = [(a, s) for a, r in RULES.items() for s in State if s not in r.source]
WRONG_ROLE = [
    (a, role) for a, r in RULES.items() if r.roles for role in Role if role not in r.roles
]
WITH_REASON = [a for a, r in RULES.items() if r.needs_reason]


def person_actions_from(state: State) -> list[Action]:
    """What the rule table says people may do from `state`, in table order."""
    return [a for a, r in RULES.items() if state in r.source and r.roles]


def unchanged(proposal: Proposal, state: State, entries: int) -> bool:
    return proposal.state is state and len(proposal.timeline) == entries


# --------------------------------------------------------------------------------------------
# The table itself
# --------------------------------------------------------------------------------------------


def test_every_action_has_a_rule() -> None:
    assert set(RULES) == set(Action)
    assert all(rule.action is action for action, rule in RULES.items())


def test_each_reviewer_returns_only_what_waits_at_their_level() -> None:
    returning = RULES[Action.RETURN]
    assert all(returning.roles_from(state) == {role} for state, role in RETURNER.items())
    assert returning.source == set(REVIEWER) | {State.BLOCKED}
    assert returning.roles_from(State.BLOCKED) == {Role.CITY_OFFICER}
    assert REVIEWER == {
        State.SUBMITTED: Role.KELURAHAN_OFFICER,
        State.VERIFIED: Role.KECAMATAN_OFFICER,
        State.ENDORSED: Role.CITY_OFFICER,
    }


def test_reasons_are_required_for_return_reject_return_work_and_cancel() -> None:
    assert set(WITH_REASON) == {
        Action.RETURN,
        Action.REJECT,
        Action.RETURN_WORK,
        Action.CANCEL,
        Action.BLOCK,
    }


def test_a_blocked_job_waits_for_the_city_and_holds_no_budget() -> None:
    blocked = proposal_in(State.BLOCKED)
    assert not blocked.holds_budget
    assert person_actions_from(State.BLOCKED) == [Action.RETURN, Action.CANCEL]
    assert allowed_actions(State.BLOCKED, Role.CITY_OFFICER) == [Action.RETURN, Action.CANCEL]
    assert allowed_actions(State.BLOCKED, Role.RT_HEAD) == []
    assert RULES[Action.BLOCK].roles == frozenset()  # the system, on material.unplannable


# --------------------------------------------------------------------------------------------
# Every rule from its source states, and from no other
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("action", "state"), ALLOWED)
def test_a_rule_applies_from_its_source_and_is_recorded(action: Action, state: State) -> None:
    proposal = ready_for(action, state)
    before = list(proposal.timeline)
    actor = rightful(action, state)
    proposal.act(action, actor, LATER, reason=f"  {REASON}  ")
    target = RULES[action].target or state
    assert proposal.state is target
    assert proposal.updated_at == LATER
    assert proposal.timeline[:-1] == before
    entry = proposal.timeline[-1]
    assert entry.action is action
    assert (entry.from_state, entry.to_state) == (state, target)
    assert entry.actor_id == (actor.id if actor else "system")
    assert entry.actor_role is (actor.role if actor else None)
    assert entry.at == LATER
    assert entry.reason == REASON  # stripped


@pytest.mark.parametrize(("action", "state"), REFUSED)
def test_a_rule_is_refused_from_any_other_state(action: Action, state: State) -> None:
    proposal = proposal_in(state)
    entries = len(proposal.timeline)
    with pytest.raises(Conflict) as caught:
        proposal.act(action, rightful(action, state), LATER, reason=REASON)
    message = caught.value.message
    prefix = f"cannot {action.value} a proposal that is {state.value}; allowed now: "
    assert message.startswith(prefix)
    listed = message.removeprefix(prefix)
    expected = [a.value for a in person_actions_from(state)]
    assert listed.split(", ") == (expected or ["none"])
    assert unchanged(proposal, state, entries)
    assert proposal.updated_at != LATER


def hidden_from(proposal: Proposal, actor: Actor | None) -> bool:
    """Someone of another area, or a resident before it is published, does not see a
    proposal: it is refused as unknown, before its state is told."""
    if actor is None:
        return False
    unpublished = proposal.state not in PUBLISHED_STATES
    return not actor.covers(proposal.area) or (actor.role is Role.RESIDENT and unpublished)


@pytest.mark.parametrize("state", TERMINAL)
def test_terminal_states_accept_nothing_from_anyone(state: State) -> None:
    proposal = proposal_in(state)
    entries = len(proposal.timeline)
    assert allowed_actions(state) == []
    for action, actor in itertools.product(Action, [None, *EVERYONE]):
        with pytest.raises(NotFound if hidden_from(proposal, actor) else Conflict):
            proposal.act(action, actor, LATER, reason=REASON)
    assert unchanged(proposal, state, entries)


# --------------------------------------------------------------------------------------------
# allowed_actions agrees with what act() accepts
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(State))
def test_allowed_actions_without_a_role_lists_every_person_action(state: State) -> None:
    assert allowed_actions(state) == person_actions_from(state)


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("role", list(Role))
def test_allowed_actions_for_a_role_are_exactly_those_it_may_take(state: State, role: Role) -> None:
    listed = allowed_actions(state, role)
    for action in person_actions_from(state):
        proposal = ready_for(action, state)
        try:
            proposal.act(action, BY_ROLE[role], LATER, reason=REASON)
        except (Forbidden, NotFound):
            assert action not in listed, f"{role} cannot {action} from {state}"
        else:
            assert action in listed, f"{role} can {action} from {state}"
    assert set(listed) <= set(person_actions_from(state))


# --------------------------------------------------------------------------------------------
# Who may act
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("action", "role"), WRONG_ROLE)
def test_the_wrong_role_is_forbidden(action: Action, role: Role) -> None:
    state = min(RULES[action].source)
    proposal = proposal_in(state)
    entries = len(proposal.timeline)
    if hidden_from(proposal, BY_ROLE[role]):
        with pytest.raises(NotFound, match=f"^no proposal {proposal.id}$"):
            proposal.act(action, BY_ROLE[role], LATER, reason=REASON)
    else:
        with pytest.raises(Forbidden, match=f"^only .* may {action.value} a proposal$"):
            proposal.act(action, BY_ROLE[role], LATER, reason=REASON)
    assert unchanged(proposal, state, entries)


@pytest.mark.parametrize("role", list(Role))
def test_only_the_system_records_materials_fulfilled(role: Role) -> None:
    proposal = proposal_in(State.APPROVED)
    with pytest.raises(Forbidden, match="only the system may record_materials_fulfilled"):
        proposal.act(Action.RECORD_MATERIALS_FULFILLED, BY_ROLE[role], LATER)
    assert proposal.state is State.APPROVED


@pytest.mark.parametrize(("action", "state"), [(a, s) for a, s in ALLOWED if RULES[a].roles])
def test_a_person_action_needs_a_person(action: Action, state: State) -> None:
    proposal = proposal_in(state)
    with pytest.raises(Forbidden, match=f"{action.value} needs a person"):
        proposal.act(action, None, LATER, reason=REASON)
    assert proposal.state is state


@pytest.mark.parametrize(("state", "role"), list(itertools.product(sorted(REVIEWER), REVIEWERS)))
def test_only_the_reviewer_at_the_level_may_return(state: State, role: Role) -> None:
    proposal = proposal_in(state)
    if role is REVIEWER[state]:
        proposal.act(Action.RETURN, BY_ROLE[role], LATER, reason=REASON)
        assert proposal.state is State.RETURNED
        return
    with pytest.raises(Forbidden) as caught:
        proposal.act(Action.RETURN, BY_ROLE[role], LATER, reason=REASON)
    assert caught.value.message == (
        f"a {state.value} proposal is reviewed by the {REVIEWER[state].value}, not the {role.value}"
    )
    assert proposal.state is state


# --------------------------------------------------------------------------------------------
# Where they may act
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "state", "outsider"),
    [
        (Action.VERIFY, State.SUBMITTED, OTHER_KELURAHAN_OFFICER),
        (Action.RETURN, State.SUBMITTED, OTHER_KELURAHAN_OFFICER),
        (Action.ENDORSE, State.VERIFIED, OTHER_KECAMATAN_OFFICER),
        (Action.RETURN, State.VERIFIED, OTHER_KECAMATAN_OFFICER),
        (Action.WITHDRAW, State.SUBMITTED, OTHER_RT_HEAD),
        (Action.RESUBMIT, State.RETURNED, OTHER_RT_HEAD),
        (Action.START_WORK, State.MATERIALS_FULFILLED, OTHER_RT_HEAD),
        (Action.REPORT_PROGRESS, State.IN_PROGRESS, OTHER_RT_HEAD),
        (Action.COMPLETE_WORK, State.IN_PROGRESS, OTHER_RT_HEAD),
    ],
)
def test_an_officer_of_another_area_is_refused_as_if_it_did_not_exist(
    action: Action, state: State, outsider: Actor
) -> None:
    proposal = proposal_in(state)
    entries = len(proposal.timeline)
    with pytest.raises(NotFound, match=f"^no proposal {proposal.id}$"):
        proposal.act(action, outsider, LATER, reason=REASON)
    assert unchanged(proposal, state, entries)


def test_area_scopes_nest() -> None:
    area = proposal_in(State.SUBMITTED).area
    assert RT_HEAD.covers(area) and not OTHER_RT_HEAD.covers(area)
    assert KELURAHAN_OFFICER.covers(area) and not OTHER_KELURAHAN_OFFICER.covers(area)
    assert KECAMATAN_OFFICER.covers(area) and not OTHER_KECAMATAN_OFFICER.covers(area)
    elsewhere = area.model_copy(update={"kecamatan": "Jelutung", "kelurahan": "Kebun Kopi"})
    assert OTHER_KECAMATAN_OFFICER.covers(elsewhere)
    assert not KECAMATAN_OFFICER.covers(elsewhere)


@pytest.mark.parametrize("person", [CITY_OFFICER, SUPERVISOR])
def test_city_wide_roles_have_no_area(person: Actor) -> None:
    assert (person.kecamatan, person.kelurahan, person.rt) == (None, None, None)
    for kecamatan, kelurahan, rt in [
        ("Telanaipura", "Simpang IV Sipin", "003"),
        ("Jelutung", "Kebun Kopi", "017"),
        ("Pelayangan", "Tengah", "001"),
    ]:
        area = proposal_in(State.SUBMITTED).area.model_copy(
            update={"kecamatan": kecamatan, "kelurahan": kelurahan, "rt": rt}
        )
        assert person.covers(area)


def test_the_city_officer_decides_wherever_the_proposal_lies() -> None:
    proposal = proposal_in(State.ENDORSED)
    proposal.draft = proposal.draft.model_copy(
        update={
            "area": proposal.area.model_copy(
                update={"kecamatan": "Pasar Jambi", "kelurahan": "Beringin", "rt": "005"}
            )
        }
    )
    proposal.act(Action.REJECT, CITY_OFFICER, LATER, reason=REASON)
    assert proposal.state is State.REJECTED


# --------------------------------------------------------------------------------------------
# Reasons
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", WITH_REASON)
@pytest.mark.parametrize("reason", ["", "   ", "\n\t"])
def test_a_reason_is_required(action: Action, reason: str) -> None:
    state = min(RULES[action].source)
    proposal = proposal_in(state)
    entries = len(proposal.timeline)
    with pytest.raises(Unprocessable, match=f"^{action.value} needs a reason"):
        proposal.act(action, rightful(action, state), LATER, reason=reason)
    assert unchanged(proposal, state, entries)


@pytest.mark.parametrize(("action", "state"), [(a, s) for a, s in ALLOWED if a not in WITH_REASON])
def test_other_actions_need_no_reason(action: Action, state: State) -> None:
    proposal = ready_for(action, state)
    proposal.act(action, rightful(action, state), LATER)
    assert proposal.timeline[-1].reason == ""


# --------------------------------------------------------------------------------------------
# Random sequences of (action, actor)
# --------------------------------------------------------------------------------------------

ACTORS: list[Actor | None] = [None, *EVERYONE]
REASONS = ["", "  ", REASON]
BUDGETS = [0, -1, 150_000_000]
BACKWARD = {Action.WITHDRAW, Action.REJECT, Action.CANCEL, Action.RETURN, Action.RETURN_WORK}


class ProposalMachine(RuleBasedStateMachine):
    """Any action by anyone; the state only moves through the rule table."""

    def __init__(self) -> None:
        super().__init__()
        self.proposal = proposal_in(State.SUBMITTED)
        self.clock = NOW
        self.accepted = 0

    def apply(
        self, action: Action, actor: Actor | None, reason: str, budget: int, percent: int
    ) -> None:
        proposal = self.proposal
        previous = proposal.state
        timeline = list(proposal.timeline)
        progress = list(proposal.progress)
        self.clock += timedelta(minutes=5)
        try:
            if action is Action.APPROVE and actor is not None:
                proposal.approve(actor, self.clock, budget, 2026)
            elif action is Action.REPORT_PROGRESS and actor is not None:
                report = ProgressReport(percent=percent, reported_by=actor.id, at=self.clock)
                proposal.report_progress(report, actor)
            else:
                proposal.act(action, actor, self.clock, reason)
        except DomainError:
            assert proposal.state is previous
            assert proposal.timeline == timeline
            assert proposal.progress == progress
            return
        self.accepted += 1
        rule_ = RULES[action]
        assert previous in rule_.source
        assert previous not in TERMINAL
        assert proposal.state is (rule_.target or previous)
        assert proposal.timeline[:-1] == timeline
        entry = proposal.timeline[-1]
        assert (entry.action, entry.from_state, entry.to_state) == (
            action,
            previous,
            proposal.state,
        )
        assert entry.actor_id == (actor.id if actor else "system")

    @rule(
        action=st.sampled_from(Action),
        actor=st.sampled_from(ACTORS),
        reason=st.sampled_from(REASONS),
        budget=st.sampled_from(BUDGETS),
        percent=st.integers(0, 100),
    )
    def anyone_tries_anything(
        self, action: Action, actor: Actor | None, reason: str, budget: int, percent: int
    ) -> None:
        self.apply(action, actor, reason, budget, percent)

    @rule(data=st.data())
    def the_rightful_person_tries_a_possible_action(self, data: st.DataObject) -> None:
        state = self.proposal.state
        possible = [a for a, r in RULES.items() if state in r.source] or list(Action)
        action = data.draw(st.sampled_from(possible))
        self.apply(
            action,
            rightful(action, state),
            data.draw(st.sampled_from(REASONS)),
            data.draw(st.sampled_from(BUDGETS)),
            data.draw(st.integers(0, 100)),
        )

    @rule(data=st.data())
    def the_rightful_person_moves_it_forward(self, data: st.DataObject) -> None:
        # Without a push forward, random walks end in withdrawn or rejected long before
        # the work states are reached.
        state = self.proposal.state
        forward = [a for a, r in RULES.items() if state in r.source and a not in BACKWARD]
        if not forward:
            return
        action = data.draw(st.sampled_from(forward))
        self.apply(
            action,
            rightful(action, state),
            REASON,
            150_000_000,
            data.draw(st.integers(self.proposal.percent_done, 100)),
        )

    @rule(percent=st.integers(0, 100), note=st.sampled_from(REASONS))
    def the_rt_head_completes_with_a_final_report(self, percent: int, note: str) -> None:
        proposal = self.proposal
        previous, entries = proposal.state, len(proposal.timeline)
        progress = list(proposal.progress)
        self.clock += timedelta(minutes=5)
        final = ProgressReport(percent=percent, reported_by=RT_HEAD.id, at=self.clock)
        try:
            proposal.complete(RT_HEAD, self.clock, note, final)
        except DomainError:
            assert unchanged(proposal, previous, entries)
            assert proposal.progress == progress
            return
        # Accepted only from in_progress and at 100 %: the report, then the completion.
        assert (previous, percent, proposal.state) == (State.IN_PROGRESS, 100, State.COMPLETED)
        assert [t.action for t in proposal.timeline[entries:]] == [
            Action.REPORT_PROGRESS,
            Action.COMPLETE_WORK,
        ]
        assert proposal.progress == [*progress, final]
        self.accepted += 2

    @invariant()
    def completion_is_only_ever_at_one_hundred_percent(self) -> None:
        if self.proposal.state in (State.COMPLETED, State.VALIDATED):
            assert self.proposal.percent_done == 100

    @invariant()
    def only_an_approved_unfinished_or_built_job_holds_budget(self) -> None:
        # the last approval, cancellation or block decides (a blocked job may be
        # returned, resubmitted and approved again)
        budget_steps = (Action.APPROVE, Action.CANCEL, Action.BLOCK)
        last = [t.action for t in self.proposal.timeline if t.action in budget_steps][-1:]
        assert self.proposal.holds_budget is (last == [Action.APPROVE])

    @invariant()
    def the_state_is_a_state(self) -> None:
        assert isinstance(self.proposal.state, State)

    @invariant()
    def the_timeline_has_one_entry_per_accepted_action(self) -> None:
        assert len(self.proposal.timeline) == 1 + self.accepted

    @invariant()
    def the_timeline_is_a_chain_ending_in_the_state(self) -> None:
        timeline = self.proposal.timeline
        assert (timeline[0].action, timeline[0].from_state) == (None, None)
        assert timeline[0].to_state is State.SUBMITTED
        for before, after in itertools.pairwise(timeline):
            assert after.from_state is before.to_state
            assert after.action is not None
            assert after.from_state in RULES[after.action].source
        assert timeline[-1].to_state is self.proposal.state

    @invariant()
    def progress_never_goes_down(self) -> None:
        percents = [report.percent for report in self.proposal.progress]
        assert percents == sorted(percents)

    @invariant()
    def a_budget_exists_exactly_after_an_approval(self) -> None:
        approved = any(t.action is Action.APPROVE for t in self.proposal.timeline)
        assert (self.proposal.budget_idr is not None) is approved
        assert self.proposal.budget_idr is None or self.proposal.budget_idr > 0


ProposalMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=60, deadline=None, database=None
)
TestProposalMachine = ProposalMachine.TestCase
