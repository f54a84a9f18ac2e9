"""Use cases of the proposals service: load, apply the rules, save, emit — in one transaction.

Every command takes an optional `record_answer` (an Idempotency-Key's recorder, see
`shared.web.idempotency`) that wraps its work, so that the stored response commits
with the effect.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from pydantic import ConfigDict

from services.proposals.adapters import budgets
from services.proposals.adapters.repository import ProposalRepository
from services.proposals.domain.budget import Allocation, Budget, check_may_set_ceiling
from services.proposals.domain.duplicates import possible_duplicates
from services.proposals.domain.lifecycle import RULES, Action
from services.proposals.domain.model import ProgressReport, Proposal, ProposalDraft
from services.proposals.domain.photos import PhotoPolicy
from services.proposals.service import budgeting, events
from shared.clock import Clock, utc_now
from shared.contracts.types import ProgressFields
from shared.errors import Unprocessable
from shared.identity import Actor, Role
from shared.reference.areas import area_register
from shared.storage.unit_of_work import RecordAnswer, Transactions, UnitOfWork

T = TypeVar("T")

# The review and supervision steps (anyone's but the RT head's) go to the audit trail;
# the RT's own steps are in the proposal's timeline.
AUDITED_ACTIONS = frozenset(action for action, rule in RULES.items() if rule.roles - {Role.RT_HEAD})


class ProgressFigures(ProgressFields):
    """What an RT head reports from the site."""

    model_config = ConfigDict(frozen=True)

    def report(self, by: Actor, at: datetime) -> ProgressReport:
        return ProgressReport(**self.model_dump(), reported_by=by.id, at=at)


class _Commands:
    def __init__(self, transactions: Transactions, clock: Clock = utc_now) -> None:
        self._transactions = transactions
        self._clock = clock


class ProposalCommands(_Commands):
    def __init__(
        self,
        transactions: Transactions,
        clock: Clock = utc_now,
        photos: PhotoPolicy | None = None,
    ) -> None:
        super().__init__(transactions, clock)
        self._photos = photos or PhotoPolicy()

    async def _change(
        self,
        proposal_id: uuid.UUID,
        change: Callable[[Proposal, UnitOfWork], Awaitable[None]],
        correlation_id: str,
        record_answer: RecordAnswer | None,
    ) -> Proposal:
        """Load the proposal, let `change` apply the rules (and emit), save it."""

        async def work(uow: UnitOfWork) -> Proposal:
            repository = ProposalRepository(uow.db, uow.session)
            proposal = await repository.get(proposal_id)
            await change(proposal, uow)
            await repository.save(proposal)
            return proposal

        return await self._transactions.run(
            work, correlation_id=correlation_id, record_answer=record_answer
        )

    async def submit(
        self,
        draft: ProposalDraft,
        actor: Actor,
        correlation_id: str,
        *,
        record_answer: RecordAnswer | None = None,
    ) -> Proposal:
        problem = area_register().problem_with(draft.area)
        if problem:
            raise Unprocessable(problem)
        self._photos.check(draft.attachments)

        async def work(uow: UnitOfWork) -> Proposal:
            repository = ProposalRepository(uow.db, uow.session)
            proposal = Proposal.submit(draft, actor, self._clock())
            others = await repository.active_like(draft.area, draft.work_type)
            proposal.possible_duplicates = possible_duplicates(proposal, others)
            await repository.add(proposal)
            await uow.emit(events.submitted(proposal))
            return proposal

        return await self._transactions.run(
            work, correlation_id=correlation_id, record_answer=record_answer
        )

    async def revise(
        self,
        proposal_id: uuid.UUID,
        draft: ProposalDraft,
        actor: Actor,
        correlation_id: str,
        *,
        record_answer: RecordAnswer | None = None,
    ) -> Proposal:
        """The RT head's correction of a returned proposal; published with the
        resubmission that follows (`proposal.resubmitted`), not on its own."""
        self._photos.check(draft.attachments)

        async def change(proposal: Proposal, uow: UnitOfWork) -> None:
            proposal.revise(draft, actor, self._clock())

        return await self._change(proposal_id, change, correlation_id, record_answer)

    async def act(
        self,
        proposal_id: uuid.UUID,
        action: Action,
        actor: Actor,
        correlation_id: str,
        reason: str = "",
        *,
        record_answer: RecordAnswer | None = None,
    ) -> Proposal:
        """A plain transition: verify, endorse, return, reject, withdraw, cancel, start…"""

        async def change(proposal: Proposal, uow: UnitOfWork) -> None:
            previous, was_holding = proposal.state, proposal.holds_budget
            proposal.act(action, actor, self._clock(), reason)
            if was_holding and not proposal.holds_budget:
                await budgeting.release(uow, proposal)
            said = proposal.timeline[-1].reason  # as recorded: trimmed
            event = events.for_action(proposal, action, actor.id, said, previous)
            if event is not None:
                await uow.emit(event)
            if action in AUDITED_ACTIONS:
                await _audit(uow, actor, action, proposal, previous=previous.value, reason=said)

        return await self._change(proposal_id, change, correlation_id, record_answer)

    async def approve(
        self,
        proposal_id: uuid.UUID,
        actor: Actor,
        budget_idr: int,
        fiscal_year: int,
        correlation_id: str,
        *,
        record_answer: RecordAnswer | None = None,
    ) -> Proposal:
        # the budget slot taken before the transaction reads anything: approvals of this
        # process at once then write different slots and never abort each other
        async with budgets.TURNS.turn() as slot:

            async def change(proposal: Proposal, uow: UnitOfWork) -> None:
                proposal.approve(actor, self._clock(), budget_idr, fiscal_year)
                await budgeting.reserve(uow, proposal, budget_idr, fiscal_year, slot=slot)
                await uow.emit(events.approved(proposal, actor.id))
                await _audit(
                    uow,
                    actor,
                    Action.APPROVE,
                    proposal,
                    budget_idr=budget_idr,
                    fiscal_year=fiscal_year,
                )

            return await self._change(proposal_id, change, correlation_id, record_answer)

    async def report_progress(
        self,
        proposal_id: uuid.UUID,
        actor: Actor,
        correlation_id: str,
        figures: ProgressFigures,
        *,
        record_answer: RecordAnswer | None = None,
    ) -> Proposal:
        self._photos.check(figures.photos)

        async def change(proposal: Proposal, uow: UnitOfWork) -> None:
            report = figures.report(actor, self._clock())
            # An event only when the percentage moved: followers hear of progress,
            # not of every site visit.
            if proposal.report_progress(report, actor):
                await uow.emit(events.progress_reported(proposal, report))

        return await self._change(proposal_id, change, correlation_id, record_answer)

    async def complete(
        self,
        proposal_id: uuid.UUID,
        actor: Actor,
        correlation_id: str,
        note: str = "",
        final: ProgressFigures | None = None,
        *,
        record_answer: RecordAnswer | None = None,
    ) -> Proposal:
        self._photos.check(final.photos if final else ())

        async def change(proposal: Proposal, uow: UnitOfWork) -> None:
            now = self._clock()
            report = final.report(actor, now) if final else None
            if proposal.complete(actor, now, note, report):
                assert report is not None
                await uow.emit(events.progress_reported(proposal, report))
            await uow.emit(events.completed(proposal, actor.id))

        return await self._change(proposal_id, change, correlation_id, record_answer)


class BudgetCommands(_Commands):
    async def set_ceiling(
        self,
        kecamatan: str,
        fiscal_year: int,
        ceiling_idr: int,
        actor: Actor,
        correlation_id: str,
        *,
        record_answer: RecordAnswer | None = None,
    ) -> Budget:
        check_may_set_ceiling(actor)
        budgeting.check_kecamatan(kecamatan)
        allocation = Allocation(
            ceiling_idr=ceiling_idr, by=actor.id, source="http", at=self._clock()
        )

        async def work(uow: UnitOfWork) -> Budget:
            budget = await budgeting.allocate(uow, kecamatan, fiscal_year, allocation)
            await uow.audit(
                actor,
                "set_budget_ceiling",
                "budget",
                f"{kecamatan}/{fiscal_year}",
                details={"ceiling_idr": ceiling_idr, "reserved_idr": budget.reserved_idr},
            )
            return budget

        return await self._transactions.run(
            work, correlation_id=correlation_id, record_answer=record_answer
        )


async def _audit(
    uow: UnitOfWork, actor: Actor, action: Action, proposal: Proposal, **details: object
) -> None:
    await uow.audit(
        actor,
        action.value,
        "proposal",
        proposal.id,
        proposal_id=proposal.id,
        details={"state": proposal.state.value, **details},
    )
