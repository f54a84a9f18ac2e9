"""Event handlers of the materials service: each runs inside the consumer's transaction,
together with the inbox record of the event it handles."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.materials.domain.bill_of_materials import (
    BillOfMaterials,
    WorkDimensions,
    compute_bill_of_materials,
)
from services.materials.domain.job import JobLine, MaterialJob
from services.materials.service.stock_receipts import IncomingLine, receive_stock
from services.materials.service.stock_transaction import Reference, StockTransaction
from shared.clock import utc_now
from shared.contracts import ReceivedEvent
from shared.contracts import events as ev
from shared.errors import Unprocessable
from shared.logs import get_logger
from shared.reference.work_rules import work_rules
from shared.storage.unit_of_work import UnitOfWork

log = get_logger(__name__)


def bill_for(approved: ev.ProposalApprovedV2, reference: Reference) -> BillOfMaterials:
    d = approved.dimensions
    if d.thickness_m is None:
        raise Unprocessable("the approved proposal has no thickness; cannot compute materials")
    try:
        work = WorkDimensions(
            work_type=approved.work_type,
            length_m=d.length_m,
            width_m=d.width_m,
            thickness_m=d.thickness_m,
            depth_m=d.depth_m,
            concrete_grade=approved.concrete_grade,
        )
        return compute_bill_of_materials(work, reference.book, reference.catalogue.bom_options())
    except ValueError as error:
        raise Unprocessable(f"cannot compute the bill of materials: {error}") from error


def new_job(approved: ev.ProposalApprovedV2, bill: BillOfMaterials, at: datetime) -> MaterialJob:
    return MaterialJob(
        proposal_id=approved.proposal_id,
        area=approved.area,
        proposer_id=approved.proposer_id,
        work_volume_m3=bill.work_volume_m3,
        norm=bill.norm,
        approved_at=at,
        lines=[
            JobLine(item=line.item, unit=line.unit, required=float(line.quantity))
            for line in bill.supplied_lines
        ],
    )


class EventHandlers:
    def __init__(self, reference: Reference) -> None:
        self._reference = reference

    async def on_proposal_approved(
        self, event: ReceivedEvent[ev.ProposalApprovedV2], uow: UnitOfWork
    ) -> None:
        """Compute the bill of materials, reserve what stock exists, announce the outcome."""
        approved = event.data
        stock_tx = StockTransaction(uow, self._reference, by=approved.approved_by, now=utc_now())
        # written before anything is read: a cancellation handled at the same time writes
        # the same document, so one of the two transactions conflicts and is retried
        await stock_tx.jobs.mark(approved.proposal_id)
        if await stock_tx.jobs.find_job(approved.proposal_id) is not None:
            # the same approval sent again under another event id: one job, one reservation
            log.info("approval of an existing job ignored", proposal_id=str(approved.proposal_id))
            return
        try:
            bill = bill_for(approved, self._reference)
        except Unprocessable as refused:
            # A business refusal, not a broken message: say so to the proposals service
            # (which blocks the job and releases its budget) in this same transaction,
            # instead of dead-lettering the approval where nobody acts on it.
            await self._announce_unplannable(approved, refused.message, uow)
            return
        job = new_job(approved, bill, event.envelope.occurred_at)
        if await stock_tx.jobs.is_closed(approved.proposal_id):
            # cancelled before its approval reached us: keep the bill, reserve nothing
            job.cancelled = True
            await stock_tx.jobs.add_job(job)
            return
        await stock_tx.reserve_for(job)
        await stock_tx.jobs.add_job(job)
        await stock_tx.announce_reserved(job)
        await stock_tx.announce_shortage(job)

    async def _announce_unplannable(
        self, approved: ev.ProposalApprovedV2, reason: str, uow: UnitOfWork
    ) -> None:
        log.warning(
            "approved job cannot be planned; proposals is told",
            proposal_id=str(approved.proposal_id),
            reason=reason,
        )
        await uow.emit(
            ev.MaterialUnplannableV2(
                proposal_id=approved.proposal_id,
                area=approved.area,
                proposer_id=approved.proposer_id,
                public=approved.public,
                reason=reason,
                work_type=approved.work_type,
                dimensions=approved.dimensions,
                concrete_grade=approved.concrete_grade,
                allowed_grades=work_rules().grades_for(approved.work_type),
            )
        )

    async def on_proposal_rejected(
        self, event: ReceivedEvent[ev.ProposalRejectedV2], uow: UnitOfWork
    ) -> None:
        await self._close(event, uow, event.data.rejected_by, event.data.reason)

    async def on_proposal_cancelled(
        self, event: ReceivedEvent[ev.ProposalCancelledV2], uow: UnitOfWork
    ) -> None:
        await self._close(event, uow, event.data.cancelled_by, event.data.reason)

    async def on_stock_received(
        self, event: ReceivedEvent[ev.StockReceivedV1], uow: UnitOfWork
    ) -> None:
        """The city's procurement or warehouse system received stock at a warehouse."""
        data = event.data
        stock_tx = StockTransaction(uow, self._reference, by=data.received_by, now=utc_now())
        if await stock_tx.stock.receipt_recorded(data.receipt_id) is not None:
            # the sender's retry of a receipt we counted already (under another event id)
            log.info("stock receipt already recorded", receipt_id=data.receipt_id)
            return
        await receive_stock(
            stock_tx,
            receipt_id=data.receipt_id,
            warehouse=data.warehouse,
            supplier=data.supplier,
            lines=[IncomingLine(item=n.item, quantity=n.quantity, unit=n.unit) for n in data.lines],
            source=f"event {event.envelope.event_id} from {event.envelope.producer}",
        )

    async def _close(
        self, event: ReceivedEvent[ev.ProposalEvent], uow: UnitOfWork, by: str, reason: str
    ) -> None:
        """The job will not be built: give its reserved stock back to waiting jobs."""
        proposal_id: uuid.UUID = event.data.proposal_id
        stock_tx = StockTransaction(uow, self._reference, by=by, now=utc_now())
        # writes the proposal's marker document first, as the approval does (see `mark`)
        await stock_tx.jobs.close(proposal_id, event.envelope.type, stock_tx.now)
        job = await stock_tx.jobs.find_job(proposal_id)
        if job is None or job.cancelled:
            return
        released = job.cancel()
        lines = await stock_tx.release(job, released, reason=event.envelope.type, note=reason)
        await stock_tx.jobs.save_job(job)
        if lines:
            await uow.emit(ev.MaterialReleasedV2(**job.keys(), lines=tuple(lines), reason=reason))
        await stock_tx.top_up_waiting({a.item for a in released})
