"""Use cases of the proposals service: load, apply the rules, save, emit — in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from services.proposals.adapters.repository import ProposalRepository
from services.proposals.domain.lifecycle import Action
from services.proposals.domain.model import ProgressReport, Proposal, ProposalDraft
from services.proposals.service import events
from shared.contracts import ReceivedEvent
from shared.contracts.events import MaterialFulfilledV1
from shared.errors import Unprocessable
from shared.identity import Actor
from shared.reference.areas import area_register
from shared.storage.unit_of_work import Transactions, UnitOfWork

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class ProposalCommands:
    def __init__(self, transactions: Transactions, clock: Clock = utc_now) -> None:
        self._transactions = transactions
        self._clock = clock

    async def submit(self, draft: ProposalDraft, actor: Actor, correlation_id: str) -> Proposal:
        problem = area_register().problem_with(draft.area)
        if problem:
            raise Unprocessable(problem)

        async def work(uow: UnitOfWork) -> Proposal:
            proposal = Proposal.submit(draft, actor, self._clock())
            await ProposalRepository(uow.db, uow.session).add(proposal)
            await uow.emit(events.submitted(proposal))
            return proposal

        return await self._transactions.run(work, correlation_id=correlation_id)

    async def act(
        self,
        proposal_id: uuid.UUID,
        action: Action,
        actor: Actor,
        correlation_id: str,
        reason: str = "",
    ) -> Proposal:
        """A plain transition: verify, endorse, return, reject, withdraw, start, validate…"""

        async def work(uow: UnitOfWork) -> Proposal:
            repository = ProposalRepository(uow.db, uow.session)
            proposal = await repository.get(proposal_id)
            previous = proposal.state
            proposal.act(action, actor, self._clock(), reason)
            await repository.save(proposal)
            event = events.for_action(proposal, action, actor.id, reason, previous)
            if event is not None:
                await uow.emit(event)
            return proposal

        return await self._transactions.run(work, correlation_id=correlation_id)

    async def approve(
        self,
        proposal_id: uuid.UUID,
        actor: Actor,
        budget_idr: int,
        fiscal_year: int,
        correlation_id: str,
    ) -> Proposal:
        async def work(uow: UnitOfWork) -> Proposal:
            repository = ProposalRepository(uow.db, uow.session)
            proposal = await repository.get(proposal_id)
            proposal.approve(actor, self._clock(), budget_idr, fiscal_year)
            await repository.save(proposal)
            await uow.emit(events.approved(proposal, actor.id))
            return proposal

        return await self._transactions.run(work, correlation_id=correlation_id)

    async def report_progress(
        self,
        proposal_id: uuid.UUID,
        actor: Actor,
        correlation_id: str,
        *,
        percent: int,
        note: str = "",
        photos: tuple[str, ...] = (),
        volunteers: int = 0,
        labour_days: float = 0,
    ) -> Proposal:
        async def work(uow: UnitOfWork) -> Proposal:
            repository = ProposalRepository(uow.db, uow.session)
            proposal = await repository.get(proposal_id)
            report = ProgressReport(
                percent=percent,
                note=note,
                photos=photos,
                volunteers=volunteers,
                labour_days=labour_days,
                reported_by=actor.id,
                at=self._clock(),
            )
            if proposal.report_progress(report, actor):
                await uow.emit(events.progress_reported(proposal, report))
            await repository.save(proposal)
            return proposal

        return await self._transactions.run(work, correlation_id=correlation_id)

    async def complete(
        self, proposal_id: uuid.UUID, actor: Actor, correlation_id: str, note: str = ""
    ) -> Proposal:
        async def work(uow: UnitOfWork) -> Proposal:
            repository = ProposalRepository(uow.db, uow.session)
            proposal = await repository.get(proposal_id)
            proposal.act(Action.COMPLETE_WORK, actor, self._clock(), note)
            await repository.save(proposal)
            await uow.emit(events.completed(proposal, actor.id))
            return proposal

        return await self._transactions.run(work, correlation_id=correlation_id)


async def on_material_fulfilled(event: ReceivedEvent, uow: UnitOfWork) -> None:
    """Every line of the bill of materials arrived: the RT may start building."""
    assert isinstance(event.data, MaterialFulfilledV1)
    repository = ProposalRepository(uow.db, uow.session)
    proposal = await repository.get(event.data.proposal_id)
    proposal.act(Action.RECORD_MATERIALS_FULFILLED, None, utc_now(), "all materials arrived")
    await repository.save(proposal)
