"""The event catalogue: (type, version) → payload model, producer and meaning."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, create_model

from shared.contracts import events as ev
from shared.contracts.envelope import Envelope
from shared.contracts.types import Contract

# Our three services, and the city's systems whose events we receive.
Producer = Literal["proposals", "materials", "notifications", "city-finance", "city-warehouse"]


@dataclass(frozen=True)
class EventContract:
    event_type: str
    version: int
    producer: Producer
    data_model: type[Contract]
    summary: str
    message_model: type[BaseModel] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # The typed envelope of this event: what the AsyncAPI document shows and
        # what a consumer validates the whole body against.
        name = "".join(part.title() for part in self.event_type.replace("_", ".").split("."))
        model = create_model(
            f"{name}V{self.version}Message",
            __base__=Envelope,
            __doc__=self.summary,
            type=(Literal[self.event_type], ...),  # type: ignore[arg-type]
            version=(Literal[self.version], ...),  # type: ignore[arg-type]
            data=(self.data_model, ...),
        )
        object.__setattr__(self, "message_model", model)


def _contracts() -> list[EventContract]:
    c = EventContract
    return [
        c(
            "proposal.submitted",
            1,
            "proposals",
            ev.ProposalSubmittedV1,
            "An RT submitted a proposal for a community-built job.",
        ),
        c(
            "proposal.resubmitted",
            1,
            "proposals",
            ev.ProposalResubmittedV1,
            "The RT revised a returned proposal and sent it back for review.",
        ),
        c(
            "proposal.withdrawn",
            1,
            "proposals",
            ev.ProposalWithdrawnV1,
            "The RT withdrew its proposal before approval.",
        ),
        c(
            "proposal.cancelled",
            1,
            "proposals",
            ev.ProposalCancelledV1,
            "The city cancelled an approved job; budget and materials are released.",
        ),
        c(
            "proposal.verified",
            1,
            "proposals",
            ev.ProposalVerifiedV1,
            "The kelurahan checked the proposal.",
        ),
        c(
            "proposal.endorsed",
            1,
            "proposals",
            ev.ProposalEndorsedV1,
            "The kecamatan endorsed the proposal.",
        ),
        c(
            "proposal.returned",
            1,
            "proposals",
            ev.ProposalReturnedV1,
            "A reviewer sent the proposal back for revision, with a reason.",
        ),
        c(
            "proposal.approved",
            1,
            "proposals",
            ev.ProposalApprovedV1,
            "The city approved the job: work type, dimensions, location, budget, swadaya.",
        ),
        c(
            "proposal.rejected",
            1,
            "proposals",
            ev.ProposalRejectedV1,
            "The city rejected the proposal, with a public reason.",
        ),
        c(
            "material.reserved",
            1,
            "materials",
            ev.MaterialReservedV1,
            "The bill of materials was computed and stock reserved.",
        ),
        c(
            "material.shortage",
            1,
            "materials",
            ev.MaterialShortageV1,
            "Not enough stock to reserve the whole bill of materials.",
        ),
        c(
            "material.released",
            1,
            "materials",
            ev.MaterialReleasedV1,
            "Reserved stock went back to the warehouse (job rejected or cancelled).",
        ),
        c(
            "material.dispatched",
            1,
            "materials",
            ev.MaterialDispatchedV1,
            "A shipment left the warehouse.",
        ),
        c(
            "material.delivered",
            1,
            "materials",
            ev.MaterialDeliveredV1,
            "The RT confirmed receipt of a shipment, with the quantities received.",
        ),
        c(
            "material.fulfilled",
            1,
            "materials",
            ev.MaterialFulfilledV1,
            "Every line of the job's bill of materials has arrived.",
        ),
        c("work.started", 1, "proposals", ev.WorkStartedV1, "Gotong royong began on site."),
        c(
            "work.progress_reported",
            1,
            "proposals",
            ev.WorkProgressReportedV1,
            "Progress was reported: percent, note, photos, volunteers, labour days.",
        ),
        c("work.completed", 1, "proposals", ev.WorkCompletedV1, "The RT reports the job done."),
        c(
            "work.validated",
            1,
            "proposals",
            ev.WorkValidatedV1,
            "A supervisor validated the job and it was handed over.",
        ),
        c(
            "work.returned",
            1,
            "proposals",
            ev.WorkReturnedV1,
            "A supervisor returned the completion report with a reason; work goes on.",
        ),
        c(
            "budget.allocated",
            1,
            "city-finance",
            ev.BudgetAllocatedV1,
            "The city's finance system set a kecamatan's yearly budget ceiling (pagu).",
        ),
        c(
            "stock.received",
            1,
            "city-warehouse",
            ev.StockReceivedV1,
            "The city's procurement or warehouse system received stock at a warehouse.",
        ),
        c(
            "notification.sent",
            1,
            "notifications",
            ev.NotificationSentV1,
            "A notification was delivered (audit log).",
        ),
        c(
            "notification.failed",
            1,
            "notifications",
            ev.NotificationFailedV1,
            "A notification could not be delivered (audit log).",
        ),
    ]


CATALOGUE: dict[tuple[str, int], EventContract] = {
    (contract.event_type, contract.version): contract for contract in _contracts()
}
_BY_MODEL: dict[type[Contract], EventContract] = {
    contract.data_model: contract for contract in CATALOGUE.values()
}


def contract_for(event_type: str, version: int) -> EventContract | None:
    return CATALOGUE.get((event_type, version))


def contract_of(data_model: type[Contract]) -> EventContract:
    try:
        return _BY_MODEL[data_model]
    except KeyError:
        raise LookupError(f"{data_model.__name__} is not in the event catalogue") from None


def produced_by(producer: Producer) -> list[EventContract]:
    return [c for c in CATALOGUE.values() if c.producer == producer]
