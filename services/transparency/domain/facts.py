"""What the page may show of one published event: its public facts, nothing more.

Each event that concerns a proposal becomes one `Fact`, kept by its `event_id` (so a
duplicate is the same fact again). Names of people (proposer, officers, who confirmed
a receipt) and free notes are left out here, at the door: what is not stored cannot be
shown. Reasons for a rejection or a cancellation are public by the contract.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from shared.clock import Timestamp
from shared.contracts import events as ev
from shared.contracts.types import Dimensions, Location, MaterialLine


class Line(BaseModel):
    """A quantity of one item (a bill's line, a shipment's, what arrived)."""

    model_config = ConfigDict(frozen=True)

    item: str
    unit: str
    quantity: float


class Place(BaseModel):
    model_config = ConfigDict(frozen=True)

    kecamatan: str
    kelurahan: str
    rt: str


class Fact(BaseModel):
    """One event's public facts; the fields an event type does not carry stay empty."""

    model_config = ConfigDict(frozen=True)

    event_id: uuid.UUID
    proposal_id: uuid.UUID
    type: str
    occurred_at: Timestamp
    area: Place
    # as the event stated it; None in a fact stored before events stated it (v1)
    public: bool | None = None
    title: str | None = None
    work_type: str | None = None
    dimensions: Dimensions | None = None
    location: Location | None = None
    budget_idr: int | None = None
    fiscal_year: int | None = None
    pledged_volunteers: int | None = None
    pledged_labour_days: float | None = None
    reason: str | None = None
    shipment_id: uuid.UUID | None = None
    lines: tuple[Line, ...] = ()
    complete: bool | None = None
    percent: int | None = None
    photos: tuple[str, ...] = ()
    volunteers: int | None = None
    labour_days: float | None = None

    @property
    def order(self) -> tuple[datetime, str]:
        """When it happened; the id breaks ties, so any arrival order sorts alike."""
        return self.occurred_at, str(self.event_id)


def fact_of(
    event_id: uuid.UUID, event_type: str, occurred_at: datetime, data: ev.ProposalStep
) -> Fact:
    """The public facts of `data`, published as `event_type` at `occurred_at`."""
    area = Place(kecamatan=data.area.kecamatan, kelurahan=data.area.kelurahan, rt=data.area.rt)
    base = Fact(
        event_id=event_id,
        proposal_id=data.proposal_id,
        type=event_type,
        occurred_at=occurred_at,
        area=area,
        public=data.public,
    )
    return base.model_copy(update=_public_fields(data))


def _public_fields(data: ev.ProposalEvent) -> dict[str, object]:
    match data:
        case ev.ProposalSubmittedV2():
            return {
                "title": data.title,
                "work_type": data.work_type,
                "dimensions": data.dimensions,
                "location": data.location,
                "pledged_volunteers": data.swadaya.volunteers,
                "pledged_labour_days": data.swadaya.labour_days,
            }
        case ev.ProposalApprovedV2():
            return {
                "title": data.title,
                "work_type": data.work_type,
                "dimensions": data.dimensions,
                "location": data.location,
                "budget_idr": data.budget_idr,
                "fiscal_year": data.fiscal_year,
                "pledged_volunteers": data.swadaya.volunteers,
                "pledged_labour_days": data.swadaya.labour_days,
            }
        case ev.ProposalRejectedV2() | ev.ProposalCancelledV2() | ev.MaterialUnplannableV2():
            return {"reason": data.reason}
        case ev.MaterialReservedV2():
            return {"lines": _lines(data.lines), "complete": data.complete}
        case ev.MaterialShortageV2():
            return {"lines": _lines(data.missing)}
        case ev.MaterialDispatchedV2():
            return {"lines": _lines(data.lines), "shipment_id": data.shipment_id}
        case ev.MaterialDeliveredV2():
            received = tuple(
                Line(item=line.item, unit=line.unit, quantity=line.received) for line in data.lines
            )
            return {"lines": received, "shipment_id": data.shipment_id}
        case ev.MaterialReleasedV2() | ev.MaterialFulfilledV2():
            return {"lines": _lines(data.lines)}
        case ev.WorkProgressReportedV2():
            return {
                "percent": data.percent,
                "photos": data.photos,
                "volunteers": data.volunteers,
                "labour_days": data.labour_days,
            }
        case ev.WorkCompletedV2():
            return {"volunteers": data.volunteers_total, "labour_days": data.labour_days_total}
    return {}


def _lines(lines: tuple[MaterialLine, ...]) -> tuple[Line, ...]:
    return tuple(Line(item=line.item, unit=line.unit, quantity=line.quantity) for line in lines)


class Allocation(BaseModel):
    """A kecamatan's yearly ceiling as the finance system set it (`budget.allocated`)."""

    model_config = ConfigDict(frozen=True)

    event_id: uuid.UUID
    kecamatan: str
    fiscal_year: int
    ceiling_idr: int
    occurred_at: Timestamp


def allocation_of(
    event_id: uuid.UUID, occurred_at: datetime, data: ev.BudgetAllocatedV1
) -> Allocation:
    return Allocation(
        event_id=event_id,
        kecamatan=data.kecamatan,
        fiscal_year=data.fiscal_year,
        ceiling_idr=data.ceiling_idr,
        occurred_at=occurred_at,
    )
