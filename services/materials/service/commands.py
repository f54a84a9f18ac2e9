"""Use cases of the materials service that people start over HTTP: each loads, applies
the domain rules, saves, records its stock movements and emits — in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from services.materials.domain.job import (
    OVER_SHIPMENT_TOLERANCE,
    MaterialJob,
    Receipt,
    Shipment,
    ShipmentLine,
)
from services.materials.domain.stock import (
    Allocation,
    CountReason,
    LedgerEntry,
    rounded,
)
from services.materials.service.stock_receipts import (
    IncomingLine,
    StockReceiptOutcome,
    receive_stock,
)
from services.materials.service.stockroom import Reference, Stockroom
from shared.clock import utc_now
from shared.contracts import events as ev
from shared.contracts.types import MaterialLine, ReceivedLine
from shared.errors import Forbidden, Unprocessable
from shared.identity import Actor, Role
from shared.storage.unit_of_work import Transactions, UnitOfWork
from shared.web.idempotency import Guard

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

    async def _run(
        self,
        actor: Actor,
        correlation_id: str,
        work: Callable[[Stockroom], Awaitable[T]],
        guard: Guard | None = None,
    ) -> T:
        """Run `work` in one transaction, in a stockroom where `actor` moves stock now;
        `guard` (an Idempotency-Key's recorder) stores the answer in the same transaction."""

        async def in_stockroom(uow: UnitOfWork) -> T:
            return await work(Stockroom(uow, self._reference, by=actor.id, now=utc_now()))

        return await self._transactions.run(
            guard(in_stockroom) if guard else in_stockroom, correlation_id=correlation_id
        )

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
        guard: Guard | None = None,
    ) -> StockReceiptOutcome:
        require_warehouse_officer(actor, "receives stock")
        key = receipt_id or str(uuid.uuid4())

        async def work(room: Stockroom) -> StockReceiptOutcome:
            return await receive_stock(
                room,
                receipt_id=key,
                warehouse=warehouse,
                supplier=supplier,
                lines=lines,
                source="http",
                note=note,
            )

        return await self._run(actor, correlation_id, work, guard)

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
        guard: Guard | None = None,
    ) -> LedgerEntry:
        """Correct a level after counting the shelves: + found, - gone."""
        require_warehouse_officer(actor, "adjusts stock")
        catalogue = self._reference.catalogue
        name = catalogue.warehouse(warehouse)
        checked = catalogue.quantity(item, quantity)
        if checked == 0:
            raise Unprocessable("an adjustment of 0 changes nothing; give the difference counted")

        async def work(room: Stockroom) -> LedgerEntry:
            movement = room.movement(
                "adjustment",
                Allocation(name, item, abs(checked)),
                reason=reason,
                note=note,
                outward=checked < 0,
            )
            recorded = await room.move(movement)
            if checked > 0:
                await room.top_up_waiting({item})
            return recorded

        return await self._run(actor, correlation_id, work, guard)

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
        guard: Guard | None = None,
    ) -> Shipment:
        require_warehouse_officer(actor, "dispatches materials")
        catalogue = self._reference.catalogue
        name = catalogue.warehouse(warehouse)
        for line in lines or []:
            catalogue.quantity(line.item, line.quantity)

        async def work(room: Stockroom) -> Shipment:
            job = await room.jobs.get_job(proposal_id)
            shipment = job.dispatch(uuid.uuid4(), name, lines, actor.id, room.now, note)
            for sent in shipment.lines:
                await room.move(
                    room.movement(
                        "dispatch",
                        Allocation(name, sent.item, sent.quantity),
                        note=note,
                        proposal_id=job.proposal_id,
                        shipment_id=shipment.id,
                    )
                )
            await room.jobs.save_job(job)
            await room.jobs.add_shipment(shipment)
            await room.uow.emit(
                ev.MaterialDispatchedV1(
                    **job.keys(),
                    shipment_id=shipment.id,
                    warehouse=name,
                    lines=tuple(shipment.lines),
                    note=note,
                )
            )
            return shipment

        return await self._run(actor, correlation_id, work, guard)

    async def confirm_receipt(
        self,
        shipment_id: uuid.UUID,
        actor: Actor,
        correlation_id: str,
        receipts: list[Receipt],
        guard: Guard | None = None,
    ) -> Shipment:
        for receipt in receipts:
            self._reference.catalogue.quantity(receipt.item, receipt.received)

        async def work(room: Stockroom) -> Shipment:
            shipment = await room.jobs.get_shipment(shipment_id)
            job = await room.jobs.get_job(shipment.proposal_id)
            if actor.role is not Role.RT_HEAD or not actor.covers(job.area):
                raise Forbidden("only the RT head of the job's RT confirms what arrived")
            received = job.receive(
                shipment,
                receipts,
                actor.id,
                room.now,
                over_shipment_tolerance=self._over_shipment_tolerance,
            )
            await _record_differences(room, job, shipment, received)
            await room.uow.emit(
                ev.MaterialDeliveredV1(
                    **job.keys(),
                    shipment_id=shipment.id,
                    confirmed_by=actor.id,
                    lines=tuple(received),
                )
            )
            surplus = job.surplus()
            await room.release(job, surplus, reason="delivered_in_excess")
            await _fulfil_or_reopen(room, job)
            await room.jobs.save_job(job)
            await room.jobs.save_shipment(shipment)
            await room.top_up_waiting({a.item for a in surplus})
            return shipment

        return await self._run(actor, correlation_id, work, guard)


async def _record_differences(
    room: Stockroom, job: MaterialJob, shipment: Shipment, received: list[ReceivedLine]
) -> None:
    """An adjustment entry, with its reason, for each line that arrived different from
    what was sent. It records what the RT head said and moves no stock: the RT head's
    word alone neither puts goods back on a shelf (short_shipped) nor takes more off it
    (over_shipped). A warehouse officer counts and corrects the level with an explicit
    adjustment (POST /stock/adjustments); what is still owed is re-opened for the job."""
    for line in received:
        difference = rounded(line.sent - line.received)
        if line.discrepancy_reason is None or difference == 0:
            continue
        movement = room.movement(
            "adjustment",
            Allocation(shipment.warehouse, line.item, abs(difference)),
            reason=line.discrepancy_reason,
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
        await room.move(movement, guard_available=False)


async def _fulfil_or_reopen(room: Stockroom, job: MaterialJob) -> None:
    """Everything arrived: announce it. Otherwise what a short delivery re-opened needs a
    reservation of its own (the job's own stock went out on the truck)."""
    if job.fulfil():
        await room.uow.emit(
            ev.MaterialFulfilledV1(
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
    if await room.reserve_for(job):
        await room.announce_reserved(job)
    await room.announce_shortage(job)
