"""Idempotency-Key: a retried command answers with its first result instead of acting twice.

A client that is not sure its request arrived (a timeout, a dropped connection on a
phone in the field) sends it again with the same `Idempotency-Key` header. The key —
scoped to the person and the route, so two people or two routes never share one — and
the response are stored in the service's database in the same transaction as the
command's effect: either both exist or neither. A retry with the same key finds the
stored response and gets its status code and body again, with `Idempotent-Replay:
true`; the same key with a different request body is refused (422), since the client
is confused about what it sent. A command that failed stored nothing (no effect), so
its retry runs again. Keys expire after `KEYS_KEPT` (a TTL index).

Use in a route::

    async def verify(..., key: IdempotencyKey) -> JSONResponse:
        return await respond(
            key, status_code=200, render=to_view,
            call=lambda record_answer: commands.verify(..., record_answer=record_answer),
        )

where the use case runs its work as
`transactions.run(record_answer(work) if record_answer else work)`: `record_answer` (a
`RecordAnswer`, or None without a key) wraps the work so that the answer is stored with
the effect, in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pymongo import ASCENDING, IndexModel

from shared.clock import utc_now
from shared.errors import Unprocessable
from shared.storage.mongo import Database, Document
from shared.storage.unit_of_work import UnitOfWork
from shared.web.auth import CurrentActor

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replay"
COLLECTION = "idempotency_keys"
# Long enough for any client's retries (a phone back in coverage the next morning
# sends a new request anyway); the TTL monitor removes keys within a minute after.
KEYS_KEPT = timedelta(hours=24)
MAX_KEY_LENGTH = 255

T = TypeVar("T")
Work = Callable[[UnitOfWork], Awaitable[T]]


class RecordAnswer(Protocol):
    """Wraps a use case's transactional work so that it also stores (or replays) the
    answer to an Idempotency-Key (see `Recorder.wrap`)."""

    def __call__(self, work: Work[T]) -> Work[T]: ...


async def create_indexes(db: Database) -> None:
    await db[COLLECTION].create_indexes(
        [IndexModel([("created_at", ASCENDING)], expireAfterSeconds=int(KEYS_KEPT.total_seconds()))]
    )


@dataclass(frozen=True)
class KeyedRequest:
    """One request that carried an Idempotency-Key."""

    key: str
    actor_id: str
    method: str
    path: str
    fingerprint: str  # of the body and query: the same key must mean the same request

    @property
    def record_id(self) -> str:
        scope = f"{self.actor_id}\n{self.method} {self.path}\n{self.key}"
        return hashlib.sha256(scope.encode()).hexdigest()


def fingerprint(body: bytes, query: str = "") -> str:
    """The same for the same JSON whatever its key order or spacing."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(query.encode() + b"\n" + canonical).hexdigest()


async def keyed_request(
    request: Request,
    actor: CurrentActor,
    key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            description=(
                "Any unique string (a UUID) chosen by the client. A retry with the same "
                "key returns the first result instead of acting twice (kept 24 h)."
            ),
        ),
    ] = None,
) -> KeyedRequest | None:
    if key is None:
        return None
    key = key.strip()
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise Unprocessable(
            f"the {HEADER} header must be 1 to {MAX_KEY_LENGTH} printable characters "
            "(a UUID is a good key)"
        )
    body = await request.body()
    return KeyedRequest(
        key=key,
        actor_id=actor.id,
        method=request.method,
        path=request.url.path,
        fingerprint=fingerprint(body, request.url.query),
    )


IdempotencyKey = Annotated[KeyedRequest | None, Depends(keyed_request)]


class Replayed(Exception):
    """The request was answered before: leave the transaction with the stored answer."""

    def __init__(self, status_code: int, body: Any) -> None:
        super().__init__(f"replay of a {status_code} response")
        self.status_code = status_code
        self.body = body


class Recorder:
    """Stores the response of one keyed request with the effect, or replays it."""

    def __init__(
        self, request: KeyedRequest, status_code: int, render: Callable[[Any], BaseModel]
    ) -> None:
        self._request = request
        self._status_code = status_code
        self._render = render
        self.body: Any = None

    def wrap(self, work: Work[T]) -> Work[T]:
        async def recording(uow: UnitOfWork) -> T:
            await self._replay_if_known(uow)
            result = await work(uow)
            body = self._render(result).model_dump(mode="json")
            await uow.db[COLLECTION].insert_one(self._record(body), session=uow.session)
            # Set on every attempt; the transaction's last, committed one wins.
            self.body = body
            return result

        return recording

    async def _replay_if_known(self, uow: UnitOfWork) -> None:
        stored = await uow.db[COLLECTION].find_one(
            {"_id": self._request.record_id}, session=uow.session
        )
        if stored is None:
            return
        if stored["fingerprint"] != self._request.fingerprint:
            raise Unprocessable(
                f"this {HEADER} was already used for a different request to "
                f"{self._request.path}; send a new key for a new request"
            )
        raise Replayed(stored["status_code"], json.loads(stored["body"]))

    def _record(self, body: Any) -> Document:
        r = self._request
        return {
            "_id": r.record_id,
            "actor_id": r.actor_id,
            "route": f"{r.method} {r.path}",
            "fingerprint": r.fingerprint,
            "status_code": self._status_code,
            # Stored as JSON text: the body's keys are not BSON's business.
            "body": json.dumps(body),
            "created_at": utc_now(),
        }


async def respond(
    key: KeyedRequest | None,
    *,
    status_code: int,
    render: Callable[[T], BaseModel],
    call: Callable[[RecordAnswer | None], Awaitable[T]],
) -> JSONResponse:
    """Run the use case `call(record_answer)`, answering a retried key with its first response."""
    if key is None:
        result = await call(None)
        return JSONResponse(render(result).model_dump(mode="json"), status_code=status_code)
    recorder = Recorder(key, status_code, render)
    try:
        await call(recorder.wrap)
    except Replayed as replay:
        return JSONResponse(
            replay.body, status_code=replay.status_code, headers={REPLAY_HEADER: "true"}
        )
    return JSONResponse(recorder.body, status_code=status_code)
