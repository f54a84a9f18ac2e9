"""The proposal lifecycle as data: states, actions, who may take them, from where.

submitted → verified (kelurahan) → endorsed (kecamatan) → approved | rejected (city)
returned for revision at any review level → resubmitted; withdrawn before approval
approved → materials_fulfilled (on material.fulfilled) → in_progress (work started)
→ progress reported any number of times → completed → validated (handed over),
or the completion is returned to in_progress with a reason.
The city may cancel an approved job (before work starts) with a reason.
approved → blocked (on material.unplannable: the job cannot go on as approved; its
budget is released): the city returns it to the RT for correction or cancels it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from shared.contracts.publicity import UNPUBLISHED_STEPS
from shared.identity import Role


class State(StrEnum):
    SUBMITTED = "submitted"
    VERIFIED = "verified"
    ENDORSED = "endorsed"
    RETURNED = "returned"
    WITHDRAWN = "withdrawn"
    APPROVED = "approved"
    REJECTED = "rejected"
    MATERIALS_FULFILLED = "materials_fulfilled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    VALIDATED = "validated"
    CANCELLED = "cancelled"
    # Approved, but another service cannot carry it out as approved (materials cannot
    # plan it): waits for the city, holding no budget.
    BLOCKED = "blocked"


class Action(StrEnum):
    VERIFY = "verify"
    ENDORSE = "endorse"
    APPROVE = "approve"
    REJECT = "reject"
    RETURN = "return"
    RESUBMIT = "resubmit"
    REVISE = "revise"
    WITHDRAW = "withdraw"
    RECORD_MATERIALS_FULFILLED = "record_materials_fulfilled"
    START_WORK = "start_work"
    REPORT_PROGRESS = "report_progress"
    COMPLETE_WORK = "complete_work"
    VALIDATE = "validate"
    RETURN_WORK = "return_work"
    CANCEL = "cancel"
    BLOCK = "block"


@dataclass(frozen=True)
class Rule:
    action: Action
    target: State | None  # None: the state stays (a progress report)
    # From which states, and who may take the action from each (none: only the system,
    # on an event).
    roles_by_state: Mapping[State, frozenset[Role]]
    needs_reason: bool = False

    @property
    def source(self) -> frozenset[State]:
        return frozenset(self.roles_by_state)

    @property
    def roles(self) -> frozenset[Role]:
        """Everyone who may take it from some state."""
        return frozenset().union(*self.roles_by_state.values())

    def roles_from(self, state: State) -> frozenset[Role]:
        return self.roles_by_state.get(state, frozenset())


def _rule(
    action: Action,
    source: set[State] | Mapping[State, Role],
    target: State | None,
    roles: set[Role] | None = None,
    needs_reason: bool = False,
) -> Rule:
    """`source` states with the same `roles`, or a mapping of each state to its one role."""
    if isinstance(source, Mapping):
        by_state = {state: frozenset({role}) for state, role in source.items()}
    else:
        by_state = dict.fromkeys(source, frozenset(roles or set()))
    return Rule(action, target, by_state, needs_reason)


S, R = State, Role
# Who reviews a proposal waiting in each state: that level alone acts on it — moves it
# on, or returns it for revision.
REVIEWER: dict[State, Role] = {
    S.SUBMITTED: R.KELURAHAN_OFFICER,
    S.VERIFIED: R.KECAMATAN_OFFICER,
    S.ENDORSED: R.CITY_OFFICER,
}
# Who may return a proposal to its RT from each state: its reviewer, and the city for
# a blocked job (to correct what could not be carried out).
RETURNER: dict[State, Role] = {**REVIEWER, S.BLOCKED: R.CITY_OFFICER}
RULES: dict[Action, Rule] = {
    rule.action: rule
    for rule in [
        _rule(Action.VERIFY, {S.SUBMITTED}, S.VERIFIED, {REVIEWER[S.SUBMITTED]}),
        _rule(Action.ENDORSE, {S.VERIFIED}, S.ENDORSED, {REVIEWER[S.VERIFIED]}),
        _rule(Action.APPROVE, {S.ENDORSED}, S.APPROVED, {REVIEWER[S.ENDORSED]}),
        _rule(Action.REJECT, {S.ENDORSED}, S.REJECTED, {REVIEWER[S.ENDORSED]}, needs_reason=True),
        _rule(Action.RETURN, RETURNER, S.RETURNED, needs_reason=True),
        _rule(Action.RESUBMIT, {S.RETURNED}, S.SUBMITTED, {R.RT_HEAD}),
        # the correction a return asks for, before resubmitting (the state stays)
        _rule(Action.REVISE, {S.RETURNED}, None, {R.RT_HEAD}),
        _rule(
            Action.WITHDRAW,
            {S.SUBMITTED, S.VERIFIED, S.ENDORSED, S.RETURNED},
            S.WITHDRAWN,
            {R.RT_HEAD},
        ),
        _rule(Action.RECORD_MATERIALS_FULFILLED, {S.APPROVED}, S.MATERIALS_FULFILLED, set()),
        _rule(Action.START_WORK, {S.MATERIALS_FULFILLED}, S.IN_PROGRESS, {R.RT_HEAD}),
        _rule(Action.REPORT_PROGRESS, {S.IN_PROGRESS}, None, {R.RT_HEAD}),
        _rule(Action.COMPLETE_WORK, {S.IN_PROGRESS}, S.COMPLETED, {R.RT_HEAD}),
        _rule(Action.VALIDATE, {S.COMPLETED}, S.VALIDATED, {R.SUPERVISOR}),
        _rule(Action.RETURN_WORK, {S.COMPLETED}, S.IN_PROGRESS, {R.SUPERVISOR}, needs_reason=True),
        _rule(Action.BLOCK, {S.APPROVED}, S.BLOCKED, set(), needs_reason=True),
        _rule(
            Action.CANCEL,
            {S.APPROVED, S.MATERIALS_FULFILLED, S.BLOCKED},
            S.CANCELLED,
            {R.CITY_OFFICER},
            needs_reason=True,
        ),
    ]
}

# An approved job holds its cost against the kecamatan's ceiling until it is cancelled.
HOLDS_BUDGET = frozenset(
    {S.APPROVED, S.MATERIALS_FULFILLED, S.IN_PROGRESS, S.COMPLETED, S.VALIDATED}
)
# What the public sees: from the kelurahan's check on. A proposal still with its RT
# (submitted, returned) or withdrawn by it is the RT's own business — the rule every
# consumer of the events applies too (shared/contracts/publicity.py).
PUBLISHED_STATES = frozenset(s for s in State if s.value not in UNPUBLISHED_STEPS)
# A proposal in one of these may still become (or is) a built job: a new one for the
# same RT, work type and place is probably the same need.
ACTIVE_STATES = frozenset(set(State) - {S.WITHDRAWN, S.REJECTED, S.CANCELLED, S.VALIDATED})


def allowed_actions(state: State, role: Role | None = None) -> list[Action]:
    """Actions possible from `state` (for `role`, when given)."""
    return [
        rule.action
        for rule in RULES.values()
        if rule.roles_from(state) and (role is None or role in rule.roles_from(state))
    ]
