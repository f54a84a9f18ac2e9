"""The FastAPI application every service serves: its routers plus health,
readiness, metrics, dead-letter admin and one error format."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pymongo.errors import PyMongoError
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from shared.errors import DomainError
from shared.identity import OPERATOR_ROLES, Actor, Role
from shared.logs import correlation_scope
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
from shared.web.json_body import JsonBodyGuard
from shared.web.problems import (
    document_errors,
    invalid_request_answer,
    invalid_request_sentence,
)

CORRELATION_HEADER = "X-Correlation-ID"
# The transaction may or may not have committed when its time ran out: the same request
# again (same Idempotency-Key) is answered once either way.
DATABASE_UNAVAILABLE = (
    "the database is busy or out of reach; the outcome is not known: send the same "
    "request again, with the same Idempotency-Key"
)
# Answered while the service is still starting (the rest answer 503 until then).
ALWAYS_ANSWERED = frozenset({"/health", "/ready", "/metrics", "/docs", "/openapi.json"})


def _correlation_id(request: Request) -> str:
    correlation_id: str = request.state.correlation_id
    return correlation_id


CorrelationId = Annotated[str, Depends(_correlation_id)]


def _database(request: Request) -> Database:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime.db


# The service's own MongoDB database, for the repositories a read route uses.
ServiceDatabase = Annotated[Database, Depends(_database)]


def app_state(name: str) -> Any:
    """A dependency on what the service's bootstrap put on `app.state` under `name`; the
    type is declared where it is used::

        Commands = Annotated[ProposalCommands, app_state("commands")]
    """

    def from_app_state(request: Request) -> Any:
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

    @app.middleware("http")
    async def not_before_started(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Until MongoDB and RabbitMQ answered, a route would only time out on them.
        path = request.url.path
        if runtime.started.is_set() or path in ALWAYS_ANSWERED or docs_pages.is_docs_path(path):
            return await call_next(request)
        return JSONResponse(
            {"detail": "the service is starting: it waits for MongoDB and RabbitMQ; try again"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )

    # Inside the correlation id (the access log carries it), around the start gate (its
    # 503s are counted too).
    app.add_middleware(
        HttpMetrics, service=settings.service_name, access_log_enabled=settings.access_log
    )

    @app.middleware("http")
    async def correlate(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # A caller's id is kept (up to 100 chars) so one story can be followed
        # across the services; otherwise each request starts a new one.
        given = request.headers.get(CORRELATION_HEADER, "")[:100]
        request.state.correlation_id = given or str(uuid.uuid4())
        with correlation_scope(request.state.correlation_id):
            response = await call_next(request)
        response.headers[CORRELATION_HEADER] = request.state.correlation_id
        return response

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
    async def dead_letters(actor: CurrentActor, limit: int = 50) -> list[DeadLetter]:
        _require_operator(actor.role)
        return await runtime.dead_letters.peek(min(max(limit, 1), 500))

    @router.post(
        "/admin/dead-letters/replay",
        summary="Send back every dead letter that matches a filter, in one pass",
    )
    async def replay_matching(
        actor: CurrentActor, correlation_id: CorrelationId, wanted: ReplayFilter, limit: int = 1000
    ) -> ReplayReport:
        """Every condition given must hold: `event_type`, `reason_contains` (any case),
        `dead_lettered_from` (inclusive) / `dead_lettered_until` (exclusive). Each match
        goes back to the queue it came from, with a fresh count of attempts; the answer
        lists them, and `complete: false` says there may be more (run it again)."""
        _require_operator(actor.role)
        if not wanted.model_dump(exclude_none=True):
            raise HTTPException(
                422,
                "say which dead letters to replay: event_type, reason_contains, "
                "dead_lettered_from or dead_lettered_until (to replay them all on purpose, "
                "give dead_lettered_until: now)",
            )
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
        await _audit_replay(runtime, actor, correlation_id, "replay_dead_letters", target, details)
        return report

    @router.post(
        "/admin/dead-letters/{message_id}/replay",
        summary="Send one dead letter back to the queue it came from",
    )
    async def replay(
        actor: CurrentActor, correlation_id: CorrelationId, message_id: str
    ) -> DeadLetter:
        _require_operator(actor.role)
        replayed = await runtime.dead_letters.replay(message_id)
        if replayed is None:
            raise HTTPException(404, f"no dead letter with message_id {message_id}")
        details = {"event_type": replayed.event_type, "queue": replayed.original_queue}
        target = ("dead_letter", message_id)
        await _audit_replay(runtime, actor, correlation_id, "replay_dead_letter", target, details)
        return replayed

    return router


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
