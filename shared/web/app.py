"""The FastAPI application every service serves: its routers plus health,
readiness, metrics, dead-letter admin and one error format."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import aio_pika
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pymongo.errors import PyMongoError
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from shared.errors import DomainError
from shared.identity import OPERATOR_ROLES, Actor, Role
from shared.messaging.consumer import is_outage
from shared.messaging.dead_letters import DeadLetter, ReplayFilter, ReplayReport
from shared.runtime import ServiceRuntime
from shared.storage import audit
from shared.storage.mongo import Database
from shared.web import audit as audit_routes
from shared.web import docs_pages, rate_limits
from shared.web.auth import CurrentActor
from shared.web.body_limit import BodyLimit
from shared.web.http_metrics import HttpMetrics
from shared.web.idempotency import IdempotencyKeyOutsideTransaction, respond_outside_transaction
from shared.web.json_body import JsonBodyGuard
from shared.web.pages import Page, PageWanted
from shared.web.problems import (
    document_errors,
    invalid_request_answer,
    invalid_request_sentence,
)
from shared.web.request_context import Correlation, StartGate

# The transaction may or may not have committed when its time ran out: the same request
# again (same Idempotency-Key) is answered once either way.
DATABASE_UNAVAILABLE = (
    "the database is busy or out of reach; the outcome is not known: send the same "
    "request again, with the same Idempotency-Key"
)
# Answered while the service is still starting (the rest answer 503 until then).
ALWAYS_ANSWERED = frozenset({"/health", "/ready", "/metrics", "/docs", "/openapi.json"})
# The dead letters a peek reaches: the pages of `GET /admin/dead-letters` end there
# (each page reads them all from the head of the queue, then hands them back).
PEEK_REACH = 500


async def _correlation_id(request: Request) -> str:
    correlation_id: str = request.state.correlation_id
    return correlation_id


CorrelationId = Annotated[str, Depends(_correlation_id)]


async def _database(request: Request) -> Database:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime.db


# The service's own MongoDB database, for the repositories a read route uses.
ServiceDatabase = Annotated[Database, Depends(_database)]


def app_state(name: str) -> Any:
    """A dependency on what the service's bootstrap put on `app.state` under `name`; the
    type is declared where it is used::

        Commands = Annotated[ProposalCommands, app_state("commands")]
    """

    async def from_app_state(request: Request) -> Any:
        return getattr(request.app.state, name)

    return Depends(from_app_state)


def create_app(
    runtime: ServiceRuntime, *, title: str, description: str, routers: list[APIRouter]
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        runtime.start_in_background()
        try:
            yield
        finally:
            await runtime.stop()

    settings = runtime.settings
    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        dependencies=[Depends(rate_limits.rate_limited)],
        # served by docs_pages from the service's own assets, not from a CDN
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    rate_limits.install(app, settings)
    app.state.runtime = runtime
    for router in routers:
        app.include_router(router)
    app.include_router(_operations_router(runtime))
    app.include_router(audit_routes.build_router(runtime.db))
    docs_pages.install(app, settings.service_name)
    document_errors(app, always_answered=ALWAYS_ANSWERED, rate_limited=settings.rate_limits_enabled)
    # Innermost of the middleware (answered inside the correlation id and the start gate,
    # raised where no task group wraps it): bodies bounded as they stream in, then the
    # JSON ones checked before any route parses them.
    app.add_middleware(JsonBodyGuard)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

    app.add_middleware(
        StartGate,
        started=runtime.started.is_set,
        always_open=lambda path: path in ALWAYS_ANSWERED or docs_pages.is_docs_path(path),
    )

    # Inside the correlation id (the access log carries it), around the start gate (its
    # 503s are counted too).
    app.add_middleware(
        HttpMetrics, service=settings.service_name, access_log_enabled=settings.access_log
    )

    app.add_middleware(Correlation)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        return invalid_request_answer(error)

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, error: DomainError) -> JSONResponse:
        return JSONResponse({"detail": error.message}, status_code=error.status_code)

    @app.exception_handler(PyMongoError)
    async def database_unavailable(_: Request, error: PyMongoError) -> JSONResponse:
        if not is_outage(error):
            raise error  # a fault of ours: the 500 it is
        return JSONResponse(
            {"detail": DATABASE_UNAVAILABLE},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "1"},
        )

    if settings.trusted_proxies:
        # Outermost: the client's address is settled before anything counts it.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    runtime.tracing.instrument_app(app)  # outermost: a span per request, when tracing
    return app


def describe_invalid_request(error: RequestValidationError) -> str:
    """`the request is not valid — body.dimensions.width_m: Input should be less than
    or equal to 8; …`"""
    return invalid_request_sentence(error.errors())


def _operations_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/health", summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": runtime.settings.service_name}

    @router.get("/ready", summary="Readiness: RabbitMQ and MongoDB reachable")
    async def ready() -> JSONResponse:
        checks = await runtime.readiness()
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": checks},
            status_code=status.HTTP_200_OK if ok else status.HTTP_503_SERVICE_UNAVAILABLE,
        )

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @router.get("/admin/dead-letters", summary="Peek at this service's dead letters")
    async def dead_letters(actor: CurrentActor, paging: PageWanted) -> DeadLetterPage:
        """The dead letters in the order they wait in the queue, a page at a time,
        through the first 500 (`total` says how many wait; replay or fix those to see
        further). Peeking takes nothing away: every letter read is handed back — with
        more than 500 waiting, behind the others, so the next peek shows those."""
        _require_operator(actor.role)
        if paging.skip + paging.page_size > PEEK_REACH:
            raise HTTPException(
                422,
                f"a peek reaches the first {PEEK_REACH} dead letters (page * page_size at "
                "most that); replay some, or fix what refuses them, to see further",
            )
        # Every letter up to the reach is read, not only those up to this page: the queue
        # takes back what a peek read at its end, so a peek of the head alone would move
        # it behind the rest, and the next page would show it again. Read whole, the
        # queue keeps its order.
        letters = await runtime.dead_letters.peek(PEEK_REACH)
        total = len(letters)
        if total == PEEK_REACH:  # more may wait
            total = max(total, await _dead_letters_waiting(runtime))
        return DeadLetterPage(
            items=paging.of(letters),
            total=total,
            page=paging.page,
            page_size=paging.page_size,
        )

    @router.post(
        "/admin/dead-letters/replay",
        summary="Send back every dead letter that matches a filter, in one pass "
        "(a retry with the same Idempotency-Key replays once)",
        response_model=ReplayReport,
    )
    async def replay_matching(
        actor: CurrentActor,
        correlation_id: CorrelationId,
        wanted: ReplayFilter,
        key: IdempotencyKeyOutsideTransaction,
        limit: int = 1000,
    ) -> JSONResponse:
        """Every condition given must hold: `event_type`, `reason_contains` (any case),
        `dead_lettered_from` (inclusive) / `dead_lettered_until` (exclusive). Each match
        goes back to the queue it came from, with a fresh count of attempts; the answer
        lists them, and `complete: false` says there may be more (run it again, with a
        new Idempotency-Key). The same request again with the same Idempotency-Key
        answers with the first report and sends nothing back again, even letters that
        were dead-lettered again since."""
        _require_operator(actor.role)
        if not wanted.model_dump(exclude_none=True):
            raise HTTPException(
                422,
                "say which dead letters to replay: event_type, reason_contains, "
                "dead_lettered_from or dead_lettered_until (to replay them all on purpose, "
                "give dead_lettered_until: now)",
            )

        async def replay_them() -> ReplayReport:
            report = await runtime.dead_letters.replay_matching(
                wanted, limit=min(max(limit, 1), 10_000)
            )
            details = {
                **wanted.model_dump(mode="json", exclude_none=True),
                "replayed": len(report.replayed),
                "message_ids": [str(letter.message_id) for letter in report.replayed],
                "complete": report.complete,
            }
            # The target is the service's dead-letter queue; the ids replayed are in details.
            target = ("dead_letter_queue", runtime.settings.service_name)
            await _audit_replay(
                runtime, actor, correlation_id, "replay_dead_letters", target, details
            )
            return report

        return await respond_outside_transaction(
            key, runtime.db, status_code=status.HTTP_200_OK, render=_as_is, call=replay_them
        )

    @router.post(
        "/admin/dead-letters/{message_id}/replay",
        summary="Send one dead letter back to the queue it came from "
        "(a retry with the same Idempotency-Key replays once)",
        response_model=DeadLetter,
    )
    async def replay(
        actor: CurrentActor,
        correlation_id: CorrelationId,
        message_id: str,
        key: IdempotencyKeyOutsideTransaction,
    ) -> JSONResponse:
        """The same request again with the same Idempotency-Key answers with the first
        answer and sends nothing back again, even if the letter was dead-lettered again
        since; a 404 (no such letter) keeps no answer: the same key tries again."""
        _require_operator(actor.role)

        async def replay_it() -> DeadLetter:
            replayed = await runtime.dead_letters.replay(message_id)
            if replayed is None:
                raise HTTPException(404, f"no dead letter with message_id {message_id}")
            details = {"event_type": replayed.event_type, "queue": replayed.original_queue}
            target = ("dead_letter", message_id)
            await _audit_replay(
                runtime, actor, correlation_id, "replay_dead_letter", target, details
            )
            return replayed

        return await respond_outside_transaction(
            key, runtime.db, status_code=status.HTTP_200_OK, render=_as_is, call=replay_it
        )

    return router


class DeadLetterPage(Page[DeadLetter]):
    """One page of a service's dead letters, in the order they wait in the queue."""


def _as_is(answer: DeadLetter | ReplayReport) -> DeadLetter | ReplayReport:
    return answer


async def _dead_letters_waiting(runtime: ServiceRuntime) -> int:
    """How many dead letters wait in the service's queue (ready to be read; those a
    replay or a peek holds at the moment are not counted)."""
    name = runtime.topology.dead_letter_queue(runtime.settings.service_name).name
    connection = await aio_pika.connect(runtime.settings.amqp_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, passive=True)
        count = queue.declaration_result.message_count
        return count if isinstance(count, int) else 0


async def _audit_replay(
    runtime: ServiceRuntime,
    actor: Actor,
    correlation_id: str,
    action: str,
    target: tuple[str, str],
    details: dict[str, Any],
) -> None:
    """A replay moves messages on the broker, in no MongoDB transaction: its record is
    appended once the messages went back (a replay that failed leaves none)."""
    record = audit.AuditRecord.of(
        actor,
        action,
        *target,
        service=runtime.settings.service_name,
        correlation_id=correlation_id,
        details=details,
    )
    await audit.append(runtime.db, None, record)


def _require_operator(role: Role) -> None:
    if role not in OPERATOR_ROLES:
        raise HTTPException(403, "only city officers may inspect or replay dead letters")
