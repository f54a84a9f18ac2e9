"""A bound on request bodies, enforced as they stream in (pure ASGI middleware).

A declared Content-Length over the bound is answered 413 at once, nothing read; a
body without one (chunked) is counted chunk by chunk and refused when it passes the
bound, so a 5 MB body is never held, let alone parsed. (FastAPI's own `max_body_size`
answers in plain text, over whatever the app said: not the services' error model.)
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """Raised from `receive` when the body passes the bound; FastAPI's routes let an
    HTTPException through, so it is answered like any other (413, ErrorBody)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413, detail=f"the request body is larger than this service takes ({limit} bytes)"
        )

    def answer(self) -> JSONResponse:
        return JSONResponse({"detail": self.detail}, status_code=self.status_code)


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await BodyTooLarge(self.max_bytes).answer()(scope, receive, send)
            return
        await self.app(scope, self._counted(receive), send)

    def _counted(self, receive: Receive) -> Receive:
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        return counted
