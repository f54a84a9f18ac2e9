"""The proposal aggregate: its data, and every change as a checked transition."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.proposals.domain.lifecycle import (
    RETURN_LEVEL,
    RULES,
    Action,
    State,
    allowed_actions,
)
from shared.contracts.types import (
    Area,
    ConcreteGrade,
    Dimensions,
    Location,
    SwadayaPledge,
    WorkType,
)
from shared.errors import Conflict, Forbidden, Unprocessable
from shared.identity import Actor, Role


class Transition(BaseModel):
    """One entry of the timeline: who did what, when, and why."""

    model_config = ConfigDict(frozen=True)

    action: Action | None  # None for the submission itself
    from_state: State | None
    to_state: State
    actor_id: str
    actor_role: Role | None
    at: datetime
    reason: str = ""


class ProgressReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    percent: Annotated[int, Field(ge=0, le=100)]
    note: str = ""
    photos: tuple[str, ...] = ()
    volunteers: Annotated[int, Field(ge=0)] = 0
    labour_days: Annotated[float, Field(ge=0)] = 0
    reported_by: str
    at: datetime


class ProposalDraft(BaseModel):
    """What an RT head fills in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Annotated[str, Field(min_length=3, max_length=120)]
    area: Area
    work_type: WorkType
    dimensions: Dimensions
    concrete_grade: ConcreteGrade | None = None
    location: Location
    problem: Annotated[str, Field(min_length=10, max_length=4000)]
    households_served: Annotated[int, Field(ge=1, le=100_000)]
    estimated_cost_idr: Annotated[int, Field(ge=0, le=10**12)]
    swadaya: SwadayaPledge = SwadayaPledge()
    attachments: tuple[Annotated[str, Field(max_length=500)], ...] = ()

    @model_validator(mode="after")
    def _dimensions_fit_the_work(self) -> ProposalDraft:
        d = self.dimensions
        if d.thickness_m is None:
            raise ValueError("dimensions.thickness_m is required (slab or wall thickness)")
        if self.work_type == "concrete_road":
            if d.depth_m is not None:
                raise ValueError("a concrete road has no depth_m; give thickness_m")
            if not 0.08 <= d.thickness_m <= 0.30:
                raise ValueError("a road slab is 0.08 to 0.30 m thick (12 to 15 cm is usual)")
            if d.width_m > 8:
                raise ValueError("a neighbourhood road in this program is at most 8 m wide")
        elif d.depth_m is None:
            raise ValueError(f"a {self.work_type} needs dimensions.depth_m (inside depth)")
        if self.concrete_grade is not None and self.work_type == "drain":
            raise ValueError("a drain is stone masonry; it takes no concrete_grade")
        return self


class Proposal(BaseModel):
    model_config = ConfigDict(validate_assignment=True)

    id: uuid.UUID
    draft: ProposalDraft
    proposer_id: str
    state: State
    created_at: datetime
    updated_at: datetime
    budget_idr: int | None = None
    fiscal_year: int | None = None
    progress: list[ProgressReport] = Field(default_factory=list)
    timeline: list[Transition] = Field(default_factory=list)
    revision: int = 0  # optimistic concurrency: bumped on every save

    @classmethod
    def submit(cls, draft: ProposalDraft, actor: Actor, now: datetime) -> Proposal:
        if actor.role is not Role.RT_HEAD:
            raise Forbidden("only an RT head (ketua RT) can submit a proposal")
        if not actor.covers(draft.area):
            raise Forbidden("an RT head can only submit proposals for their own RT")
        return cls(
            id=uuid.uuid4(),
            draft=draft,
            proposer_id=actor.id,
            state=State.SUBMITTED,
            created_at=now,
            updated_at=now,
            timeline=[
                Transition(
                    action=None,
                    from_state=None,
                    to_state=State.SUBMITTED,
                    actor_id=actor.id,
                    actor_role=actor.role,
                    at=now,
                )
            ],
        )

    @property
    def area(self) -> Area:
        return self.draft.area

    @property
    def percent_done(self) -> int:
        return max((report.percent for report in self.progress), default=0)

    def act(self, action: Action, actor: Actor | None, now: datetime, reason: str = "") -> None:
        """Take `action` as `actor` (None: the system, reacting to an event)."""
        self._check_may(action, actor)
        self._record(action, actor, now, reason)

    def _check_may(self, action: Action, actor: Actor | None) -> None:
        """State first, then the person: a 409 or 403 before any check of the values."""
        if self.state not in RULES[action].source:
            raise Conflict(
                f"cannot {action.value} a proposal that is {self.state.value}; "
                f"allowed now: {', '.join(a.value for a in allowed_actions(self.state)) or 'none'}"
            )
        self._check_actor(action, actor)

    def _record(self, action: Action, actor: Actor | None, now: datetime, reason: str) -> None:
        rule = RULES[action]
        if rule.needs_reason and not reason.strip():
            raise Unprocessable(f"{action.value} needs a reason the proposer can act on")
        target = rule.target or self.state
        self.timeline.append(
            Transition(
                action=action,
                from_state=self.state,
                to_state=target,
                actor_id=actor.id if actor else "system",
                actor_role=actor.role if actor else None,
                at=now,
                reason=reason.strip(),
            )
        )
        self.state = target
        self.updated_at = now

    def approve(self, actor: Actor, now: datetime, budget_idr: int, fiscal_year: int) -> None:
        self._check_may(Action.APPROVE, actor)
        if budget_idr <= 0:
            raise Unprocessable("an approval needs a positive budget in rupiah")
        self._record(Action.APPROVE, actor, now, "")
        self.budget_idr = budget_idr
        self.fiscal_year = fiscal_year

    def report_progress(self, report: ProgressReport, actor: Actor) -> bool:
        """Record a report; True when the percentage moved (worth an event)."""
        self._check_may(Action.REPORT_PROGRESS, actor)
        if report.percent < self.percent_done:
            raise Unprocessable(
                f"progress never goes down: it is {self.percent_done}% already, "
                f"not {report.percent}%"
            )
        moved = report.percent > self.percent_done
        self._record(Action.REPORT_PROGRESS, actor, report.at, report.note)
        self.progress.append(report)
        return moved

    def swadaya_contributed(self) -> tuple[int, float]:
        """(volunteer turn-outs, labour days) summed over the progress reports."""
        return (
            sum(r.volunteers for r in self.progress),
            sum(r.labour_days for r in self.progress),
        )

    def _check_actor(self, action: Action, actor: Actor | None) -> None:
        rule = RULES[action]
        if actor is None:
            if rule.roles:
                raise Forbidden(f"{action.value} needs a person")
            return
        if actor.role not in rule.roles:
            who = ", ".join(sorted(r.value for r in rule.roles)) or "the system"
            raise Forbidden(f"only {who} may {action.value} a proposal")
        if action is Action.RETURN and RETURN_LEVEL[self.state] is not actor.role:
            raise Forbidden(
                f"a {self.state.value} proposal is reviewed by the "
                f"{RETURN_LEVEL[self.state].value}, not the {actor.role.value}"
            )
        if not actor.covers(self.area):
            raise Forbidden("this proposal lies outside your area")
