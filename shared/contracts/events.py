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

from shared.contracts.publicity import published_after
from shared.contracts.registry import EventRegistry, contract_of
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


class StepKeys(ProposalKeys):
    """The fields of `ProposalStep`: the keys and whether the proposal is public."""

    public: bool


class ProposalStep(ProposalEvent):
    """A proposal event from v2 on: it also says whether the proposal is public after it.

    The producer states it from the proposal's own state, so that no consumer has to
    know which steps publish a proposal.
    """

    public: bool = Field(
        description=(
            "whether the proposal may be shown to anyone but its RT after this step: from "
            "the kelurahan's check on; not while it is submitted, returned or withdrawn "
            "(then not even that it exists)"
        )
    )


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


# ---- v2 of every proposal event: the same payload, and whether the proposal is public ----
# A version that adds a field and keeps the meaning subclasses the one before and keeps its
# summary. v1 messages (the history keeps them) are upcast below.


@event("proposal.submitted", version=2, producer="proposals")
class ProposalSubmittedV2(ProposalSubmittedV1, ProposalStep):
    pass


@event("proposal.resubmitted", version=2, producer="proposals")
class ProposalResubmittedV2(ProposalResubmittedV1, ProposalStep):
    pass


@event("proposal.withdrawn", version=2, producer="proposals")
class ProposalWithdrawnV2(ProposalWithdrawnV1, ProposalStep):
    pass


@event("proposal.verified", version=2, producer="proposals")
class ProposalVerifiedV2(ProposalVerifiedV1, ProposalStep):
    pass


@event("proposal.endorsed", version=2, producer="proposals")
class ProposalEndorsedV2(ProposalEndorsedV1, ProposalStep):
    pass


@event("proposal.returned", version=2, producer="proposals")
class ProposalReturnedV2(ProposalReturnedV1, ProposalStep):
    pass


@event("proposal.approved", version=2, producer="proposals")
class ProposalApprovedV2(ProposalApprovedV1, ProposalStep):
    pass


@event("proposal.rejected", version=2, producer="proposals")
class ProposalRejectedV2(ProposalRejectedV1, ProposalStep):
    pass


@event("proposal.cancelled", version=2, producer="proposals")
class ProposalCancelledV2(ProposalCancelledV1, ProposalStep):
    pass


@event("material.unplannable", version=2, producer="materials")
class MaterialUnplannableV2(MaterialUnplannableV1, ProposalStep):
    pass


@event("material.reserved", version=2, producer="materials")
class MaterialReservedV2(MaterialReservedV1, ProposalStep):
    pass


@event("material.shortage", version=2, producer="materials")
class MaterialShortageV2(MaterialShortageV1, ProposalStep):
    pass


@event("material.released", version=2, producer="materials")
class MaterialReleasedV2(MaterialReleasedV1, ProposalStep):
    pass


@event("material.dispatched", version=2, producer="materials")
class MaterialDispatchedV2(MaterialDispatchedV1, ProposalStep):
    pass


@event("material.delivered", version=2, producer="materials")
class MaterialDeliveredV2(MaterialDeliveredV1, ProposalStep):
    pass


@event("material.fulfilled", version=2, producer="materials")
class MaterialFulfilledV2(MaterialFulfilledV1, ProposalStep):
    pass


@event("work.started", version=2, producer="proposals")
class WorkStartedV2(WorkStartedV1, ProposalStep):
    pass


@event("work.progress_reported", version=2, producer="proposals")
class WorkProgressReportedV2(WorkProgressReportedV1, ProposalStep):
    pass


@event("work.completed", version=2, producer="proposals")
class WorkCompletedV2(WorkCompletedV1, ProposalStep):
    pass


@event("work.validated", version=2, producer="proposals")
class WorkValidatedV2(WorkValidatedV1, ProposalStep):
    pass


@event("work.returned", version=2, producer="proposals")
class WorkReturnedV2(WorkReturnedV1, ProposalStep):
    pass


def _upcast_stating_publicity(old: type[ProposalEvent], new: type[ProposalStep]) -> None:
    """v1 → v2: v1 did not say, and the rule that held when it was published tells."""
    public = published_after(contract_of(old).event_type)

    @CATALOGUE.upcaster(old, new)
    def stating_publicity(data: ProposalEvent) -> ProposalStep:
        fields = {name: getattr(data, name) for name in type(data).model_fields}
        return new(**fields, public=public)


def _upcast_every_step_from_v1() -> None:
    steps = [c for c in CATALOGUE.values() if issubclass(c.data_model, ProposalStep)]
    for step in steps:
        _upcast_stating_publicity(CATALOGUE[(step.event_type, 1)].data_model, step.data_model)


_upcast_every_step_from_v1()


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
