"""Unit of work: one MongoDB transaction holding a state change and the events it causes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from opentelemetry.trace import Tracer
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import ExecutionTimeout
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from shared.contracts import Envelope, new_envelope
from shared.contracts.types import Contract
from shared.identity import Actor
from shared.storage import audit as audit_trail
from shared.storage import outbox
from shared.storage.mongo import Database, Document
from shared.tracing import NO_TRACER, span

T = TypeVar("T")
Work = Callable[["UnitOfWork"], Awaitable[T]]


class RecordAnswer(Protocol):
    """Wraps a use case's work so that it also stores (or replays) the answer to an
    Idempotency-Key, in the same transaction (`shared.web.idempotency`)."""

    def __call__(self, work: Work[T]) -> Work[T]: ...


@dataclass
class UnitOfWork:
    """What a use case sees: the service's database, the transaction, `emit` and `audit`."""

    db: Database
    session: AsyncClientSession
    producer: str
    correlation_id: str
    causation_id: str | None
    # 1 for the first run of the transaction, 2 after a write conflict or transient error…
    attempt: int = 1
    emitted: list[Envelope] = field(default_factory=list)
    committed_callbacks: list[Callable[[], None]] = field(default_factory=list)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` once this transaction has committed (never if it aborts):
        to wake a worker that sends what it wrote, rather than wait for its poll."""
        self.committed_callbacks.append(callback)

    async def emit(self, data: Contract) -> Envelope:
        """Queue an event in the outbox; it is published only if the transaction commits."""
        (envelope,) = await self.emit_all([data])
        return envelope

    async def emit_all(self, events: Sequence[Contract]) -> list[Envelope]:
        """Queue several events, in this order, in one round trip to MongoDB."""
        envelopes = [
            new_envelope(
                data,
                producer=self.producer,
                correlation_id=self.correlation_id,
                causation_id=self.causation_id,
            )
            for data in events
        ]
        await outbox.add_all(self.db, self.session, envelopes)
        self.emitted.extend(envelopes)
        return envelopes

    async def audit(
        self,
        actor: Actor,
        action: str,
        target_kind: str,
        target_id: object,
        *,
        proposal_id: uuid.UUID | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> audit_trail.AuditRecord:
        """Append an officer's action to the audit trail; it commits with the action."""
        record = audit_trail.AuditRecord.of(
            actor,
            action,
            target_kind,
            target_id,
            service=self.producer,
            correlation_id=self.correlation_id,
            proposal_id=proposal_id,
            details=details,
        )
        await audit_trail.append(self.db, self.session, record)
        return record


def out_of_time(limit_seconds: float, aborted: int) -> ExecutionTimeout:
    """A transaction retried past its time limit: every attempt so far was aborted, so
    nothing of it committed. A timeout, which callers take as an outage (503; the event
    back to its queue).

    The limit is checked before each retry, not by PyMongo's `timeout()` around the
    whole transaction: under that, a service cut off from MongoDB and the broker left
    its outbox relay stuck after the network healed (tests/faults/test_partitions.py)."""
    message = (
        f"the transaction did not commit within {limit_seconds:g} s "
        f"({aborted} attempts aborted by write conflicts or transient errors)"
    )
    return ExecutionTimeout(message, 50, {"ok": 0, "errmsg": message, "code": 50})


class Transactions:
    """Runs use cases in MongoDB transactions, retried on transient errors."""

    def __init__(
        self,
        client: AsyncMongoClient[Document],
        db: Database,
        producer: str,
        after_emitting: Callable[[], None] = lambda: None,
        tracer: Tracer = NO_TRACER,
        time_limit_seconds: float = 10.0,
    ) -> None:
        self._client = client
        self._time_limit_seconds = time_limit_seconds
        self._tracer = tracer
        self._db = db
        self._producer = producer
        # after a commit that emitted events: the relay publishes them at once
        self._after_emitting = after_emitting

    async def run(
        self,
        work: Work[T],
        *,
        correlation_id: str,
        causation_id: str | None = None,
        record_answer: RecordAnswer | None = None,
    ) -> T:
        """Run `work` in one transaction (again after a transient error); with
        `record_answer`, the answer to the request's Idempotency-Key is stored (or the
        first one replayed) in the same transaction."""
        if record_answer is not None:
            work = record_answer(work)
        attempts = 0
        last: UnitOfWork | None = None  # with_transaction's last attempt is the one committed
        give_up_at = time.monotonic() + self._time_limit_seconds

        async def attempt(session: AsyncClientSession) -> T:
            nonlocal attempts, last
            attempts += 1
            if attempts > 1:  # a write conflict or a transient error: where time goes
                transaction.add_event("transaction retried", {"attempt": attempts})
                if time.monotonic() > give_up_at:
                    raise out_of_time(self._time_limit_seconds, attempts - 1)
            # A fresh unit per attempt: with_transaction may call us again after a
            # transient error, and nothing of the failed attempt may leak.
            last = UnitOfWork(
                self._db, session, self._producer, correlation_id, causation_id, attempts
            )
            return await work(last)

        # The outbox rows written inside keep this span as their parent (traceparent).
        with span(
            self._tracer,
            "transaction",
            attributes={"db.system": "mongodb", "berdaya.work": getattr(work, "__qualname__", "")},
        ) as transaction:
            async with self._client.start_session() as session:
                result = await session.with_transaction(
                    attempt,
                    read_concern=ReadConcern("snapshot"),
                    write_concern=WriteConcern("majority"),
                )
            transaction.set_attribute("berdaya.transaction.attempts", attempts)
        if last is not None:
            if last.emitted:
                self._after_emitting()
            for callback in last.committed_callbacks:
                callback()
        return result
