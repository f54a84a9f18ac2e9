"""Use cases of the materials service."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import cache

from services.materials.adapters.repository import MaterialsRepository
from services.materials.domain.bill_of_materials import (
    BillOfMaterials,
    NormBook,
    WorkDimensions,
    compute_bill_of_materials,
    load_norm_book,
)
from services.materials.domain.job import JobLine, MaterialJob, Receipt, Shipment, ShipmentLine
from shared.contracts import ReceivedEvent
from shared.contracts import events as ev
from shared.contracts.types import MaterialLine
from shared.errors import Forbidden, Unprocessable
from shared.identity import Actor, Role
from shared.storage.unit_of_work import Transactions, UnitOfWork


@cache
def norm_book() -> NormBook:
    return load_norm_book()


def bill_for(approved: ev.ProposalApprovedV1) -> BillOfMaterials:
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
        return compute_bill_of_materials(work, norm_book())
    except ValueError as error:
        raise Unprocessable(f"cannot compute the bill of materials: {error}") from error


async def on_proposal_approved(event: ReceivedEvent, uow: UnitOfWork) -> None:
    """Compute the bill of materials and reserve it for the job."""
    assert isinstance(event.data, ev.ProposalApprovedV1)
    approved = event.data
    bill = bill_for(approved)
    job = MaterialJob(
        proposal_id=approved.proposal_id,
        area=approved.area,
        proposer_id=approved.proposer_id,
        work_volume_m3=bill.work_volume_m3,
        norm=bill.norm,
        lines=[
            JobLine(
                item=line.item,
                unit=line.unit,
                required=float(line.quantity),
                reserved=float(line.quantity),
            )
            for line in bill.supplied_lines
        ],
    )
    await MaterialsRepository(uow.db, uow.session).add_job(job)
    await uow.emit(
        ev.MaterialReservedV1(
            proposal_id=job.proposal_id,
            area=job.area,
            proposer_id=job.proposer_id,
            work_volume_m3=job.work_volume_m3,
            lines=tuple(
                MaterialLine(item=line.item, unit=line.unit, quantity=line.reserved)
                for line in job.lines
            ),
            complete=True,
        )
    )


class MaterialCommands:
    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions

    async def dispatch(
        self,
        proposal_id: uuid.UUID,
        actor: Actor,
        correlation_id: str,
        *,
        warehouse: str,
        lines: list[ShipmentLine] | None,
        note: str = "",
    ) -> Shipment:
        if actor.role is not Role.WAREHOUSE_OFFICER:
            raise Forbidden("only a warehouse officer dispatches materials")

        async def work(uow: UnitOfWork) -> Shipment:
            repository = MaterialsRepository(uow.db, uow.session)
            job = await repository.get_job(proposal_id)
            shipment = job.dispatch(
                uuid.uuid4(), warehouse, lines, actor.id, datetime.now(UTC), note
            )
            await repository.save_job(job)
            await repository.add_shipment(shipment)
            await uow.emit(
                ev.MaterialDispatchedV1(
                    **job.keys(),
                    shipment_id=shipment.id,
                    warehouse=warehouse,
                    lines=tuple(shipment.lines),
                    note=note,
                )
            )
            return shipment

        return await self._transactions.run(work, correlation_id=correlation_id)

    async def confirm_receipt(
        self,
        shipment_id: uuid.UUID,
        actor: Actor,
        correlation_id: str,
        receipts: list[Receipt],
    ) -> Shipment:
        async def work(uow: UnitOfWork) -> Shipment:
            repository = MaterialsRepository(uow.db, uow.session)
            shipment = await repository.get_shipment(shipment_id)
            job = await repository.get_job(shipment.proposal_id)
            if actor.role is not Role.RT_HEAD or not actor.covers(job.area):
                raise Forbidden("only the RT head of the job's RT confirms what arrived")
            received = job.receive(shipment, receipts, actor.id, datetime.now(UTC))
            ids = job.keys()
            await uow.emit(
                ev.MaterialDeliveredV1(
                    **ids, shipment_id=shipment.id, confirmed_by=actor.id, lines=tuple(received)
                )
            )
            if job.everything_arrived() and not job.fulfilled:
                job.fulfilled = True
                await uow.emit(
                    ev.MaterialFulfilledV1(
                        **ids,
                        lines=tuple(
                            MaterialLine(item=line.item, unit=line.unit, quantity=line.received)
                            for line in job.lines
                        ),
                    )
                )
            await repository.save_job(job)
            await repository.save_shipment(shipment)
            return shipment

        return await self._transactions.run(work, correlation_id=correlation_id)
