"""Use cases of the materials service that people start over HTTP: each loads, applies
the domain rules, saves, records its stock movements and emits — in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from services.materials.domain.job import (
    OVER_SHIPMENT_TOLERANCE,
    MaterialJob,
    Shipment,
    ShipmentLine,
    ShipmentReceiptLine,
    no_job,
)
from services.materials.domain.stock import (
    CountReason,
    DeliveryReason,
    LedgerEntry,
    Movement,
    StockQuantity,
)
from services.materials.service.stock_receipts import (
    IncomingLine,
    StockReceiptOutcome,
    receive_stock,
)
from services.materials.service.stock_transaction import Reference, StockTransaction
from shared.clock import utc_now
from shared.contracts import events as ev
from shared.contracts.types import MaterialLine, ReceivedLine
from shared.errors import Forbidden, Unprocessable
from shared.identity import Actor, Role
from shared.slots import rounded
from shared.storage.unit_of_work import RecordAnswer, Transactions, UnitOfWork, Work

T = TypeVar("T")


def require_warehouse_officer(actor: Actor, doing: str) -> None:
    if actor.role is not Role.WAREHOUSE_OFFICER:
        raise Forbidden(f"only a warehouse officer {doing}")


class MaterialCommands:
    def __init__(
        self,
        transactions: Transactions,
        reference: Reference,
        *,
        over_shipment_tolerance: float = OVER_SHIPMENT_TOLERANCE,
    ) -> None:
        self._transactions = transactions
        self._reference = reference
        self._over_shipment_tolerance = over_shipment_tolerance

    def _moving_stock(
        self, actor: Actor, work: Callable[[StockTransaction], Awaitable[T]]
    ) -> Work[T]:
        """`work` as a unit of work in which `actor` moves stock now."""

        async def in_stock_transaction(uow: UnitOfWork) -> T:
            return await work(StockTransaction(uow, self._reference, by=actor.id, now=utc_now()))

        return in_stock_transaction

    # ----------------------------------------------------------------------------------
    # stock
    # ----------------------------------------------------------------------------------

    async def receive_stock(
        self,
        actor: Actor,
        correlation_id: str,
        *,
        receipt_id: str | None,
        warehouse: str,
        supplier: str,
        lines: list[IncomingLine],
        note: str = "",
        record_answer: RecordAnswer | None = None,
    ) -> StockReceiptOutcome:
        require_warehouse_officer(actor, "receives stock")
        key = receipt_id or str(uuid.uuid4())

        async def work(stock_tx: StockTransaction) -> StockReceiptOutcome:
            outcome = await receive_stock(
                stock_tx,
                receipt_id=key,
                warehouse=warehouse,
                supplier=supplier,
                lines=lines,
                source="http",
                note=note,
            )
            await stock_tx.uow.audit(
                actor,
                "receive_stock",
                "stock_receipt",
                key,
                details={
                    "warehouse": warehouse,
                    "supplier": supplier,
                    "lines": [_line(e.item, e.quantity, e.unit) for e in outcome.entries],
                    "note": note,
                },
            )
            return outcome

        return await self._transactions.run(
            self._moving_stock(actor, work),
            correlation_id=correlation_id,
            record_answer=record_answer,
        )

    async def adjust_stock(
        self,
        actor: Actor,
        correlation_id: str,
        *,
        warehouse: str,
        item: str,
        quantity: float,
        reason: CountReason,
        note: str = "",
        record_answer: RecordAnswer | None = None,
    ) -> LedgerEntry:
        """Correct a level after counting the shelves: + found, - gone."""
        require_warehouse_officer(actor, "adjusts stock")
        catalogue = self._reference.catalogue
        name = catalogue.warehouse(warehouse)
        checked = catalogue.quantity(item, quantity)
        if checked == 0:
            raise Unprocessable("an adjustment of 0 changes nothing; give the difference counted")

        async def work(stock_tx: StockTransaction) -> LedgerEntry:
            movement = stock_tx.movement(
                "adjustment",
                StockQuantity(name, item, abs(checked)),
                reason=reason,
                note=note,
                outward=checked < 0,
            )
            recorded = await stock_tx.move(movement)
            if checked > 0:
                await stock_tx.top_up_waiting({item})
            await stock_tx.uow.audit(
                actor,
                "adjust_stock",
                "stock_entry",
                recorded.id,
                details={
                    "warehouse": name,
                    "item": item,
                    "quantity": checked,
                    "reason": reason,
                    "note": note,
                },
            )
            return recorded

        return await self._transactions.run(
            self._moving_stock(actor, work),
            correlation_id=correlation_id,
            record_answer=record_answer,
        )

    # ----------------------------------------------------------------------------------
    # shipments
    # ----------------------------------------------------------------------------------

    async def dispatch(
        self,
        proposal_id: uuid.UUID,
        actor: Actor,
        correlation_id: str,
        *,
        warehouse: str,
        lines: list[ShipmentLine] | None,
        note: str = "",
        record_answer: RecordAnswer | None = None,
    ) -> Shipment:
        async def work(stock_tx: StockTransaction) -> Shipment:
            # whether the caller may see the job (404), then may act (403), then the
            # values and the job's state: nobody outside its area learns it exists
            job = await stock_tx.jobs.get_job(proposal_id)
            if not job.visible_to(actor):
                raise no_job(proposal_id)
            require_warehouse_officer(actor, "dispatches materials")
            catalogue = self._reference.catalogue
            name = catalogue.warehouse(warehouse)
            for line in lines or []:
                catalogue.quantity(line.item, line.quantity)
            shipment = job.dispatch(uuid.uuid4(), name, lines, actor.id, stock_tx.now, note)
            await stock_tx.move_all(
                [
                    stock_tx.movement(
                        "dispatch",
                        StockQuantity(name, sent.item, sent.quantity),
                        note=note,
                        proposal_id=job.proposal_id,
                        shipment_id=shipment.id,
                    )
                    for sent in shipment.lines
                ]
            )
            await stock_tx.jobs.save_job(job)
            await stock_tx.jobs.add_shipment(shipment)
            await stock_tx.uow.emit(
                ev.MaterialDispatchedV2(
                    **job.keys(),
                    shipment_id=shipment.id,
                    warehouse=name,
                    lines=tuple(shipment.lines),
                    note=note,
                )
            )
            await stock_tx.uow.audit(
                actor,
                "dispatch",
                "shipment",
                shipment.id,
                proposal_id=job.proposal_id,
                details={
                    "warehouse": name,
                    "lines": [_line(ln.item, ln.quantity, ln.unit) for ln in shipment.lines],
                    "note": note,
                },
            )
            return shipment

        return await self._transactions.run(
            self._moving_stock(actor, work),
            correlation_id=correlation_id,
            record_answer=record_answer,
        )

    async def confirm_shipment_receipt(
        self,
        shipment_id: uuid.UUID,
        actor: Actor,
        correlation_id: str,
        receipts: list[ShipmentReceiptLine],
        record_answer: RecordAnswer | None = None,
    ) -> Shipment:
        async def work(stock_tx: StockTransaction) -> Shipment:
            shipment = await stock_tx.jobs.get_shipment(shipment_id)
            job = await stock_tx.jobs.get_job(shipment.proposal_id)
            # 404 to whoever may not see the job, 403 to who may see but not confirm,
            # then the values, then the shipment's state (409): in that order
            job.check_receiver(actor, shipment_id)
            for receipt in receipts:
                self._reference.catalogue.quantity(receipt.item, receipt.received)
            received = job.receive(
                shipment,
                receipts,
                actor.id,
                stock_tx.now,
                over_shipment_tolerance=self._over_shipment_tolerance,
            )
            await _record_differences(stock_tx, job, shipment, received)
            await stock_tx.uow.emit(
                ev.MaterialDeliveredV2(
                    **job.keys(),
                    shipment_id=shipment.id,
                    confirmed_by=actor.id,
                    lines=tuple(received),
                )
            )
            surplus = job.surplus()
            await stock_tx.release(job, surplus, reason="delivered_in_excess")
            await _fulfil_or_reopen(stock_tx, job)
            await stock_tx.jobs.save_job(job)
            await stock_tx.jobs.save_shipment(shipment)
            await stock_tx.top_up_waiting({a.item for a in surplus})
            await stock_tx.uow.audit(
                actor,
                "confirm_receipt",
                "shipment",
                shipment.id,
                proposal_id=job.proposal_id,
                details={
                    "received": [_line(r.item, r.received, r.unit) for r in received],
                    "status": job.status,
                },
            )
            return shipment

        return await self._transactions.run(
            self._moving_stock(actor, work),
            correlation_id=correlation_id,
            record_answer=record_answer,
        )


async def _record_differences(
    stock_tx: StockTransaction, job: MaterialJob, shipment: Shipment, received: list[ReceivedLine]
) -> None:
    """An adjustment entry, with its reason, for each line that arrived different from
    what was sent. It records what the RT head said and moves no stock: the RT head's
    word alone neither puts goods back on a shelf (short_shipped) nor takes more off it
    (over_shipped). A warehouse officer counts and corrects the level with an explicit
    adjustment (POST /stock/adjustments); what is still owed is re-opened for the job."""
    differences = [
        _difference(stock_tx, job, shipment, line, reason)
        for line in received
        if (reason := line.discrepancy_reason) is not None
        and rounded(line.sent - line.received) != 0
    ]
    await stock_tx.move_all(differences, require_available=False)


def _difference(
    stock_tx: StockTransaction,
    job: MaterialJob,
    shipment: Shipment,
    line: ReceivedLine,
    reason: DeliveryReason,
) -> Movement:
    """The adjustment that records how ``line`` arrived different from what was sent."""
    difference = rounded(line.sent - line.received)
    return stock_tx.movement(
        "adjustment",
        StockQuantity(shipment.warehouse, line.item, abs(difference)),
        reason=reason,
        note=(
            f"confirmed by the RT head: {line.received:g} of {line.sent:g} arrived; "
            "recorded only, the warehouse count is the warehouse officer's to adjust"
        ),
        proposal_id=job.proposal_id,
        shipment_id=shipment.id,
        outward=difference > 0,
        # the dispatch already took the goods off the warehouse's books: no effect
        in_transit=True,
    )


async def _fulfil_or_reopen(stock_tx: StockTransaction, job: MaterialJob) -> None:
    """Everything arrived: announce it. Otherwise what a short delivery re-opened needs a
    reservation of its own (the job's own stock went out on the truck)."""
    if job.fulfil():
        await stock_tx.uow.emit(
            ev.MaterialFulfilledV2(
                **job.keys(),
                lines=tuple(
                    MaterialLine(item=line.item, unit=line.unit, quantity=line.received)
                    for line in job.lines
                ),
            )
        )
        return
    if not job.shortfall():
        return
    if await stock_tx.reserve_for(job):
        await stock_tx.announce_reserved(job)
    await stock_tx.announce_shortage(job)


def _line(item: str, quantity: float, unit: str) -> str:
    """`cement 493 sak`: a line as the audit trail keeps it."""
    return f"{item} {quantity:g} {unit}"
