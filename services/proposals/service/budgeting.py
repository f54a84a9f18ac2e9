"""Budget steps inside a unit of work, shared by the commands and the event handlers."""

from __future__ import annotations

from services.proposals.adapters.budgets import BudgetRepository
from services.proposals.domain.budget import Allocation, Budget, no_ceiling
from services.proposals.domain.model import Proposal
from shared.clock import format_timestamp
from shared.errors import Conflict, Unprocessable
from shared.logs import get_logger
from shared.reference.areas import area_register
from shared.storage.unit_of_work import UnitOfWork

log = get_logger(__name__)


def check_kecamatan(kecamatan: str) -> None:
    known = area_register().kecamatan
    if kecamatan not in known:
        raise Unprocessable(f"unknown kecamatan {kecamatan!r}; known: {', '.join(known)}")


async def allocate(
    uow: UnitOfWork, kecamatan: str, fiscal_year: int, allocation: Allocation
) -> Budget:
    budgets = BudgetRepository(uow.db, uow.session)
    budget = await budgets.find(kecamatan, fiscal_year)
    if budget is None:
        budget = Budget.allocate(kecamatan, fiscal_year, allocation)
        await budgets.add(budget)
        return budget
    if budget.is_superseded_by_ceiling(allocation):
        # Recorded in the inbox by the caller's transaction; nothing else changes.
        log.warning(
            "older budget allocation ignored: a newer one set the ceiling",
            kecamatan=kecamatan,
            fiscal_year=fiscal_year,
            ignored_ceiling_idr=allocation.ceiling_idr,
            ignored_at=format_timestamp(allocation.at),
            ignored_reference=allocation.reference,
            ceiling_idr=budget.ceiling_idr,
            ceiling_set_at=str(budget.ceiling_at),
        )
        return budget
    budget.set_ceiling(allocation)
    await budgets.set_ceiling(budget, allocation)
    return budget


async def reserve(
    uow: UnitOfWork, proposal: Proposal, cost_idr: int, fiscal_year: int, *, slot: int
) -> None:
    """Reserve from the budget, drawing on ``slot`` first (the caller's turn); a run
    again after a write conflict draws on the next slot, away from whatever held it (a
    transaction of another replica, or one a killed process left open)."""
    budgets = BudgetRepository(uow.db, uow.session, start=slot + uow.attempt - 1)
    budget = await budgets.find(proposal.area.kecamatan, fiscal_year)
    if budget is None:
        raise no_ceiling(proposal.area.kecamatan, fiscal_year)
    budget.reserve(cost_idr)  # the refusal a person can act on: how much is left
    await budgets.reserve(budget, cost_idr)  # the guard against a parallel approval


async def release(uow: UnitOfWork, proposal: Proposal) -> None:
    assert proposal.budget_idr is not None and proposal.fiscal_year is not None
    budgets = BudgetRepository(uow.db, uow.session)
    budget = await budgets.find(proposal.area.kecamatan, proposal.fiscal_year)
    if budget is None:
        raise Conflict(
            f"no {proposal.area.kecamatan} budget for {proposal.fiscal_year} holds this job"
        )
    budget.release(proposal.budget_idr)
    await budgets.release(budget, proposal.budget_idr)
