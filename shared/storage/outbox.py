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
from datetime import timedelta

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


async def add(db: Database, session: AsyncClientSession, envelope: Envelope) -> None:
    """Write an event to the outbox inside the caller's transaction."""
    now = utc_now()
    row: Document = {
        "_id": str(envelope.event_id),
        "type": envelope.type,
        "body": envelope.model_dump_json(),
        "correlation_id": envelope.correlation_id,
        # the span that wrote it: the relay's publish continues its trace
        TRACEPARENT: current_traceparent(),
        "status": PENDING,
        "seq": now,
        "lease_until": now,
        "lease_owner": None,
        "attempts": 0,
        "last_error": None,
        "sent_at": None,
    }
    await db[COLLECTION].insert_one(row, session=session)


async def claim(db: Database, owner: str, lease: timedelta, limit: int) -> list[Document]:
    """Lease up to `limit` of the oldest publishable rows to `owner`, oldest first.

    Three round trips for a whole batch: pick candidates, lease those still free
    (another relay may take some in between: the filter re-checks), read back what
    this very claim won (a fresh token, so an older lease of ours is not mixed in;
    looked up by `_id`, so the read uses the primary key's index). The token is the
    rows' `lease_owner`: `renew` and `release_after_failure` act only on rows that
    still carry it.
    """
    now = utc_now()
    free = {"status": PENDING, "lease_until": {"$lte": now}}
    candidates = [
        row["_id"]
        async for row in db[COLLECTION].find(free, {"_id": 1}).sort("seq", ASCENDING).limit(limit)
    ]
    if not candidates:
        return []
    token = f"{owner}:{uuid.uuid4()}"
    await db[COLLECTION].update_many(
        {"_id": {"$in": candidates}, **free},
        {"$set": {"lease_until": now + lease, "lease_owner": token}, "$inc": {"attempts": 1}},
    )
    cursor = db[COLLECTION].find({"_id": {"$in": candidates}, "lease_owner": token})
    return [row async for row in cursor.sort("seq", ASCENDING)]


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
