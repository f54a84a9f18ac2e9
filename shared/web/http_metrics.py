"""HTTP request metrics and the access log (pure ASGI middleware).

Every request answered is counted and timed by route template (`/proposals/{proposal_id}`,
never the raw path: one series per route, not one per proposal), method and status
class (`2xx`, `4xx`, `5xx`…): `berdaya_http_requests_total` and
`berdaya_http_request_seconds` on `/metrics`. With `BERDAYA_ACCESS_LOG=true`, each
request also writes one log line (with the correlation id and, when tracing, the trace
id).
"""

from __future__ import annotations

import time

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.logs import get_logger
from shared.metrics import HTTP_REQUEST_SECONDS, HTTP_REQUESTS

access_log = get_logger("berdaya.access")
# A path no route takes (a scan, a typo) is counted under this, not under itself.
UNMATCHED = "unmatched"
# Any other method (they are the client's to invent) is counted as OTHER.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope) -> str:
    """The template of the route that took (or would take) the request.

    The router leaves the route it matched in the scope; a request answered before
    routing (the service still starting, a body too large) is matched here."""
    route = scope.get("route")
    if route is None:
        app = scope.get("app")
        for candidate in getattr(getattr(app, "router", None), "routes", ()):
            match, _ = candidate.matches(scope)
            if match != Match.NONE:
                route = candidate
                break
    template = getattr(route, "path_format", None)
    return template if isinstance(template, str) else UNMATCHED


def status_class(status: int) -> str:
    return f"{status // 100}xx"


def method_label(method: str) -> str:
    return method if method in METHODS else "OTHER"


class HttpMetrics:
    def __init__(self, app: ASGIApp, *, service: str, access_log_enabled: bool) -> None:
        self.app = app
        self.service = service
        self.access_log_enabled = access_log_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # An exception before any answer is answered 500 by the outermost middleware.
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        method, route = method_label(scope["method"]), route_template(scope)
        labels = (self.service, method, route, status_class(status))
        HTTP_REQUESTS.labels(*labels).inc()
        HTTP_REQUEST_SECONDS.labels(*labels).observe(seconds)
        if self.access_log_enabled:
            access_log.info(
                "http request",
                method=method,
                route=route,
                path=scope["path"],  # no query string: it may carry what logs must not
                status=status,
                duration_ms=round(seconds * 1000, 1),
            )
