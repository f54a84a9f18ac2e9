"""What the proposals service does with the events it consumes.

Each handler runs in the consumer's transaction, with the inbox record: a redelivered
event has no second effect. A DomainError (unknown proposal, a ceiling below what is
reserved) dead-letters the event at once, with the reason: each such refusal means a
broken promise between systems (a bug, or the city's finance system sending what it
must not), which an operator replays once it is fixed — no flow of ours waits on it.
The business refusal of another service (materials cannot plan a job) arrives as an
event of its own, `material.unplannable`, and blocks the proposal.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Literal

from services.proposals.adapters.repository import ProposalRepository
from services.proposals.domain.budget import Allocation
from services.proposals.domain.model import MaterialShipment, MaterialsWord, Proposal
from services.proposals.service import budgeting
from shared.contracts import ReceivedEvent
from shared.contracts.events import (
    BudgetAllocatedV1,
    MaterialDeliveredV2,
    MaterialDispatchedV2,
    MaterialFulfilledV2,
    MaterialReservedV2,
    MaterialShortageV2,
    MaterialUnplannableV2,
)
from shared.logs import get_logger
from shared.storage.unit_of_work import UnitOfWork

log = get_logger(__name__)


async def on_material_fulfilled(event: ReceivedEvent[MaterialFulfilledV2], uow: UnitOfWork) -> None:
    """Every line of the bill of materials arrived: the RT may start building."""
    at = event.envelope.occurred_at
    if not await _record(uow, event.data.proposal_id, lambda p: p.record_materials_fulfilled(at)):
        log.info("materials fulfilled for a cancelled job; nothing to start")


async def on_material_dispatched(
    event: ReceivedEvent[MaterialDispatchedV2], uow: UnitOfWork
) -> None:
    """A shipment left the warehouse: the proposal's timeline shows it on its way."""
    data = event.data
    shipment = MaterialShipment(
        shipment_id=data.shipment_id,
        status="dispatched",
        at=event.envelope.occurred_at,
        warehouse=data.warehouse,
        note=data.note,
        sent=data.lines,
    )
    await _record(uow, data.proposal_id, lambda p: p.record_delivery(shipment))


async def on_material_delivered(event: ReceivedEvent[MaterialDeliveredV2], uow: UnitOfWork) -> None:
    """The RT confirmed a shipment, discrepancies included: into the timeline."""
    data = event.data
    shipment = MaterialShipment(
        shipment_id=data.shipment_id,
        status="delivered",
        at=event.envelope.occurred_at,
        confirmed_by=data.confirmed_by,
        received=data.lines,
    )
    await _record(uow, data.proposal_id, lambda p: p.record_delivery(shipment))


async def on_material_unplannable(
    event: ReceivedEvent[MaterialUnplannableV2], uow: UnitOfWork
) -> None:
    """Materials cannot plan the approved job: block it and release its budget; the
    city returns it to the RT for correction or cancels it (notifications tells the
    RT head and the city officers of the same event)."""
    data = event.data
    repository = ProposalRepository(uow.db, uow.session)
    proposal = await repository.get(data.proposal_id)
    was_holding = proposal.holds_budget
    if not proposal.block(data.reason, event.envelope.occurred_at):
        log.info("materials refusal of a job no longer approved", state=proposal.state.value)
        return
    if was_holding:
        await budgeting.release(uow, proposal)
    await repository.save(proposal)


async def on_material_reserved(event: ReceivedEvent[MaterialReservedV2], uow: UnitOfWork) -> None:
    """Stock is held for the job (all of it, or part): the stuck view tells which."""
    status: Literal["reserved", "short"] = "reserved" if event.data.complete else "short"
    word = MaterialsWord(status=status, at=event.envelope.occurred_at)
    await _record(uow, event.data.proposal_id, lambda p: p.record_materials_word(word))


async def on_material_shortage(event: ReceivedEvent[MaterialShortageV2], uow: UnitOfWork) -> None:
    """The job waits for stock: what is missing, for the stuck view."""
    word = MaterialsWord(status="short", at=event.envelope.occurred_at, missing=event.data.missing)
    await _record(uow, event.data.proposal_id, lambda p: p.record_materials_word(word))


async def _record(
    uow: UnitOfWork, proposal_id: uuid.UUID, change: Callable[[Proposal], bool]
) -> bool:
    """Load the proposal and apply `change`; save it if that changed anything."""
    repository = ProposalRepository(uow.db, uow.session)
    proposal = await repository.get(proposal_id)
    if not change(proposal):
        return False
    await repository.save(proposal)
    return True


async def on_budget_allocated(event: ReceivedEvent[BudgetAllocatedV1], uow: UnitOfWork) -> None:
    """The city's finance system set a kecamatan's ceiling (pagu) for a year."""
    data = event.data
    budgeting.check_kecamatan(data.kecamatan)
    allocation = Allocation(
        ceiling_idr=data.ceiling_idr,
        by=data.allocated_by,
        source="city-finance",
        reference=data.reference,
        at=event.envelope.occurred_at,
    )
    await budgeting.allocate(uow, data.kecamatan, data.fiscal_year, allocation)
