"""JSON bodies as the services take them: UTF-8, finite numbers, whole characters.

FastAPI parses a JSON body with the standard library (`Request.json`, `json.loads`),
which takes `NaN`, `Infinity` and `-Infinity` and lone surrogate escapes (`"\\ud800"`);
such values pass the models and then fail far from the request (MongoDB cannot store
the string, the answer cannot encode it). This middleware, before any route, refuses
them with 422 and reads on as before otherwise: the body, already bounded by the size
limit, is checked once and handed to the app unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.web.body_limit import BodyTooLarge


class NotAcceptedJson(ValueError):
    """Valid to Python's parser, but not taken here."""


def json_problem(body: bytes) -> str | None:
    """Why `body` is refused, or None (also for malformed JSON: FastAPI answers that)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"the body is not UTF-8 (byte {error.start})"
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except NotAcceptedJson as error:
        return str(error)
    except ValueError:
        return None
    try:
        # Lone surrogates survive parsing; encoding is where they show.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "the body has a lone surrogate escape (such as \\ud800): not a character"
    return None


def _refuse_constant(name: str) -> Any:
    raise NotAcceptedJson(f"the body has {name}: only finite numbers are taken")


def _is_json(scope: Scope) -> bool:
    content_type = Headers(scope=scope).get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class JsonBodyGuard:
    """Pure ASGI middleware: refuses a JSON body with non-finite numbers, bytes that are
    not UTF-8 or lone surrogates (422, `json_invalid`), before any route parses it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        try:
            body, ended = await _read_body(receive)
        except BodyTooLarge as error:
            await error.answer()(scope, receive, send)
            return
        problem = json_problem(body) if ended and body else None
        if problem is not None:
            answer = JSONResponse(
                {
                    "detail": f"the request is not valid — body: {problem}",
                    "errors": [
                        {"type": "json_invalid", "loc": ["body"], "msg": problem, "input": None}
                    ],
                },
                status_code=422,
            )
            await answer(scope, receive, send)
            return
        await self.app(scope, _replay(body, ended, receive), send)


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole body (the size limit bounds it); False when the client went away."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replay(body: bytes, ended: bool, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        if not ended:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
