"""What the proposals service does with the events it consumes.

Each handler runs in the consumer's transaction, with the inbox record: a redelivered
event has no second effect. A DomainError (unknown proposal, a ceiling below what is
reserved) dead-letters the event at once, with the reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from services.proposals.adapters.repository import ProposalRepository
from services.proposals.domain.budget import Allocation
from services.proposals.domain.model import Delivery, Proposal
from services.proposals.service import budgeting
from shared.contracts import ReceivedEvent
from shared.contracts.events import (
    BudgetAllocatedV1,
    MaterialDeliveredV1,
    MaterialDispatchedV1,
    MaterialFulfilledV1,
)
from shared.logs import get_logger
from shared.storage.unit_of_work import UnitOfWork

log = get_logger(__name__)


async def on_material_fulfilled(event: ReceivedEvent[MaterialFulfilledV1], uow: UnitOfWork) -> None:
    """Every line of the bill of materials arrived: the RT may start building."""
    at = event.envelope.occurred_at
    if not await _record(uow, event.data.proposal_id, lambda p: p.record_materials_fulfilled(at)):
        log.info("materials fulfilled for a cancelled job; nothing to start")


async def on_material_dispatched(
    event: ReceivedEvent[MaterialDispatchedV1], uow: UnitOfWork
) -> None:
    """A shipment left the warehouse: the proposal's timeline shows it on its way."""
    data = event.data
    delivery = Delivery(
        shipment_id=data.shipment_id,
        status="dispatched",
        at=event.envelope.occurred_at,
        warehouse=data.warehouse,
        note=data.note,
        sent=data.lines,
    )
    await _record(uow, data.proposal_id, lambda p: p.record_delivery(delivery))


async def on_material_delivered(event: ReceivedEvent[MaterialDeliveredV1], uow: UnitOfWork) -> None:
    """The RT confirmed a shipment, discrepancies included: into the timeline."""
    data = event.data
    delivery = Delivery(
        shipment_id=data.shipment_id,
        status="delivered",
        at=event.envelope.occurred_at,
        confirmed_by=data.confirmed_by,
        received=data.lines,
    )
    await _record(uow, data.proposal_id, lambda p: p.record_delivery(delivery))


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
