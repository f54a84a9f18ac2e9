"""Payloads of every event, each declaring its contract: the catalogue is made of them.

Each model says which event and version it is and who produces it (`@event(...)`);
its docstring's first paragraph is the event's summary (the AsyncAPI documents show
it). A payload never changes meaning once published: a new meaning is a new version —
a new model `…V2` with `version=2`, and an upcaster from v1 (`@CATALOGUE.upcaster`),
so consumers registered for v2 take v1 messages too — and old versions stay until
no producer emits them.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal, TypedDict

from pydantic import Field

from shared.contracts.registry import EventRegistry
from shared.contracts.types import (
    Area,
    ConcreteGrade,
    Contract,
    Dimensions,
    FiscalYear,
    Households,
    JobBudget,
    JobRupiah,
    Location,
    MaterialLine,
    Name,
    Problem,
    ProgressFields,
    Reason,
    ReceivedLine,
    Rupiah,
    SwadayaPledge,
    Text,
    Title,
    WorkType,
)

ReviewLevel = Literal["kelurahan", "kecamatan", "city"]

# The public event catalogue: every contract below, and the upcasters between versions.
CATALOGUE = EventRegistry("the event catalogue")
event = CATALOGUE.event


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


@event("proposal.submitted", version=1, producer="proposals")
class ProposalSubmittedV1(ProposalEvent):
    """An RT submitted a proposal for a community-built job."""

    title: Title
    work_type: WorkType
    dimensions: Dimensions
    location: Location
    # Required: the producer always sent it (a draft has no proposal without one).
    problem: Problem
    households_served: Households
    estimated_cost_idr: JobRupiah
    swadaya: SwadayaPledge
    possible_duplicate_of: tuple[uuid.UUID, ...] = Field(
        default=(), description="open proposals of the same RT and work type close by"
    )


@event("proposal.resubmitted", version=1, producer="proposals")
class ProposalResubmittedV1(ProposalEvent):
    """The RT revised a returned proposal and sent it back for review."""

    resubmitted_by: Name
    note: Text = ""


@event("proposal.withdrawn", version=1, producer="proposals")
class ProposalWithdrawnV1(ProposalEvent):
    """The RT withdrew its proposal before approval."""

    withdrawn_by: Name
    reason: Text = ""


@event("proposal.verified", version=1, producer="proposals")
class ProposalVerifiedV1(ProposalEvent):
    """The kelurahan checked the proposal."""

    verified_by: Name
    note: Text = ""


@event("proposal.endorsed", version=1, producer="proposals")
class ProposalEndorsedV1(ProposalEvent):
    """The kecamatan endorsed the proposal."""

    endorsed_by: Name
    note: Text = ""


@event("proposal.returned", version=1, producer="proposals")
class ProposalReturnedV1(ProposalEvent):
    """A reviewer sent the proposal back for revision, with a reason."""

    returned_by: Name
    level: ReviewLevel
    reason: Reason


@event("proposal.approved", version=1, producer="proposals")
class ProposalApprovedV1(ProposalEvent):
    """The city approved the job: work type, dimensions, location, budget, swadaya."""

    title: Title
    work_type: WorkType
    dimensions: Dimensions
    concrete_grade: ConcreteGrade | None
    location: Location
    budget_idr: JobBudget
    fiscal_year: FiscalYear
    swadaya: SwadayaPledge
    approved_by: Name


@event("proposal.rejected", version=1, producer="proposals")
class ProposalRejectedV1(ProposalEvent):
    """The city rejected the proposal, with a public reason."""

    rejected_by: Name
    reason: Reason


@event("proposal.cancelled", version=1, producer="proposals")
class ProposalCancelledV1(ProposalEvent):
    """The city cancelled an approved job; budget and materials are released."""

    cancelled_by: Name
    reason: Reason


@event("material.unplannable", version=1, producer="materials")
class MaterialUnplannableV1(ProposalEvent):
    """The materials service cannot plan the approved job (e.g. a concrete grade the
    work type does not allow): nothing is reserved; the proposals service blocks the job
    and releases its budget until the city returns it for correction or cancels it."""

    reason: Reason
    work_type: WorkType
    dimensions: Dimensions
    concrete_grade: ConcreteGrade | None
    allowed_grades: tuple[ConcreteGrade, ...] = Field(
        default=(), description="the grades the work type may ask for, when the grade is at fault"
    )


@event("material.reserved", version=1, producer="materials")
class MaterialReservedV1(ProposalEvent):
    """The bill of materials was computed and stock reserved."""

    work_volume_m3: Annotated[float, Field(ge=0)]
    lines: tuple[MaterialLine, ...]
    complete: bool = Field(description="every line of the bill of materials is reserved")


@event("material.shortage", version=1, producer="materials")
class MaterialShortageV1(ProposalEvent):
    """Not enough stock to reserve the whole bill of materials."""

    missing: tuple[MaterialLine, ...]


@event("material.released", version=1, producer="materials")
class MaterialReleasedV1(ProposalEvent):
    """Reserved stock went back to the warehouse (job rejected or cancelled)."""

    lines: tuple[MaterialLine, ...]
    reason: Text = ""


@event("material.dispatched", version=1, producer="materials")
class MaterialDispatchedV1(ProposalEvent):
    """A shipment left the warehouse."""

    shipment_id: uuid.UUID
    warehouse: Name
    lines: tuple[MaterialLine, ...]
    note: Text = ""


@event("material.delivered", version=1, producer="materials")
class MaterialDeliveredV1(ProposalEvent):
    """The RT confirmed receipt of a shipment, with the quantities received."""

    shipment_id: uuid.UUID
    confirmed_by: Name
    lines: tuple[ReceivedLine, ...]


@event("material.fulfilled", version=1, producer="materials")
class MaterialFulfilledV1(ProposalEvent):
    """Every line of the job's bill of materials has arrived."""

    lines: tuple[MaterialLine, ...]


@event("work.started", version=1, producer="proposals")
class WorkStartedV1(ProposalEvent):
    """Gotong royong began on site."""

    started_by: Name


@event("work.progress_reported", version=1, producer="proposals")
class WorkProgressReportedV1(ProgressFields, ProposalEvent):
    """Progress was reported: percent, note, photos, volunteers, labour days."""

    # ProgressFields first among the bases, so the keys of ProposalEvent come first.
    reported_by: Name


@event("work.completed", version=1, producer="proposals")
class WorkCompletedV1(ProposalEvent):
    """The RT reports the job done."""

    reported_by: Name
    volunteers_total: Annotated[int, Field(ge=0)]
    labour_days_total: Annotated[float, Field(ge=0)]


@event("work.validated", version=1, producer="proposals")
class WorkValidatedV1(ProposalEvent):
    """A supervisor validated the job and it was handed over."""

    validated_by: Name
    note: Text = ""


@event("work.returned", version=1, producer="proposals")
class WorkReturnedV1(ProposalEvent):
    """A supervisor returned the completion report with a reason; work goes on."""

    returned_by: Name
    reason: Reason


@event("budget.allocated", version=1, producer="city-finance")
class BudgetAllocatedV1(Contract):
    """The city's finance system set a kecamatan's yearly budget ceiling (pagu)."""

    kecamatan: Name
    fiscal_year: FiscalYear
    ceiling_idr: Rupiah
    allocated_by: Name
    reference: Name = Field(description="the finance system's own document number")


@event("stock.received", version=1, producer="city-warehouse")
class StockReceivedV1(Contract):
    """The city's procurement or warehouse system received stock at a warehouse."""

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


@event("notification.sent", version=1, producer="notifications")
class NotificationSentV1(NotificationOutcomeV1):
    """A notification was delivered (audit log)."""


@event("notification.failed", version=1, producer="notifications")
class NotificationFailedV1(NotificationOutcomeV1):
    """A notification could not be delivered (audit log)."""

    reason: Text
