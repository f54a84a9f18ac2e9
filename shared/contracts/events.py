"""Payloads of every event in the catalogue, version 1.

A payload never changes meaning once published: a new meaning is a new version
(a new model here and a new catalogue entry), and old versions stay until no
producer emits them.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal, TypedDict

from pydantic import Field

from shared.contracts.types import (
    Area,
    ConcreteGrade,
    Contract,
    Dimensions,
    Location,
    MaterialLine,
    Name,
    ReceivedLine,
    SwadayaPledge,
    Text,
    WorkType,
)

Rupiah = Annotated[int, Field(ge=0, le=10**13, description="Indonesian rupiah, whole")]
Percent = Annotated[int, Field(ge=0, le=100)]
ReviewLevel = Literal["kelurahan", "kecamatan", "city"]


class ProposalKeys(TypedDict):
    """The fields of `ProposalEvent`, for building any proposal event with `**keys`."""

    proposal_id: uuid.UUID
    area: Area
    proposer_id: str


class ProposalEvent(Contract):
    """What every proposal event carries, so consumers need no lookup to route it."""

    proposal_id: uuid.UUID
    area: Area
    proposer_id: Name


class ProposalSubmittedV1(ProposalEvent):
    title: Name
    work_type: WorkType
    dimensions: Dimensions
    location: Location
    problem: Text = ""
    households_served: Annotated[int, Field(ge=0)]
    estimated_cost_idr: Rupiah
    swadaya: SwadayaPledge
    possible_duplicate_of: tuple[uuid.UUID, ...] = Field(
        default=(), description="open proposals of the same RT and work type close by"
    )


class ProposalResubmittedV1(ProposalEvent):
    resubmitted_by: Name
    note: Text = ""


class ProposalWithdrawnV1(ProposalEvent):
    withdrawn_by: Name
    reason: Text = ""


class ProposalVerifiedV1(ProposalEvent):
    verified_by: Name
    note: Text = ""


class ProposalEndorsedV1(ProposalEvent):
    endorsed_by: Name
    note: Text = ""


class ProposalReturnedV1(ProposalEvent):
    returned_by: Name
    level: ReviewLevel
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class ProposalApprovedV1(ProposalEvent):
    title: Name
    work_type: WorkType
    dimensions: Dimensions
    concrete_grade: ConcreteGrade | None
    location: Location
    budget_idr: Rupiah
    fiscal_year: Annotated[int, Field(ge=2000, le=2100)]
    swadaya: SwadayaPledge
    approved_by: Name


class ProposalRejectedV1(ProposalEvent):
    rejected_by: Name
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class ProposalCancelledV1(ProposalEvent):
    """An approved job will not be built; its budget and materials are released."""

    cancelled_by: Name
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class MaterialReservedV1(ProposalEvent):
    work_volume_m3: Annotated[float, Field(ge=0)]
    lines: tuple[MaterialLine, ...]
    complete: bool = Field(description="every line of the bill of materials is reserved")


class MaterialShortageV1(ProposalEvent):
    missing: tuple[MaterialLine, ...]


class MaterialReleasedV1(ProposalEvent):
    """Reserved stock went back to the warehouse (job rejected or cancelled)."""

    lines: tuple[MaterialLine, ...]
    reason: Text = ""


class MaterialDispatchedV1(ProposalEvent):
    shipment_id: uuid.UUID
    warehouse: Name
    lines: tuple[MaterialLine, ...]
    note: Text = ""


class MaterialDeliveredV1(ProposalEvent):
    shipment_id: uuid.UUID
    confirmed_by: Name
    lines: tuple[ReceivedLine, ...]


class MaterialFulfilledV1(ProposalEvent):
    lines: tuple[MaterialLine, ...]


class WorkStartedV1(ProposalEvent):
    started_by: Name


class WorkProgressReportedV1(ProposalEvent):
    percent: Percent
    note: Text = ""
    photos: tuple[Annotated[str, Field(max_length=500)], ...] = ()
    volunteers: Annotated[int, Field(ge=0)] = 0
    labour_days: Annotated[float, Field(ge=0)] = 0
    reported_by: Name


class WorkCompletedV1(ProposalEvent):
    reported_by: Name
    volunteers_total: Annotated[int, Field(ge=0)]
    labour_days_total: Annotated[float, Field(ge=0)]


class WorkValidatedV1(ProposalEvent):
    validated_by: Name
    note: Text = ""


class WorkReturnedV1(ProposalEvent):
    """A supervisor did not accept the completion; work goes on."""

    returned_by: Name
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class BudgetAllocatedV1(Contract):
    """From the city's finance system: a kecamatan's yearly ceiling (pagu)."""

    kecamatan: Name
    fiscal_year: Annotated[int, Field(ge=2000, le=2100)]
    ceiling_idr: Rupiah
    allocated_by: Name
    reference: Name = Field(description="the finance system's own document number")


class StockReceivedV1(Contract):
    """From the city's procurement or warehouse system: stock arrived at a warehouse."""

    receipt_id: Name = Field(description="the sender's own id of this receipt")
    warehouse: Name
    supplier: Name
    lines: Annotated[tuple[MaterialLine, ...], Field(min_length=1)]
    received_by: Name


class NotificationOutcomeV1(Contract):
    notification_id: uuid.UUID
    recipient_id: Name
    channel: Literal["in_app", "email", "sms", "webhook"]
    about_event_id: uuid.UUID
    about_event_type: Name
    proposal_id: uuid.UUID | None = None


class NotificationSentV1(NotificationOutcomeV1):
    pass


class NotificationFailedV1(NotificationOutcomeV1):
    reason: Text
