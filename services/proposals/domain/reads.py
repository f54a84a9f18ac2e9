"""What people read: the timeline, the public view, open-data rows, per-kecamatan totals,
and which part of the city an officer may list. Pure functions of the aggregates."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from services.proposals.domain.budget import Budget
from services.proposals.domain.lifecycle import PUBLISHED_STATES, Action, State
from services.proposals.domain.model import MaterialShipment, ProgressReport, Proposal, Transition
from shared.clock import Timestamp, format_timestamp
from shared.contracts.types import (
    Area,
    ConcreteGrade,
    Dimensions,
    Location,
    MaterialLine,
    ReceivedLine,
    SwadayaPledge,
    WorkType,
)
from shared.errors import Forbidden
from shared.identity import Actor, Role

# --------------------------------------------------------------------------------------------
# The timeline: transitions, progress reports and deliveries in the order they happened
# --------------------------------------------------------------------------------------------


class TimelineEntry(BaseModel):
    """One thing that happened to a proposal. `actor_id` is None in the public timeline."""

    model_config = ConfigDict(frozen=True)

    at: Timestamp
    kind: Literal["submitted", "transition", "progress", "dispatched", "delivered"]
    actor_id: str | None = None
    actor_role: Role | None = None
    action: Action | None = None
    from_state: State | None = None
    to_state: State | None = None
    reason: str = ""  # the reason of a decision, or the note of a report or shipment
    percent: int | None = None
    photos: tuple[str, ...] = ()
    volunteers: int | None = None
    labour_days: float | None = None
    shipment_id: uuid.UUID | None = None
    warehouse: str | None = None
    sent: tuple[MaterialLine, ...] = ()
    received: tuple[ReceivedLine, ...] = ()


def timeline_of(proposal: Proposal, *, public: bool = False) -> list[TimelineEntry]:
    """Every transition, progress report and delivery, oldest first."""
    reports = iter(proposal.progress)
    own: list[TimelineEntry] = []
    for transition in proposal.timeline:
        # Each report is recorded twice (a transition and its details), in the same
        # order: the details replace the transition, so causal order is kept.
        report = next(reports, None) if transition.action is Action.REPORT_PROGRESS else None
        own.append(_progress_entry(report) if report else _transition_entry(transition))
    deliveries = [_shipment_entry(d) for d in proposal.deliveries]
    # Stable: at equal times our own entries stay in the order they were recorded.
    merged = sorted([*own, *deliveries], key=lambda entry: entry.at)
    if public:
        return [_public_entry(entry) for entry in merged]
    return merged


_DELIVERY_KINDS = frozenset({"dispatched", "delivered"})


def _public_entry(entry: TimelineEntry) -> TimelineEntry:
    """No person's id; and no free text on a delivery, whose note names the vehicle, the
    driver and when it arrives (kind, date, warehouse and quantities stay)."""
    update: dict[str, object] = {"actor_id": None}
    if entry.kind in _DELIVERY_KINDS:
        update["reason"] = ""
    return entry.model_copy(update=update)


def _transition_entry(t: Transition) -> TimelineEntry:
    return TimelineEntry(
        at=t.at,
        kind="submitted" if t.action is None else "transition",
        actor_id=t.actor_id,
        actor_role=t.actor_role,
        action=t.action,
        from_state=t.from_state,
        to_state=t.to_state,
        reason=t.reason,
    )


def _progress_entry(r: ProgressReport) -> TimelineEntry:
    return TimelineEntry(
        at=r.at,
        kind="progress",
        actor_id=r.reported_by,
        actor_role=Role.RT_HEAD,
        action=Action.REPORT_PROGRESS,
        reason=r.note,
        percent=r.percent,
        photos=r.photos,
        volunteers=r.volunteers,
        labour_days=r.labour_days,
    )


def _shipment_entry(d: MaterialShipment) -> TimelineEntry:
    return TimelineEntry(
        at=d.at,
        kind=d.status,
        actor_id=d.confirmed_by,
        actor_role=Role.RT_HEAD if d.status == "delivered" else None,
        reason=d.note,
        shipment_id=d.shipment_id,
        warehouse=d.warehouse or None,
        sent=d.sent,
        received=d.received,
    )


# --------------------------------------------------------------------------------------------
# The public view: published proposals without personal data
# --------------------------------------------------------------------------------------------


class PublicProposal(BaseModel):
    """What anyone may read. No person's id: not the proposer, nor who decided, nor who
    reported (roles are kept); no attachments, which may hold identity documents."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    title: str
    area: Area
    work_type: WorkType
    dimensions: Dimensions
    concrete_grade: ConcreteGrade | None
    location: Location
    problem: str
    households_served: int
    estimated_cost_idr: int
    swadaya_pledged: SwadayaPledge
    state: State
    programme_year: int
    submitted_at: Timestamp
    updated_at: Timestamp
    budget_idr: int | None
    fiscal_year: int | None
    percent_done: int
    volunteers_contributed: int
    labour_days_contributed: float
    timeline: list[TimelineEntry]


def is_published(proposal: Proposal) -> bool:
    return proposal.state in PUBLISHED_STATES


def public_view(proposal: Proposal) -> PublicProposal:
    d = proposal.draft
    volunteers, labour_days = proposal.swadaya_contributed()
    return PublicProposal(
        id=proposal.id,
        title=d.title,
        area=d.area,
        work_type=d.work_type,
        dimensions=d.dimensions,
        concrete_grade=d.concrete_grade,
        location=d.location,
        problem=d.problem,
        households_served=d.households_served,
        estimated_cost_idr=d.estimated_cost_idr,
        swadaya_pledged=d.swadaya,
        state=proposal.state,
        programme_year=proposal.programme_year,
        submitted_at=proposal.created_at,
        updated_at=proposal.updated_at,
        budget_idr=proposal.budget_idr,
        fiscal_year=proposal.fiscal_year,
        percent_done=proposal.percent_done,
        volunteers_contributed=volunteers,
        labour_days_contributed=labour_days,
        timeline=timeline_of(proposal, public=True),
    )


# --------------------------------------------------------------------------------------------
# Open data: one CSV row per published proposal
# --------------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "id",
    "title",
    "kecamatan",
    "kelurahan",
    "rt",
    "work_type",
    "concrete_grade",
    "length_m",
    "width_m",
    "thickness_m",
    "depth_m",
    "lat",
    "lng",
    "location_description",
    "problem",
    "households_served",
    "estimated_cost_idr",
    "budget_idr",
    "fiscal_year",
    "state",
    "percent_done",
    "volunteers_pledged",
    "labour_days_pledged",
    "volunteers_contributed",
    "labour_days_contributed",
    "submitted_at",
    "updated_at",
)
# A spreadsheet runs a cell that starts with one of these as a formula; residents'
# free text must not become one in an officer's spreadsheet (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def csv_row(p: PublicProposal) -> list[str]:
    """The CSV_COLUMNS of one proposal, as text."""
    d, a, where = p.dimensions, p.area, p.location
    return [
        str(p.id),
        _text(p.title),
        a.kecamatan,
        a.kelurahan,
        a.rt,
        p.work_type,
        p.concrete_grade or "",
        _number(d.length_m),
        _number(d.width_m),
        _number(d.thickness_m),
        _number(d.depth_m),
        f"{where.lat:.6f}",
        f"{where.lng:.6f}",
        _text(where.description),
        _text(p.problem),
        str(p.households_served),
        str(p.estimated_cost_idr),
        "" if p.budget_idr is None else str(p.budget_idr),
        "" if p.fiscal_year is None else str(p.fiscal_year),
        p.state.value,
        str(p.percent_done),
        str(p.swadaya_pledged.volunteers),
        _number(p.swadaya_pledged.labour_days),
        str(p.volunteers_contributed),
        _number(p.labour_days_contributed),
        format_timestamp(p.submitted_at),
        format_timestamp(p.updated_at),
    ]


# --------------------------------------------------------------------------------------------
# Per-kecamatan totals
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StateFigures:
    """Sums over the proposals of one kecamatan in one state (from the database)."""

    kecamatan: str
    state: State
    count: int
    length_m: float
    volunteers: int
    labour_days: float


class KecamatanTotals(BaseModel):
    kecamatan: str
    year: int
    proposals: int
    proposals_by_state: dict[State, int]
    metres_built: float  # length of validated (handed-over) jobs
    ceiling_idr: int | None  # None: no ceiling set for the year
    budget_used_idr: int
    budget_left_idr: int | None
    volunteers_contributed: int
    labour_days_contributed: float


def kecamatan_totals(
    year: int, kecamatan: Iterable[str], figures: Iterable[StateFigures], budgets: list[Budget]
) -> list[KecamatanTotals]:
    """One row per kecamatan of the city, zeros where nothing was proposed."""
    by_kecamatan: dict[str, list[StateFigures]] = {}
    for row in figures:
        by_kecamatan.setdefault(row.kecamatan, []).append(row)
    budget_of = {b.kecamatan: b for b in budgets if b.fiscal_year == year}
    return [
        _totals(name, year, by_kecamatan.get(name, []), budget_of.get(name))
        for name in sorted(kecamatan)
    ]


def _totals(
    name: str, year: int, rows: list[StateFigures], budget: Budget | None
) -> KecamatanTotals:
    return KecamatanTotals(
        kecamatan=name,
        year=year,
        proposals=sum(r.count for r in rows),
        proposals_by_state={r.state: r.count for r in sorted(rows, key=lambda r: r.state)},
        metres_built=round(sum(r.length_m for r in rows if r.state is State.VALIDATED), 2),
        ceiling_idr=budget.ceiling_idr if budget else None,
        budget_used_idr=budget.reserved_idr if budget else 0,
        budget_left_idr=budget.left_idr if budget else None,
        volunteers_contributed=sum(r.volunteers for r in rows),
        labour_days_contributed=round(sum(r.labour_days for r in rows), 2),
    )


# --------------------------------------------------------------------------------------------
# Who may list what
# --------------------------------------------------------------------------------------------


class AreaFilter(BaseModel):
    model_config = ConfigDict(frozen=True)

    kecamatan: str | None = None
    kelurahan: str | None = None
    rt: str | None = None


def scoped_filter(actor: Actor, wanted: AreaFilter) -> AreaFilter:
    """The part of the city `actor` may list, narrowed to what they asked for.

    An officer or RT head sees only their own area; asking for another is a 403
    rather than an empty page, so a mistyped filter is not mistaken for "nothing"."""
    if actor.role is Role.RESIDENT:
        raise Forbidden("residents read published proposals without a token at /public/proposals")
    scope = AreaFilter(kecamatan=actor.kecamatan, kelurahan=actor.kelurahan, rt=actor.rt)
    for level in ("kecamatan", "kelurahan", "rt"):
        own, asked = getattr(scope, level), getattr(wanted, level)
        if own is not None and asked is not None and asked != own:
            raise Forbidden(
                f"you act for {level} {own}; proposals of {level} {asked} are not yours to list"
            )
    return AreaFilter(
        kecamatan=scope.kecamatan or wanted.kecamatan,
        kelurahan=scope.kelurahan or wanted.kelurahan,
        rt=scope.rt or wanted.rt,
    )
