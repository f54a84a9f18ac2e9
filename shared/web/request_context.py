"""What every request passes through before routing (pure ASGI middleware: Starlette's
`BaseHTTPMiddleware` runs the rest of the app in a task of its own, with streams between,
which cost a request more than its MongoDB round trips' Python side).

`Correlation`: the request's correlation id — the caller's `X-Correlation-ID` (up to 100
characters), so that one story can be followed across the services, or a new one — in
`request.state.correlation_id`, in every log line while it runs and on the answer.

`StartGate`: until MongoDB and RabbitMQ answered, a route would only time out on them;
it answers 503 with `Retry-After` instead (health, readiness, metrics and the
documentation answer anyway).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from fastapi import status
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.logs import correlation_scope

CORRELATION_HEADER = "X-Correlation-ID"
STARTING = "the service is starting: it waits for MongoDB and RabbitMQ; try again"


class Correlation:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get(CORRELATION_HEADER, "")[:100]
        correlation_id = given or str(uuid.uuid4())
        scope.setdefault("state", {})["correlation_id"] = correlation_id

        async def answering_with_it(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[CORRELATION_HEADER] = correlation_id
            await send(message)

        with correlation_scope(correlation_id):
            await self.app(scope, receive, answering_with_it)


class StartGate:
    def __init__(
        self, app: ASGIApp, *, started: Callable[[], bool], always_open: Callable[[str], bool]
    ) -> None:
        self.app = app
        self._started = started
        self._always_open = always_open

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._started() or self._always_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        starting = JSONResponse(
            {"detail": STARTING},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
        await starting(scope, receive, send)
