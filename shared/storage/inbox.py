"""Idempotent inbox: a consumer records each event it handled, in the same
transaction as the effect, so a redelivered or duplicated event has no second effect."""

from __future__ import annotations

from datetime import timedelta

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from shared.clock import utc_now
from shared.contracts import Envelope
from shared.storage.mongo import Database

COLLECTION = "inbox"
# Far longer than any redelivery or outbox re-publish can take.
RECORDS_KEPT = timedelta(days=30)


class AlreadyHandled(Exception):
    """The event was handled before by this handler."""


async def create_indexes(db: Database) -> None:
    # `_id` is unique already; it is "<handler>:<event_id>".
    await db[COLLECTION].create_indexes(
        [
            IndexModel(
                [("handled_at", ASCENDING)], expireAfterSeconds=int(RECORDS_KEPT.total_seconds())
            )
        ]
    )


async def record(
    db: Database, session: AsyncClientSession, handler: str, envelope: Envelope
) -> None:
    """Record the event for `handler` in the transaction, or raise AlreadyHandled."""
    try:
        await db[COLLECTION].insert_one(
            {
                "_id": f"{handler}:{envelope.event_id}",
                "handler": handler,
                "event_id": str(envelope.event_id),
                "type": envelope.type,
                "correlation_id": envelope.correlation_id,
                "handled_at": utc_now(),
            },
            session=session,
        )
    except DuplicateKeyError as error:
        raise AlreadyHandled(f"{envelope.type} {envelope.event_id} already handled") from error
