"""One proposal as the public sees it, derived from the facts of its events.

Order-tolerant by construction: the view is a function of the *set* of facts (sorted
by when each happened, ties broken by event id), never a counter bumped as events
arrive, so any arrival order — and any duplicate — gives the same view.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone

from pydantic import BaseModel, ConfigDict

from services.transparency.domain.facts import Fact, Line, Place
from shared.clock import Timestamp
from shared.contracts.publicity import public_after
from shared.contracts.types import Dimensions, Location

# Kota Jambi's time (WIB, UTC+7, no daylight saving): the year a proposal was made in.
WIB = timezone(timedelta(hours=7))
DAY_SECONDS = 86_400

# The state each step leaves a proposal in. Steps of the materials' own bookkeeping
# (reserved, shortage, dispatched, delivered, released) leave it where it was.
STATE_AFTER: dict[str, str] = {
    "proposal.submitted": "submitted",
    "proposal.resubmitted": "submitted",
    "proposal.returned": "returned",
    "proposal.withdrawn": "withdrawn",
    "proposal.verified": "verified",
    "proposal.endorsed": "endorsed",
    "proposal.approved": "approved",
    "proposal.rejected": "rejected",
    "proposal.cancelled": "cancelled",
    "material.unplannable": "blocked",
    "material.fulfilled": "materials_fulfilled",
    "work.started": "in_progress",
    "work.progress_reported": "in_progress",
    "work.returned": "in_progress",
    "work.completed": "completed",
    "work.validated": "validated",
}
# The states a public proposal can be in, in the order the page lists them.
PUBLIC_STATES = (
    "verified",
    "endorsed",
    "approved",
    "materials_fulfilled",
    "in_progress",
    "completed",
    "validated",
    "rejected",
    "cancelled",
    "blocked",
)
# An approval stops holding its budget once the job is rejected, cancelled or blocked
# (the proposals service releases it).
BUDGET_RELEASED = frozenset({"rejected", "cancelled", "blocked"})
DONE = frozenset({"completed", "validated"})


class ItemFigure(BaseModel):
    """One material: the bill, what left the warehouse, what the RT confirmed."""

    model_config = ConfigDict(frozen=True)

    item: str
    unit: str
    bill: float = 0.0
    dispatched: float = 0.0
    delivered: float = 0.0


class Step(BaseModel):
    """One step of the timeline, with what may be shown of it."""

    model_config = ConfigDict(frozen=True)

    type: str
    occurred_at: Timestamp
    percent: int | None = None
    photos: tuple[str, ...] = ()
    reason: str | None = None
    volunteers: int | None = None
    labour_days: float | None = None


class ProposalView(BaseModel):
    """A proposal's public figures and timeline. `public` False: shown nowhere."""

    proposal_id: uuid.UUID
    area: Place
    public: bool
    state: str
    year: int
    title: str | None = None
    work_type: str | None = None
    dimensions: Dimensions | None = None
    location: Location | None = None
    fiscal_year: int | None = None
    budget_idr: int = 0
    pledged_volunteers: int = 0
    pledged_labour_days: float = 0.0
    volunteers: int = 0
    labour_days: float = 0.0
    percent: int = 0
    submitted_at: Timestamp | None = None
    approved_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    validated_at: Timestamp | None = None
    last_step_at: Timestamp
    materials: tuple[ItemFigure, ...] = ()
    timeline: tuple[Step, ...] = ()

    @property
    def days_to_approval(self) -> float | None:
        return _days(self.submitted_at, self.approved_at)

    @property
    def days_to_completion(self) -> float | None:
        return _days(self.approved_at, self.completed_at)

    @property
    def done(self) -> bool:
        return self.state in DONE

    @property
    def photos(self) -> tuple[str, ...]:
        return tuple(photo for step in self.timeline for photo in step.photos)


def _days(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds() / DAY_SECONDS


def view_of(facts: Iterable[Fact]) -> ProposalView:
    """The proposal's view from every fact known of it (at least one)."""
    unique = {fact.event_id: fact for fact in facts}  # a duplicate is the same fact
    ordered = sorted(unique.values(), key=lambda fact: fact.order)
    if not ordered:
        raise ValueError("a proposal view needs at least one fact")
    first, last = ordered[0], ordered[-1]
    stateful = [fact for fact in ordered if fact.type in STATE_AFTER]
    state = STATE_AFTER[stateful[-1].type] if stateful else "approved"
    submitted = _first(ordered, "proposal.submitted")
    approved = _last(ordered, "proposal.approved")
    described = _last_with(ordered, lambda fact: fact.title is not None)
    completed = _last(ordered, "work.completed")
    reports = [fact for fact in ordered if fact.type == "work.progress_reported"]
    volunteers, labour_days = _swadaya(completed, reports)
    return ProposalView(
        proposal_id=first.proposal_id,
        area=last.area,
        public=public_after(last.type, last.public),
        state=state,
        year=_year(approved, submitted or first),
        title=described.title if described else None,
        work_type=described.work_type if described else None,
        dimensions=described.dimensions if described else None,
        location=described.location if described else None,
        fiscal_year=approved.fiscal_year if approved else None,
        budget_idr=(approved.budget_idr or 0) if approved and state not in BUDGET_RELEASED else 0,
        pledged_volunteers=(described.pledged_volunteers or 0) if described else 0,
        pledged_labour_days=(described.pledged_labour_days or 0.0) if described else 0.0,
        volunteers=volunteers,
        labour_days=labour_days,
        percent=100 if state in DONE else max((r.percent or 0 for r in reports), default=0),
        submitted_at=submitted.occurred_at if submitted else None,
        approved_at=approved.occurred_at if approved else None,
        completed_at=completed.occurred_at if completed and state in DONE else None,
        validated_at=_at(_last(ordered, "work.validated")) if state == "validated" else None,
        last_step_at=last.occurred_at,
        materials=materials_of(ordered),
        timeline=tuple(_step(fact) for fact in ordered),
    )


def _year(approved: Fact | None, started: Fact) -> int:
    """The fiscal year of an approved job; else the year (WIB) it was proposed in."""
    if approved is not None and approved.fiscal_year is not None:
        return approved.fiscal_year
    return started.occurred_at.astimezone(WIB).year


def _swadaya(completed: Fact | None, reports: list[Fact]) -> tuple[int, float]:
    """The totals the RT reported at completion; until then the reports' sum."""
    if completed is not None:
        return completed.volunteers or 0, completed.labour_days or 0.0
    return (
        sum(r.volunteers or 0 for r in reports),
        round(sum(r.labour_days or 0.0 for r in reports), 2),
    )


def materials_of(ordered: list[Fact]) -> tuple[ItemFigure, ...]:
    """Per item: the bill, what was dispatched and what the RT confirmed.

    The events never carry the bill whole: `material.reserved` says how much of each
    line is secured (reserved, on its way or arrived, at most the bill) and
    `material.shortage`, sent with it, what is still missing. So the bill is the latest
    reservation plus the shortage announced with or after it (a later reservation
    makes an earlier shortage stale); a complete reservation is the bill itself.
    Shipments and receipts are counted once each, by shipment.
    """
    units: dict[str, str] = {}
    bill: dict[str, float] = {}
    reserved = _last(ordered, "material.reserved")
    if reserved is not None:
        _add(bill, units, reserved.lines)
        shortage = _last(ordered, "material.shortage")
        if not reserved.complete and shortage is not None and shortage.order > reserved.order:
            _add(bill, units, shortage.lines)
    dispatched = _by_shipment(ordered, "material.dispatched", units)
    delivered = _by_shipment(ordered, "material.delivered", units)
    return tuple(
        ItemFigure(
            item=item,
            unit=units[item],
            bill=round(bill.get(item, 0.0), 3),
            dispatched=round(dispatched.get(item, 0.0), 3),
            delivered=round(delivered.get(item, 0.0), 3),
        )
        for item in sorted(units)
    )


def _by_shipment(ordered: list[Fact], event_type: str, units: dict[str, str]) -> dict[str, float]:
    latest = {fact.shipment_id: fact for fact in ordered if fact.type == event_type}
    totals: dict[str, float] = {}
    for fact in latest.values():
        _add(totals, units, fact.lines)
    return totals


def _add(totals: dict[str, float], units: dict[str, str], lines: Iterable[Line]) -> None:
    for line in lines:
        units.setdefault(line.item, line.unit)
        totals[line.item] = totals.get(line.item, 0.0) + line.quantity


def _first(ordered: list[Fact], event_type: str) -> Fact | None:
    return next((fact for fact in ordered if fact.type == event_type), None)


def _last(ordered: list[Fact], event_type: str) -> Fact | None:
    return next((fact for fact in reversed(ordered) if fact.type == event_type), None)


def _last_with(ordered: list[Fact], wanted: Callable[[Fact], bool]) -> Fact | None:
    return next((fact for fact in reversed(ordered) if wanted(fact)), None)


def _at(fact: Fact | None) -> datetime | None:
    return None if fact is None else fact.occurred_at


def _step(fact: Fact) -> Step:
    return Step(
        type=fact.type,
        occurred_at=fact.occurred_at,
        percent=fact.percent,
        photos=fact.photos,
        reason=fact.reason,
        volunteers=fact.volunteers,
        labour_days=fact.labour_days,
    )
