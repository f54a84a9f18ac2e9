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
`transactions.run(work, correlation_id=…, record_answer=record_answer)`: `record_answer`
(a `RecordAnswer`, or None without a key) wraps the work so that the answer is stored
with the effect, in the same transaction.

A command whose effect is not in MongoDB (a broker operation: a dead-letter replay) has
no transaction to share: `respond_outside_transaction` (with the header
`IdempotencyKeyOutsideTransaction`) reserves the key before acting and stores the answer
once it acted. The same key while the first request still runs is answered 409 (with
`Retry-After`); a command that failed gives its reservation back, so its retry runs
again; a reservation whose request never finished (its process stopped) is taken over
by the same key after `RESERVATION_KEPT`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, TypeVar

from bson.errors import InvalidDocument
from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError, PyMongoError

from shared.clock import utc_now
from shared.errors import Unprocessable
from shared.logs import get_logger
from shared.storage.answers import COLLECTION
from shared.storage.mongo import Database, Document
from shared.storage.unit_of_work import RecordAnswer, UnitOfWork, Work
from shared.web.auth import CurrentActor

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replay"
MAX_KEY_LENGTH = 255
# How long a key reserved by a command outside a transaction (`respond_outside_transaction`)
# waits for its answer before the same key may act again: far above a replay's time (a
# pass over 10,000 dead letters takes seconds), short enough for a client whose first
# request was cut off by a restart.
RESERVATION_KEPT = timedelta(minutes=5)
STILL_RUNNING_RETRY_AFTER_SECONDS = 5
KEY_DESCRIPTION = (
    "Any unique string (a UUID) chosen by the client. A retry with the same "
    "key returns the first result instead of acting twice (kept 24 h)."
)
KEY_OUTSIDE_TRANSACTION_DESCRIPTION = (
    "Any unique string (a UUID) chosen by the client. The same key again (same person, "
    "route, query and body) answers with the first result, with `Idempotent-Replay: "
    "true`, and does not act again (kept 24 h); the same key with another query or body "
    "is refused (422). This command acts on the message broker, outside any database "
    "transaction: its key is reserved before it acts and its answer kept once it acted. "
    "The same key while the first request still runs is answered 409 with `Retry-After`; "
    "a request that failed keeps no answer, so the same key runs it again; one cut off "
    f"(the service stopped while it ran) may run again with the same key after "
    f"{int(RESERVATION_KEPT.total_seconds() // 60)} minutes."
)

log = get_logger(__name__)

T = TypeVar("T")


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
    key: Annotated[str | None, Header(alias=HEADER, description=KEY_DESCRIPTION)] = None,
) -> KeyedRequest | None:
    return await _keyed(request, actor, key)


async def keyed_request_outside_transaction(
    request: Request,
    actor: CurrentActor,
    key: Annotated[
        str | None, Header(alias=HEADER, description=KEY_OUTSIDE_TRANSACTION_DESCRIPTION)
    ] = None,
) -> KeyedRequest | None:
    """The same header, documented for `respond_outside_transaction`."""
    return await _keyed(request, actor, key)


async def _keyed(request: Request, actor: CurrentActor, key: str | None) -> KeyedRequest | None:
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
IdempotencyKeyOutsideTransaction = Annotated[
    KeyedRequest | None, Depends(keyed_request_outside_transaction)
]


class Replayed(Exception):
    """The request was answered before: leave the transaction with the stored answer."""

    def __init__(self, status_code: int, body: Any) -> None:
        super().__init__(f"replay of a {status_code} response")
        self.status_code = status_code
        self.body = body


class Recorder:
    """Stores the response of one keyed request with the effect, or replays it."""

    def __init__(
        self, request: KeyedRequest, status_code: int, render: Callable[[Any], BaseModel | None]
    ) -> None:
        self._request = request
        self._status_code = status_code
        self._render = render
        self.body: Any = None

    def wrap(self, work: Work[T]) -> Work[T]:
        """The work, then its answer stored under the key. A retry is found only when
        it cannot be new: the work refused it (its first run changed the state), or the
        answer is already there (the insert fails and takes the retry's effect with it,
        one transaction) — so a first request, nearly every one, costs no lookup."""

        async def recording(uow: UnitOfWork) -> T:
            try:
                result = await work(uow)
            except PyMongoError:
                raise  # the transaction's trouble (retried by it), not a refusal
            except Exception:
                await self._replay_if_known(uow.db, uow.session)
                raise
            rendered = self._render(result)
            body = None if rendered is None else rendered.model_dump(mode="json")
            try:
                await uow.db[COLLECTION].insert_one(self._record(body), session=uow.session)
            except DuplicateKeyError:
                await self._replay_if_known(uow.db, session=None)  # the write aborted it
                raise
            # Set on every attempt; the transaction's last, committed one wins.
            self.body = body
            return result

        return recording

    async def _replay_if_known(self, db: Database, session: AsyncClientSession | None) -> None:
        stored = await db[COLLECTION].find_one({"_id": self._request.record_id}, session=session)
        if stored is None:
            return
        _refuse_another_request(stored, self._request)
        raise Replayed(stored["status_code"], json.loads(stored["body"]))

    def _record(self, body: Any) -> Document:
        return {
            **_described(self._request),
            "status_code": self._status_code,
            # Stored as JSON text: the body's keys are not BSON's business.
            "body": json.dumps(body),
            "created_at": utc_now(),
        }


def _described(request: KeyedRequest) -> Document:
    return {
        "_id": request.record_id,
        "actor_id": request.actor_id,
        "route": f"{request.method} {request.path}",
        "fingerprint": request.fingerprint,
    }


def _refuse_another_request(stored: Document, request: KeyedRequest) -> None:
    if stored["fingerprint"] != request.fingerprint:
        raise Unprocessable(
            f"this {HEADER} was already used for a different request to "
            f"{request.path}; send a new key for a new request"
        )


async def respond(
    key: KeyedRequest | None,
    *,
    status_code: int,
    render: Callable[[T], BaseModel],
    call: Callable[[RecordAnswer | None], Awaitable[T]],
    replayed: Callable[[Any], Awaitable[Any]] | None = None,
) -> JSONResponse:
    """Run the use case `call(record_answer)`, answering a retried key with its first response.

    `replayed`, if given, turns the stored body (what `render` made) into the body a
    replay answers with: for an answer that is not stored whole (a secret)."""
    if key is None:
        result = await call(None)
        return JSONResponse(render(result).model_dump(mode="json"), status_code=status_code)
    recorder = Recorder(key, status_code, render)
    try:
        await call(recorder.wrap)
    except Replayed as replay:
        return await _replay(replay, replayed)
    return JSONResponse(recorder.body, status_code=status_code)


async def respond_without_body(
    key: KeyedRequest | None, *, call: Callable[[RecordAnswer | None], Awaitable[Any]]
) -> Response:
    """`respond` for a command answered 204 No Content (a removal): a retried key is
    answered 204 again, with `Idempotent-Replay`, and does not act twice."""
    no_content = status.HTTP_204_NO_CONTENT
    if key is None:
        await call(None)
        return Response(status_code=no_content)
    try:
        await call(Recorder(key, no_content, lambda _: None).wrap)
    except Replayed:
        return Response(status_code=no_content, headers={REPLAY_HEADER: "true"})
    return Response(status_code=no_content)


async def _replay(
    replay: Replayed, replayed: Callable[[Any], Awaitable[Any]] | None = None
) -> JSONResponse:
    body = await replayed(replay.body) if replayed is not None else replay.body
    return JSONResponse(body, status_code=replay.status_code, headers={REPLAY_HEADER: "true"})


async def respond_outside_transaction(
    key: KeyedRequest | None,
    db: Database,
    *,
    status_code: int,
    render: Callable[[T], BaseModel],
    call: Callable[[], Awaitable[T]],
) -> JSONResponse:
    """Run `call()`, a command whose effect is not in MongoDB, once per key: the key is
    reserved in `db` first, the answer stored once `call` returned; a retried key gets
    that answer (see `KEY_OUTSIDE_TRANSACTION_DESCRIPTION`)."""
    if key is None:
        result = await call()
        return JSONResponse(render(result).model_dump(mode="json"), status_code=status_code)
    keys = db[COLLECTION]
    try:
        reservation = await _reserve(db, key)
    except Replayed as replay:
        return await _replay(replay)
    try:
        result = await call()
    except Exception:
        # No answer to keep: the same key may act again. A reservation that cannot be
        # given back now (the database is away) is taken over after RESERVATION_KEPT.
        try:
            await keys.delete_one({"_id": key.record_id, "reservation": reservation})
        except PyMongoError as error:
            log.warning("an Idempotency-Key reservation was not given back", error=str(error))
        raise
    body = render(result).model_dump(mode="json")
    try:
        await keys.update_one(
            {"_id": key.record_id, "reservation": reservation},
            {
                "$set": {"status_code": status_code, "body": json.dumps(body)},
                "$unset": {"reserved_until": ""},
            },
        )
    except (PyMongoError, InvalidDocument) as error:
        # It acted: this answer is the client's. Only a retry after RESERVATION_KEPT
        # would act again. (InvalidDocument: an answer over MongoDB's 16 MB, such as a
        # report of thousands of replayed letters with their previews.)
        log.warning(
            "the answer to an Idempotency-Key was not stored",
            route=f"{key.method} {key.path}",
            error=str(error),
        )
    return JSONResponse(body, status_code=status_code)


async def _reserve(db: Database, request: KeyedRequest) -> str:
    """Reserve the key for this request and return the reservation's token; raise
    `Replayed` for a key answered before, 422 for a key used for another request, 409
    for a key whose first request still runs."""
    keys = db[COLLECTION]
    token = uuid.uuid4().hex
    for _ in range(3):  # each turn, someone else's record came or went meanwhile
        now = utc_now()
        reserved = {"reservation": token, "reserved_until": now + RESERVATION_KEPT}
        try:
            await keys.insert_one({**_described(request), **reserved, "created_at": now})
            return token
        except DuplicateKeyError:
            pass
        stored = await keys.find_one({"_id": request.record_id})
        if stored is None:
            continue  # expired since
        _refuse_another_request(stored, request)
        if stored.get("body") is not None:
            raise Replayed(stored["status_code"], json.loads(stored["body"]))
        if stored["reserved_until"] > now:
            break
        # The request that reserved it never finished (its process stopped): the key
        # acts again, reserved anew.
        taken = await keys.update_one(
            {"_id": request.record_id, "reservation": stored["reservation"], "body": None},
            {"$set": {**reserved, "created_at": now}},
        )
        if taken.modified_count:
            return token
    raise HTTPException(
        409,
        f"a request with this {HEADER} is still being answered; send it again in a few "
        "seconds for its answer",
        headers={"Retry-After": str(STILL_RUNNING_RETRY_AFTER_SECONDS)},
    )
