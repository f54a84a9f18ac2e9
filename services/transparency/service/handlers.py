"""Handlers: each event becomes public facts, and its proposal's view is derived again.

The view is derived from every fact of the proposal inside the consumer's transaction:
two events of one proposal handled at once both write the view, so MongoDB lets one
commit and retries the other, which then sees both facts. Nothing is incremented, so
neither a duplicate nor a late event can skew a figure.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from services.transparency.adapters.repository import ReadModel
from services.transparency.domain.facts import allocation_of, fact_of
from services.transparency.domain.proposals import view_of
from shared.clock import utc_now
from shared.contracts import CATALOGUE, ReceivedEvent
from shared.contracts import events as ev
from shared.contracts.types import Contract
from shared.storage.unit_of_work import UnitOfWork

# Every event about a proposal that the catalogue has: all of them feed the page (the
# steps, the materials, the work); notifications' and the stock's own are not about one.
PROPOSAL_EVENTS = tuple(
    dict.fromkeys(
        event_type
        for event_type, _ in CATALOGUE
        if issubclass(CATALOGUE.newest(event_type).data_model, ev.ProposalStep)
    )
)
BUDGET_EVENT = "budget.allocated"
FOLLOWED_EVENTS = frozenset({*PROPOSAL_EVENTS, BUDGET_EVENT})


def proposal_models() -> list[type[ev.ProposalStep]]:
    """The payload model (newest version) of each proposal event."""
    models: list[type[ev.ProposalStep]] = []
    for event_type in PROPOSAL_EVENTS:
        model = CATALOGUE.newest(event_type).data_model
        assert issubclass(model, ev.ProposalStep)  # chosen so above
        models.append(model)
    return models


async def on_proposal_event(event: ReceivedEvent[ev.ProposalStep], uow: UnitOfWork) -> None:
    envelope = event.envelope
    await apply(uow, envelope.event_id, envelope.type, envelope.occurred_at, event.data)


async def on_budget_allocated(event: ReceivedEvent[ev.BudgetAllocatedV1], uow: UnitOfWork) -> None:
    envelope = event.envelope
    await apply(uow, envelope.event_id, envelope.type, envelope.occurred_at, event.data)


async def apply(
    uow: UnitOfWork, event_id: uuid.UUID, event_type: str, occurred_at: datetime, data: Contract
) -> None:
    """Take one event into the read model (the consumers and the rebuild alike)."""
    model = ReadModel(uow.db, uow.session)
    if isinstance(data, ev.BudgetAllocatedV1):
        await model.add_allocation(allocation_of(event_id, occurred_at, data), utc_now())
        return
    if not isinstance(data, ev.ProposalStep):
        return  # not an event the page shows
    await model.add_fact(fact_of(event_id, event_type, occurred_at, data))
    facts = await model.facts_of(data.proposal_id)
    await model.save_view(view_of(facts), utc_now())
