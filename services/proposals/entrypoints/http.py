"""HTTP API of the proposals service: what RT heads, officers and supervisors do."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from services.proposals.adapters.repository import ProposalRepository
from services.proposals.domain.lifecycle import Action, State, allowed_actions
from services.proposals.domain.model import Proposal, ProposalDraft
from services.proposals.service.commands import ProposalCommands
from shared.web.app import CorrelationId
from shared.web.auth import CurrentActor


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(max_length=2000)] = ""


class Approval(BaseModel):
    model_config = ConfigDict(extra="forbid")
    budget_idr: Annotated[int, Field(gt=0, le=10**12, description="rupiah reserved for the job")]
    fiscal_year: Annotated[int, Field(ge=2000, le=2100)] = Field(
        default_factory=lambda: datetime.now(UTC).year
    )


class Progress(BaseModel):
    model_config = ConfigDict(extra="forbid")
    percent: Annotated[int, Field(ge=0, le=100)]
    note: Annotated[str, Field(max_length=2000)] = ""
    photos: tuple[Annotated[str, Field(max_length=500)], ...] = ()
    volunteers: Annotated[int, Field(ge=0, le=10_000)] = 0
    labour_days: Annotated[float, Field(ge=0, le=100_000)] = 0


class ProposalView(BaseModel):
    proposal: Proposal
    allowed_actions: list[Action]


class ProposalPage(BaseModel):
    items: list[Proposal]
    total: int
    page: int
    page_size: int


def _view(proposal: Proposal) -> ProposalView:
    return ProposalView(proposal=proposal, allowed_actions=allowed_actions(proposal.state))


def _commands(request: Request) -> ProposalCommands:
    commands: ProposalCommands = request.app.state.commands
    return commands


# The plain transitions, one endpoint each: path segment → action.
TRANSITIONS: dict[str, Action] = {
    "verify": Action.VERIFY,
    "endorse": Action.ENDORSE,
    "return": Action.RETURN,
    "reject": Action.REJECT,
    "resubmit": Action.RESUBMIT,
    "withdraw": Action.WITHDRAW,
    "work/start": Action.START_WORK,
    "validate": Action.VALIDATE,
    "work/return": Action.RETURN_WORK,
}


def build_router() -> APIRouter:
    router = APIRouter(prefix="/proposals", tags=["proposals"])

    @router.post("", status_code=status.HTTP_201_CREATED, summary="An RT head submits a proposal")
    async def submit(
        draft: ProposalDraft, request: Request, actor: CurrentActor, correlation_id: CorrelationId
    ) -> ProposalView:
        return _view(await _commands(request).submit(draft, actor, correlation_id))

    @router.get("", summary="List proposals, newest first")
    async def list_proposals(
        request: Request,
        _: CurrentActor,
        kecamatan: str | None = None,
        state: State | None = None,
        page: Annotated[int, Query(ge=1)] = 1,
        page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> ProposalPage:
        filters: dict[str, object] = {}
        if kecamatan:
            filters["draft.area.kecamatan"] = kecamatan
        if state:
            filters["state"] = state.value
        items, total = await ProposalRepository(request.app.state.runtime.db).list(
            filters, skip=(page - 1) * page_size, limit=page_size
        )
        return ProposalPage(items=items, total=total, page=page, page_size=page_size)

    @router.get("/{proposal_id}", summary="One proposal with its timeline")
    async def get(proposal_id: uuid.UUID, request: Request, _: CurrentActor) -> ProposalView:
        return _view(await ProposalRepository(request.app.state.runtime.db).get(proposal_id))

    @router.post("/{proposal_id}/approve", summary="The city approves and sets the budget")
    async def approve(
        proposal_id: uuid.UUID,
        approval: Approval,
        request: Request,
        actor: CurrentActor,
        correlation_id: CorrelationId,
    ) -> ProposalView:
        proposal = await _commands(request).approve(
            proposal_id, actor, approval.budget_idr, approval.fiscal_year, correlation_id
        )
        return _view(proposal)

    @router.post("/{proposal_id}/work/progress", summary="The RT reports progress")
    async def report_progress(
        proposal_id: uuid.UUID,
        progress: Progress,
        request: Request,
        actor: CurrentActor,
        correlation_id: CorrelationId,
    ) -> ProposalView:
        proposal = await _commands(request).report_progress(
            proposal_id, actor, correlation_id, **progress.model_dump()
        )
        return _view(proposal)

    @router.post("/{proposal_id}/work/complete", summary="The RT reports the job done")
    async def complete(
        proposal_id: uuid.UUID,
        decision: Decision,
        request: Request,
        actor: CurrentActor,
        correlation_id: CorrelationId,
    ) -> ProposalView:
        return _view(
            await _commands(request).complete(proposal_id, actor, correlation_id, decision.reason)
        )

    for path, action in TRANSITIONS.items():
        _add_transition(router, path, action)
    return router


def _add_transition(router: APIRouter, path: str, action: Action) -> None:
    async def transition(
        proposal_id: uuid.UUID,
        decision: Decision,
        request: Request,
        actor: CurrentActor,
        correlation_id: CorrelationId,
    ) -> ProposalView:
        proposal = await _commands(request).act(
            proposal_id, action, actor, correlation_id, decision.reason
        )
        return _view(proposal)

    router.add_api_route(
        f"/{{proposal_id}}/{path}",
        transition,
        methods=["POST"],
        summary=f"{action.value.replace('_', ' ').capitalize()} the proposal",
        name=action.value,
    )
