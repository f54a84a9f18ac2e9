"""HTTP API of the proposals service: what RT heads, officers and supervisors do, what
anyone may read, and the budget ceilings.

Every state-changing route takes an `Idempotency-Key` header (see
`shared.web.idempotency`); who may do what where is decided by the domain.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, status
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from services.proposals.adapters.budgets import BudgetRepository
from services.proposals.adapters.repository import ProposalQuery, ProposalRepository
from services.proposals.domain.budget import Budget
from services.proposals.domain.lifecycle import PUBLISHED_STATES, Action, State, allowed_actions
from services.proposals.domain.model import (
    Proposal,
)
from services.proposals.domain.reads import (
    CSV_COLUMNS,
    AreaFilter,
    KecamatanTotals,
    PublicProposal,
    TimelineEntry,
    csv_row,
    is_published,
    kecamatan_totals,
    public_view,
    scoped_filter,
    timeline_of,
)
from services.proposals.domain.stuck import StuckProposal, cutoffs, stuck_view
from services.proposals.entrypoints.shapes import ProposalBody, ProposalRequest
from services.proposals.service.commands import BudgetCommands, ProgressFigures, ProposalCommands
from shared.clock import utc_now
from shared.contracts.types import (
    FIRST_FISCAL_YEAR,
    LAST_FISCAL_YEAR,
    FiscalYear,
    JobBudget,
    Percent,
    ProgressFields,
    Rupiah,
    Text,
    WorkType,
)
from shared.errors import Forbidden, NotFound, Unprocessable
from shared.identity import OPERATOR_ROLES, Actor
from shared.reference.areas import area_register
from shared.storage.unit_of_work import RecordAnswer
from shared.web.app import CorrelationId, ServiceDatabase, app_state
from shared.web.auth import CurrentActor
from shared.web.idempotency import IdempotencyKey, KeyedRequest, respond
from shared.web.pages import Page, Paging, paging_up_to
from shared.web.pages import PageWanted as Pages

# --------------------------------------------------------------------------------------------
# Request and response bodies
# --------------------------------------------------------------------------------------------


class Decision(BaseModel):
    # Optional here, also where the action needs a reason: the domain says so (422)
    # after it checked state and person (409, 403), which a body check would come before.
    model_config = ConfigDict(extra="forbid")
    reason: Text = ""


class Approval(BaseModel):
    model_config = ConfigDict(extra="forbid")
    budget_idr: Annotated[JobBudget, Field(description="rupiah reserved for the job")]
    fiscal_year: FiscalYear = Field(default_factory=lambda: utc_now().year)


class Progress(ProgressFields):
    """A progress report as an RT head sends it: the report's fields, with their limits."""

    model_config = ConfigDict(extra="forbid")

    def figures(self) -> ProgressFigures:
        return ProgressFigures(**self.model_dump())


class Completion(Progress):
    """The RT reports the job done; with `percent`, this is also its final report."""

    # Optional here: without it, the completion carries no final report.
    percent: Percent | None = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _figures_come_with_a_percent(self) -> Completion:
        if self.percent is None and (self.photos or self.volunteers or self.labour_days):
            raise ValueError("a final report's photos, volunteers or labour days need its percent")
        return self

    def final_report(self) -> ProgressFigures | None:
        if self.percent is None:
            return None
        return self.figures()


class Ceiling(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ceiling_idr: Annotated[Rupiah, Field(description="the yearly pagu in rupiah")]


class ProposalView(BaseModel):
    proposal: ProposalBody
    allowed_actions: list[Action] = Field(description="what anyone may do next")
    your_actions: list[Action] = Field(description="what the caller may do next")


class ProposalPage(Page[ProposalBody]):
    pass


class PublicPage(Page[PublicProposal]):
    pass


class BudgetView(BaseModel):
    kecamatan: str
    fiscal_year: int
    ceiling_idr: int
    reserved_idr: int
    left_idr: int


def _view(proposal: Proposal, actor: Actor) -> ProposalView:
    yours = allowed_actions(proposal.state, actor.role) if actor.covers(proposal.area) else []
    return ProposalView(
        proposal=ProposalBody.of(proposal),
        allowed_actions=allowed_actions(proposal.state),
        your_actions=yours,
    )


def _budget_view(budget: Budget) -> BudgetView:
    return BudgetView(
        kecamatan=budget.kecamatan,
        fiscal_year=budget.fiscal_year,
        ceiling_idr=budget.ceiling_idr,
        reserved_idr=budget.reserved_idr,
        left_idr=budget.left_idr,
    )


Commands = Annotated[ProposalCommands, app_state("commands")]
Budgets = Annotated[BudgetCommands, app_state("budget_commands")]


async def _proposals(db: ServiceDatabase) -> ProposalRepository:
    return ProposalRepository(db)


Proposals = Annotated[ProposalRepository, Depends(_proposals)]


async def _answer(
    key: KeyedRequest | None,
    actor: Actor,
    call: Callable[[RecordAnswer | None], Awaitable[Proposal]],
    status_code: int = status.HTTP_200_OK,
) -> JSONResponse:
    """Run a proposal command (once per Idempotency-Key): the caller's view of the result."""
    return await respond(key, status_code=status_code, render=lambda p: _view(p, actor), call=call)


# --------------------------------------------------------------------------------------------
# List filters: the same query parameters on every list of proposals
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListFilters:
    area: AreaFilter
    state: State | None
    year: int | None
    work_type: WorkType | None

    def query(self, area: AreaFilter, states: Collection[State] | None = None) -> ProposalQuery:
        """Proposals of `area`; in the state asked for, or else in `states` (None: any)."""
        return ProposalQuery(
            area=area,
            states=[self.state] if self.state else states,
            year=self.year,
            work_type=self.work_type,
        )


async def _list_filters(
    kecamatan: str | None = None,
    kelurahan: str | None = None,
    rt: str | None = None,
    state: State | None = None,
    year: Annotated[int | None, Query(ge=FIRST_FISCAL_YEAR, le=LAST_FISCAL_YEAR)] = None,
    work_type: WorkType | None = None,
) -> ListFilters:
    area = AreaFilter(kecamatan=kecamatan, kelurahan=kelurahan, rt=rt)
    return ListFilters(area=area, state=state, year=year, work_type=work_type)


Filters = Annotated[ListFilters, Depends(_list_filters)]


# Lists of proposals hold up to 200 a page (the public list and the reviewers' queues).
PageWanted = Annotated[Paging, Depends(paging_up_to(200))]


# --------------------------------------------------------------------------------------------
# Proposals: the people who act
# --------------------------------------------------------------------------------------------

# The plain transitions, one endpoint each: path segment → action.
TRANSITIONS: dict[str, Action] = {
    "verify": Action.VERIFY,
    "endorse": Action.ENDORSE,
    "return": Action.RETURN,
    "reject": Action.REJECT,
    "resubmit": Action.RESUBMIT,
    "withdraw": Action.WITHDRAW,
    "cancel": Action.CANCEL,
    "work/start": Action.START_WORK,
    "validate": Action.VALIDATE,
    "work/return": Action.RETURN_WORK,
}
KEYED: dict[int | str, dict[str, Any]] = {
    status.HTTP_422_UNPROCESSABLE_CONTENT: {
        "description": "invalid input, or an Idempotency-Key reused for another request"
    }
}


def build_router() -> APIRouter:
    router = APIRouter(prefix="/proposals", tags=["proposals"])

    @router.post(
        "",
        status_code=status.HTTP_201_CREATED,
        response_model=ProposalView,
        responses=KEYED,
        summary="An RT head submits a proposal",
    )
    async def submit(
        draft: ProposalRequest,
        commands: Commands,
        actor: CurrentActor,
        correlation_id: CorrelationId,
        key: IdempotencyKey,
    ) -> JSONResponse:
        return await _answer(
            key,
            actor,
            lambda record_answer: commands.submit(
                draft.to_draft(), actor, correlation_id, record_answer=record_answer
            ),
            status_code=status.HTTP_201_CREATED,
        )

    @router.put(
        "/{proposal_id}/draft",
        response_model=ProposalView,
        responses=KEYED,
        summary="The RT head corrects a returned proposal before resubmitting it",
    )
    async def revise(
        proposal_id: uuid.UUID,
        draft: ProposalRequest,
        commands: Commands,
        actor: CurrentActor,
        correlation_id: CorrelationId,
        key: IdempotencyKey,
    ) -> JSONResponse:
        return await _answer(
            key,
            actor,
            lambda record_answer: commands.revise(
                proposal_id, draft.to_draft(), actor, correlation_id, record_answer=record_answer
            ),
        )

    @router.get("", summary="List the proposals of your area, newest first")
    async def list_proposals(
        proposals: Proposals, actor: CurrentActor, filters: Filters, paging: PageWanted
    ) -> ProposalPage:
        query = filters.query(scoped_filter(actor, filters.area))
        items, total = await proposals.list(
            query.to_filter(), skip=paging.skip, limit=paging.page_size
        )
        return ProposalPage(
            items=[ProposalBody.of(p) for p in items],
            total=total,
            page=paging.page,
            page_size=paging.page_size,
        )

    @router.get("/{proposal_id}", summary="One proposal, with who did what")
    async def get(
        proposal_id: uuid.UUID, proposals: Proposals, actor: CurrentActor
    ) -> ProposalView:
        proposal = await proposals.get(proposal_id)
        proposal.check_may_read(actor)
        return _view(proposal, actor)

    @router.get(
        "/{proposal_id}/timeline",
        summary="Every transition, progress report and delivery, with reasons, oldest first",
    )
    async def timeline(
        proposal_id: uuid.UUID, proposals: Proposals, actor: CurrentActor
    ) -> list[TimelineEntry]:
        proposal = await proposals.get(proposal_id)
        proposal.check_may_read(actor)
        return timeline_of(proposal)

    @router.post(
        "/{proposal_id}/approve",
        response_model=ProposalView,
        responses=KEYED,
        summary="The city approves, reserving the budget against the kecamatan's ceiling",
    )
    async def approve(
        proposal_id: uuid.UUID,
        approval: Approval,
        commands: Commands,
        actor: CurrentActor,
        correlation_id: CorrelationId,
        key: IdempotencyKey,
    ) -> JSONResponse:
        return await _answer(
            key,
            actor,
            lambda record_answer: commands.approve(
                proposal_id,
                actor,
                approval.budget_idr,
                approval.fiscal_year,
                correlation_id,
                record_answer=record_answer,
            ),
        )

    @router.post(
        "/{proposal_id}/work/progress",
        response_model=ProposalView,
        responses=KEYED,
        summary="The RT reports progress (the percentage never goes down)",
    )
    async def report_progress(
        proposal_id: uuid.UUID,
        progress: Progress,
        commands: Commands,
        actor: CurrentActor,
        correlation_id: CorrelationId,
        key: IdempotencyKey,
    ) -> JSONResponse:
        return await _answer(
            key,
            actor,
            lambda record_answer: commands.report_progress(
                proposal_id, actor, correlation_id, progress.figures(), record_answer=record_answer
            ),
        )

    @router.post(
        "/{proposal_id}/work/complete",
        response_model=ProposalView,
        responses=KEYED,
        summary="The RT reports the job done (at 100 %, or with a final report of 100 %)",
    )
    async def complete(
        proposal_id: uuid.UUID,
        completion: Completion,
        commands: Commands,
        actor: CurrentActor,
        correlation_id: CorrelationId,
        key: IdempotencyKey,
    ) -> JSONResponse:
        return await _answer(
            key,
            actor,
            lambda record_answer: commands.complete(
                proposal_id,
                actor,
                correlation_id,
                completion.note,
                completion.final_report(),
                record_answer=record_answer,
            ),
        )

    for path, action in TRANSITIONS.items():
        _add_transition(router, path, action)
    return router


def _add_transition(router: APIRouter, path: str, action: Action) -> None:
    async def transition(
        proposal_id: uuid.UUID,
        decision: Decision,
        commands: Commands,
        actor: CurrentActor,
        correlation_id: CorrelationId,
        key: IdempotencyKey,
    ) -> JSONResponse:
        return await _answer(
            key,
            actor,
            lambda record_answer: commands.act(
                proposal_id,
                action,
                actor,
                correlation_id,
                decision.reason,
                record_answer=record_answer,
            ),
        )

    router.add_api_route(
        f"/{{proposal_id}}/{path}",
        transition,
        methods=["POST"],
        response_model=ProposalView,
        responses=KEYED,
        summary=f"{action.value.replace('_', ' ').capitalize()} the proposal",
        name=action.value,
    )


# --------------------------------------------------------------------------------------------
# Budgets: the yearly ceiling (pagu) of each kecamatan
# --------------------------------------------------------------------------------------------


def build_budget_router() -> APIRouter:
    router = APIRouter(prefix="/budgets", tags=["budgets"])

    @router.put(
        "/{kecamatan}/{fiscal_year}",
        response_model=BudgetView,
        responses=KEYED,
        summary="A city officer sets a kecamatan's yearly ceiling (never below what is reserved)",
    )
    async def set_ceiling(
        kecamatan: str,
        fiscal_year: Annotated[int, Path(ge=FIRST_FISCAL_YEAR, le=LAST_FISCAL_YEAR)],
        ceiling: Ceiling,
        commands: Budgets,
        actor: CurrentActor,
        correlation_id: CorrelationId,
        key: IdempotencyKey,
    ) -> JSONResponse:
        return await respond(
            key,
            status_code=status.HTTP_200_OK,
            render=_budget_view,
            call=lambda record_answer: commands.set_ceiling(
                kecamatan,
                fiscal_year,
                ceiling.ceiling_idr,
                actor,
                correlation_id,
                record_answer=record_answer,
            ),
        )

    @router.get("", summary="Every kecamatan's ceiling, reserved and left for a year (public)")
    async def list_budgets(
        db: ServiceDatabase, year: Annotated[int, Query(ge=FIRST_FISCAL_YEAR, le=LAST_FISCAL_YEAR)]
    ) -> list[BudgetView]:
        # Not paged: one budget per kecamatan of the area register (both ways a budget
        # is made check the kecamatan), so a year is a short list.
        budgets = await BudgetRepository(db).of_year(year)
        return [_budget_view(b) for b in budgets]

    return router


# --------------------------------------------------------------------------------------------
# Operators: flows that stopped moving
# --------------------------------------------------------------------------------------------


class StuckPage(Page[StuckProposal]):
    """Proposals resting longer than their state allows, longest waiting first."""


def build_admin_router(thresholds: dict[State, float]) -> APIRouter:
    router = APIRouter(prefix="/admin", tags=["operators"])

    @router.get(
        "/stuck-proposals",
        summary="Proposals with no progress for longer than their state allows, and why",
    )
    async def stuck_proposals(db: ServiceDatabase, actor: CurrentActor, paging: Pages) -> StuckPage:
        if actor.role not in OPERATOR_ROLES:
            raise Forbidden("only operators (city officers) see the stuck flows")
        now = utc_now()
        found, total = await ProposalRepository(db).stuck(
            cutoffs(thresholds, now), skip=paging.skip, limit=paging.page_size
        )
        return StuckPage(
            items=[stuck_view(p, thresholds, now) for p in found],
            total=total,
            page=paging.page,
            page_size=paging.page_size,
        )

    return router


# --------------------------------------------------------------------------------------------
# Public reads: no token, no personal data
# --------------------------------------------------------------------------------------------


def _public_query(filters: ListFilters) -> ProposalQuery:
    state = filters.state
    if state is not None and state not in PUBLISHED_STATES:
        published = ", ".join(sorted(s.value for s in PUBLISHED_STATES))
        raise Unprocessable(f"{state.value} proposals are not published; published: {published}")
    return filters.query(filters.area, PUBLISHED_STATES)


def build_public_router() -> APIRouter:
    router = APIRouter(prefix="/public", tags=["public"])

    @router.get("/proposals", summary="Published proposals, newest first (no token needed)")
    async def list_public(proposals: Proposals, filters: Filters, paging: PageWanted) -> PublicPage:
        query = _public_query(filters)
        items, total = await proposals.list(
            query.to_filter(), skip=paging.skip, limit=paging.page_size
        )
        return PublicPage(
            items=[public_view(p) for p in items],
            total=total,
            page=paging.page,
            page_size=paging.page_size,
        )

    @router.get(
        "/proposals.csv",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/csv": {}}}},
        summary="Open data: published proposals as CSV (same filters, same public fields)",
    )
    async def export_csv(proposals: Proposals, filters: Filters) -> StreamingResponse:
        return StreamingResponse(
            _csv_lines(proposals, _public_query(filters)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="berdaya-proposals.csv"'},
        )

    @router.get("/proposals/{proposal_id}", summary="One published proposal, with its timeline")
    async def get_public(proposal_id: uuid.UUID, proposals: Proposals) -> PublicProposal:
        try:
            proposal = await proposals.get(proposal_id)
        except NotFound:
            proposal = None
        # Unpublished looks the same as absent: not even its existence is public.
        if proposal is None or not is_published(proposal):
            raise NotFound(f"no published proposal {proposal_id}")
        return public_view(proposal)

    @router.get(
        "/kecamatan-totals",
        summary="Per kecamatan: proposals by state, metres built, budget used and left, "
        "swadaya contributed",
    )
    async def totals(
        db: ServiceDatabase, year: Annotated[int, Query(ge=FIRST_FISCAL_YEAR, le=LAST_FISCAL_YEAR)]
    ) -> list[KecamatanTotals]:
        figures = await ProposalRepository(db).state_figures(year)
        budgets = await BudgetRepository(db).of_year(year)
        return kecamatan_totals(year, area_register().kecamatan, figures, budgets)

    return router


async def _csv_lines(repository: ProposalRepository, query: ProposalQuery) -> AsyncIterator[str]:
    yield _csv_line(CSV_COLUMNS)
    async for proposal in repository.stream(query):
        yield _csv_line(csv_row(public_view(proposal)))


def _csv_line(values: Any) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()
