"""Transactional outbox: events are written with the state change that causes them.

A relay (see `shared.messaging.relay`) publishes pending rows with publisher
confirms and marks them sent. Several relays may run (one per replica): rows are
leased with a conditional update, so a row is published by one relay at a time. The
lease is short and renewed (`renew`) while its relay publishes: a relay that dies
mid-publish stops renewing, its lease lapses within seconds and another relay
publishes the rows again — the consumers' inbox makes a second copy harmless.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession

from shared.clock import utc_now
from shared.contracts import Envelope
from shared.storage.mongo import Database, Document
from shared.tracing import TRACEPARENT, current_traceparent

COLLECTION = "outbox"
PENDING = "pending"
SENT = "sent"
SENT_ROWS_KEPT = timedelta(days=7)


async def create_indexes(db: Database) -> None:
    await db[COLLECTION].create_indexes(
        [
            IndexModel([("status", ASCENDING), ("lease_until", ASCENDING), ("seq", ASCENDING)]),
            IndexModel(
                [("sent_at", ASCENDING)], expireAfterSeconds=int(SENT_ROWS_KEPT.total_seconds())
            ),
        ]
    )


class _Sequence:
    """Instants that never repeat in this process, at MongoDB's millisecond precision.

    The relay publishes in `seq` order. Two events of one transaction (a reservation and
    the shortage it leaves) are often written within a millisecond: with the same `seq`
    they would go out in either order. A later one takes the next millisecond instead;
    `seq` runs ahead of the clock only while a process writes more than one event a
    millisecond, and order across processes was never promised.
    """

    def __init__(self) -> None:
        self._last = datetime.min.replace(tzinfo=UTC)

    def next(self, now: datetime) -> datetime:
        self._last = max(now, self._last + timedelta(milliseconds=1))
        return self._last


_SEQUENCE = _Sequence()


async def add_all(db: Database, session: AsyncClientSession, envelopes: Sequence[Envelope]) -> None:
    """Write events to the outbox inside the caller's transaction, in this order."""
    if not envelopes:
        return
    now = utc_now()
    traceparent = current_traceparent()
    rows = [_row(envelope, now, traceparent) for envelope in envelopes]
    if len(rows) == 1:
        await db[COLLECTION].insert_one(rows[0], session=session)
    else:
        await db[COLLECTION].insert_many(rows, ordered=True, session=session)


def _row(envelope: Envelope, now: datetime, traceparent: str | None) -> Document:
    return {
        "_id": str(envelope.event_id),
        "type": envelope.type,
        "body": envelope.model_dump_json(),
        "correlation_id": envelope.correlation_id,
        # the span that wrote it: the relay's publish continues its trace
        TRACEPARENT: traceparent,
        "status": PENDING,
        "seq": _SEQUENCE.next(now),
        "lease_until": now,
        "lease_owner": None,
        "attempts": 0,
        "last_error": None,
        "sent_at": None,
    }


async def claim(db: Database, owner: str, lease: timedelta, limit: int) -> list[Document]:
    """Lease up to `limit` of the oldest publishable rows to `owner`, oldest first.

    Two round trips for a whole batch: read the oldest free rows, lease those still free
    (another relay may take some in between: the filter re-checks). When every one was
    leased — the usual case — the rows read are the rows won. Otherwise a third reads
    back what this very claim won (a fresh token, so an older lease of ours is not mixed
    in; looked up by `_id`, so the read uses the primary key's index). The token is the
    rows' `lease_owner`: `renew` and `release_after_failure` act only on rows that
    still carry it.
    """
    now = utc_now()
    free = {"status": PENDING, "lease_until": {"$lte": now}}
    cursor = db[COLLECTION].find(free).sort("seq", ASCENDING).limit(limit)
    candidates = [row async for row in cursor]
    if not candidates:
        return []
    ids = [row["_id"] for row in candidates]
    token = f"{owner}:{uuid.uuid4()}"
    until = now + lease
    leased = await db[COLLECTION].update_many(
        {"_id": {"$in": ids}, **free},
        {"$set": {"lease_until": until, "lease_owner": token}, "$inc": {"attempts": 1}},
    )
    if leased.modified_count == len(candidates):
        # (A row another relay claimed, failed and released meanwhile, and which came
        # free again, would count one attempt more than this says: it only paces retries.)
        won = {"lease_until": until, "lease_owner": token}
        return [{**row, **won, "attempts": row["attempts"] + 1} for row in candidates]
    read_back = db[COLLECTION].find({"_id": {"$in": ids}, "lease_owner": token})
    return [row async for row in read_back.sort("seq", ASCENDING)]


async def renew(db: Database, event_ids: list[str], lease_owner: str, lease: timedelta) -> int:
    """Extend the lease on those of `event_ids` still pending and still leased to
    `lease_owner`; return how many that is (fewer: another relay took some over)."""
    if not event_ids:
        return 0
    result = await db[COLLECTION].update_many(
        {"_id": {"$in": event_ids}, "lease_owner": lease_owner, "status": PENDING},
        {"$set": {"lease_until": utc_now() + lease}},
    )
    return result.matched_count


async def mark_sent(db: Database, event_ids: list[str]) -> None:
    if event_ids:
        await db[COLLECTION].update_many(
            {"_id": {"$in": event_ids}, "status": PENDING},
            {"$set": {"status": SENT, "sent_at": utc_now(), "last_error": None}},
        )


async def release_after_failure(
    db: Database, event_id: str, lease_owner: str, error: str, retry_in: timedelta
) -> None:
    await db[COLLECTION].update_one(
        {"_id": event_id, "lease_owner": lease_owner},
        {"$set": {"lease_until": utc_now() + retry_in, "last_error": error}},
    )


async def count_pending(db: Database) -> int:
    return await db[COLLECTION].count_documents({"status": PENDING})
