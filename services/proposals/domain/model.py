"""The proposal aggregate: its data, and every change as a checked transition."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from services.proposals.domain.lifecycle import (
    HOLDS_BUDGET,
    PUBLISHED_STATES,
    RULES,
    Action,
    State,
    allowed_actions,
)
from services.proposals.domain.rules import proposal_rules
from shared.clock import Timestamp
from shared.contracts.types import (
    Area,
    ConcreteGrade,
    Dimensions,
    Households,
    JobRupiah,
    Location,
    MaterialLine,
    Photos,
    Problem,
    ProgressFields,
    ReceivedLine,
    SwadayaPledge,
    Title,
    WorkType,
)
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.identity import Actor, Role
from shared.reference.work_rules import work_rules


class Transition(BaseModel):
    """One entry of the timeline: who did what, when, and why."""

    model_config = ConfigDict(frozen=True)

    action: Action | None  # None for the submission itself
    from_state: State | None
    to_state: State
    actor_id: str
    actor_role: Role | None
    at: Timestamp
    reason: str = ""


# Progress reports live in the proposal's document, which MongoDB caps at 16 MB. A
# report is at most ~12 kB (a 2,000-character note, 20 links of 500) and adds a
# timeline entry repeating its note (~2 kB): 200 reports stay under 3 MB, leaving the
# rest of the document far from the cap — and 200 is a report every working day for
# most of a year, more than a neighbourhood job takes. The last place is kept for the
# report of 100 %, so a job can always be finished.
MAX_PROGRESS_REPORTS = 200


class ProgressReport(ProgressFields):
    """A progress report as recorded: its figures, who reported them and when."""

    model_config = ConfigDict(frozen=True)

    reported_by: str
    at: Timestamp


class ProposalDraft(BaseModel):
    """What an RT head fills in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Title
    area: Area
    work_type: WorkType
    dimensions: Dimensions
    concrete_grade: ConcreteGrade | None = None
    location: Location
    problem: Problem
    households_served: Households
    estimated_cost_idr: JobRupiah
    swadaya: SwadayaPledge = SwadayaPledge()
    attachments: Annotated[
        Photos, Field(description="links to photos or documents (not the files)")
    ] = ()

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
        for name, limits in proposal_rules().sizes[self.work_type].items():
            value = getattr(d, name)
            if value is not None and value not in limits:
                raise ValueError(
                    f"dimensions.{name} of a {self.work_type} is {limits.low:g} to "
                    f"{limits.high:g} m, not {value:g} m"
                )
        return self

    def check_buildable(self) -> None:
        """What the job may be built of, by the rules every service shares
        (shared/reference/work_rules.toml): checked on submission and again on
        approval, not on loading, so a stored proposal outlives a change of the rules."""
        problem = work_rules().grade_problem(self.work_type, self.concrete_grade)
        if problem is not None:
            raise Unprocessable(f"concrete_grade: {problem}")

    @model_validator(mode="after")
    def _location_in_the_city(self) -> ProposalDraft:
        bounds = proposal_rules().city_bounds
        where = self.location
        if where.lat not in bounds.lat or where.lng not in bounds.lng:
            raise ValueError(
                f"location ({where.lat:g}, {where.lng:g}) lies outside the city "
                f"(lat {bounds.lat.low:g} to {bounds.lat.high:g}, lng {bounds.lng.low:g} to "
                f"{bounds.lng.high:g}); check the GPS fix and that lat and lng are not swapped"
            )
        return self


class MaterialShipment(BaseModel):
    """A shipment of materials for the job at one of its steps, as the materials service
    reported it: `dispatched` (what was `sent`, from which `warehouse`) or `delivered`
    (what was `received`, confirmed by the RT head in `confirmed_by`). A shipment that
    arrived is in the proposal's `deliveries` twice, once per step."""

    model_config = ConfigDict(frozen=True)

    shipment_id: uuid.UUID
    status: Literal["dispatched", "delivered"]
    at: Timestamp
    warehouse: str = ""
    note: str = ""
    confirmed_by: str | None = None  # the RT head who confirmed receipt
    sent: tuple[MaterialLine, ...] = ()
    received: tuple[ReceivedLine, ...] = ()


class MaterialsWord(BaseModel):
    """The materials service's last word on an approved job's stock (reserved, short)."""

    model_config = ConfigDict(frozen=True)

    status: Literal["reserved", "short"]
    at: Timestamp
    missing: tuple[MaterialLine, ...] = ()


class Proposal(BaseModel):
    model_config = ConfigDict(validate_assignment=True)

    id: uuid.UUID
    draft: ProposalDraft
    proposer_id: str
    state: State
    created_at: Timestamp
    updated_at: Timestamp
    budget_idr: int | None = None
    fiscal_year: int | None = None
    progress: list[ProgressReport] = Field(default_factory=list)
    timeline: list[Transition] = Field(default_factory=list)
    deliveries: list[MaterialShipment] = Field(default_factory=list)
    materials: MaterialsWord | None = None
    # Active proposals of the same RT and work type close by: a flag for the reviewers,
    # never a refusal (two lanes of one RT can be close and both needed).
    possible_duplicates: list[uuid.UUID] = Field(default_factory=list)
    revision: int = 0  # optimistic concurrency: bumped on every save

    @classmethod
    def submit(cls, draft: ProposalDraft, actor: Actor, now: datetime) -> Proposal:
        if actor.role is not Role.RT_HEAD:
            raise Forbidden("only an RT head (ketua RT) can submit a proposal")
        if not actor.covers(draft.area):
            raise Forbidden("an RT head can only submit proposals for their own RT")
        draft.check_buildable()
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

    @computed_field  # type: ignore[prop-decorator]
    @property
    def programme_year(self) -> int:
        """The year the job belongs to: its fiscal year once approved, else the year
        it was submitted in. Stored with the document, so lists filter on it."""
        return self.fiscal_year or self.created_at.year

    @computed_field  # type: ignore[prop-decorator]
    @property
    def last_progress_at(self) -> datetime:
        """When anything last moved: a step of its own, a word or a shipment from the
        materials service. Stored with the document, so the stuck view filters on it."""
        moments = [self.updated_at, *(d.at for d in self.deliveries)]
        if self.materials is not None:
            moments.append(self.materials.at)
        return max(moments)

    @property
    def percent_done(self) -> int:
        return max((report.percent for report in self.progress), default=0)

    @property
    def holds_budget(self) -> bool:
        """True while the job's cost is reserved against its kecamatan's ceiling."""
        return self.budget_idr is not None and self.state in HOLDS_BUDGET

    def act(self, action: Action, actor: Actor | None, now: datetime, reason: str = "") -> None:
        """Take `action` as `actor` (None: the system, reacting to an event)."""
        self._check_may(action, actor)
        self._check_ready(action, self.percent_done)
        self._record(action, actor, now, reason)

    def _check_ready(self, action: Action, percent: int) -> None:
        if action is Action.COMPLETE_WORK and percent < 100:
            raise Conflict(
                f"the work is reported at {percent}%; report 100% (in a progress report, "
                "or as the completion's percent) before completing it"
            )

    def _check_may(self, action: Action, actor: Actor | None) -> None:
        """Whether the person may see it (404, as if unknown), then the state (409),
        then the person's role (403): before any check of the values, and nobody
        learns the state of a proposal they may not see."""
        if actor is not None:
            self.check_visible_to(actor)
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

    def revise(self, draft: ProposalDraft, actor: Actor, now: datetime) -> None:
        """The RT head corrects a returned proposal (what the return asked for, or what
        the materials service could not build) before resubmitting it; its RT stays."""
        self._check_may(Action.REVISE, actor)
        if draft.area != self.draft.area:
            raise Unprocessable(
                "a revision keeps the proposal's RT; withdraw it and submit a new one there"
            )
        draft.check_buildable()
        changed = [
            name
            for name in type(draft).model_fields
            if getattr(draft, name) != getattr(self.draft, name)
        ]
        self._record(Action.REVISE, actor, now, f"changed: {', '.join(changed) or 'nothing'}")
        self.draft = draft

    def approve(self, actor: Actor, now: datetime, budget_idr: int, fiscal_year: int) -> None:
        self._check_may(Action.APPROVE, actor)
        if budget_idr <= 0:
            raise Unprocessable("an approval needs a positive budget in rupiah")
        try:
            self.draft.check_buildable()
        except Unprocessable as refused:
            raise Unprocessable(
                f"{refused.message} (the rules changed since it was submitted); "
                "return it to the RT for correction"
            ) from refused
        self._record(Action.APPROVE, actor, now, "")
        self.budget_idr = budget_idr
        self.fiscal_year = fiscal_year

    def report_progress(self, report: ProgressReport, actor: Actor) -> bool:
        """Record a report; True when the percentage moved (worth an event)."""
        self._check_may(Action.REPORT_PROGRESS, actor)
        self._check_not_lower(report)
        self._check_room_for(report)
        moved = report.percent > self.percent_done
        self._record(Action.REPORT_PROGRESS, actor, report.at, report.note)
        self.progress.append(report)
        return moved

    def _check_room_for(self, report: ProgressReport) -> None:
        kept = len(self.progress)
        full = kept >= MAX_PROGRESS_REPORTS
        if full or (kept == MAX_PROGRESS_REPORTS - 1 and report.percent < 100):
            raise Conflict(
                f"this job has {kept} progress reports, the most a proposal keeps is "
                f"{MAX_PROGRESS_REPORTS}"
                + ("" if full else "; the last one is kept for the report of 100%")
            )

    def _check_not_lower(self, report: ProgressReport) -> None:
        if report.percent < self.percent_done:
            raise Unprocessable(
                f"progress never goes down: it is {self.percent_done}% already, "
                f"not {report.percent}%"
            )

    def complete(
        self, actor: Actor, now: datetime, note: str = "", final: ProgressReport | None = None
    ) -> bool:
        """The RT reports the job done, optionally with its final report (at 100 %).

        Everything is checked before anything changes. True when the final report
        moved the percentage (worth a progress event)."""
        self._check_may(Action.COMPLETE_WORK, actor)
        if final is not None:
            self._check_not_lower(final)
            self._check_room_for(final)
        self._check_ready(Action.COMPLETE_WORK, final.percent if final else self.percent_done)
        moved = self.report_progress(final, actor) if final is not None else False
        self._record(Action.COMPLETE_WORK, actor, now, note)
        return moved

    def record_materials_fulfilled(self, at: datetime) -> bool:
        """Every material arrived: the RT may start. False when the city cancelled the
        job meanwhile (the materials service releases what is left on the cancel)."""
        if self.state is State.CANCELLED:
            return False
        self.act(Action.RECORD_MATERIALS_FULFILLED, None, at, "all materials arrived")
        return True

    def block(self, reason: str, at: datetime) -> bool:
        """Another service cannot carry out the approved job as approved: it waits for
        the city. False when it is no longer approved (cancelled meanwhile, or blocked
        already by an earlier copy of the refusal)."""
        if self.state is not State.APPROVED:
            return False
        self.act(Action.BLOCK, None, at, reason)
        return True

    def record_materials_word(self, word: MaterialsWord) -> bool:
        """Keep the materials service's latest word on the job's stock; False for one
        older than what is kept (events may arrive out of order)."""
        if self.materials is not None and self.materials.at > word.at:
            return False
        self.materials = word
        return True

    def record_delivery(self, shipment: MaterialShipment) -> bool:
        """Add a shipment's dispatch or receipt to `deliveries` (and so to the
        timeline); False when that step of it is there already."""
        if not (self.state in HOLDS_BUDGET or self.state is State.CANCELLED):
            raise Conflict(
                f"materials {shipment.status} for a proposal that is {self.state.value}; "
                "only an approved job receives materials"
            )
        known = {(d.shipment_id, d.status) for d in self.deliveries}
        if (shipment.shipment_id, shipment.status) in known:
            return False
        self.deliveries.append(shipment)
        return True

    def swadaya_contributed(self) -> tuple[int, float]:
        """(volunteer turn-outs, labour days) summed over the progress reports."""
        return (
            sum(r.volunteers for r in self.progress),
            sum(r.labour_days for r in self.progress),
        )

    def check_visible_to(self, actor: Actor) -> None:
        """Refuse, as if it did not exist (404), someone who may not see this proposal:
        outside their area, or a resident before it is published. Checked before
        anything that would tell its state."""
        public = self.state in PUBLISHED_STATES
        if not actor.covers(self.area) or (actor.role is Role.RESIDENT and not public):
            raise NotFound(f"no proposal {self.id}")

    def check_may_read(self, actor: Actor) -> None:
        """Who may see the whole proposal, personal data included."""
        self.check_visible_to(actor)
        if actor.role is Role.RESIDENT:
            raise Forbidden(
                f"residents read published proposals without a token at /public/proposals/{self.id}"
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
        # a state the action cannot leave is refused later, as a conflict
        if self.state in rule.source and actor.role not in rule.roles_from(self.state):
            who = ", ".join(sorted(r.value for r in rule.roles_from(self.state)))
            raise Forbidden(
                f"a {self.state.value} proposal is reviewed by the {who}, "
                f"not the {actor.role.value}"
            )
