"""Where the answers to `Idempotency-Key`s are kept (`shared.web.idempotency` writes and
reads them): one collection every service has, its records expiring after a day."""

from __future__ import annotations

from datetime import timedelta

from pymongo import ASCENDING, IndexModel

from shared.storage.mongo import Database

COLLECTION = "idempotency_keys"
# Long enough for any client's retries (a phone back in coverage the next morning
# sends a new request anyway); the TTL monitor removes keys within a minute after.
KEYS_KEPT = timedelta(hours=24)


async def create_indexes(db: Database) -> None:
    await db[COLLECTION].create_indexes(
        [IndexModel([("created_at", ASCENDING)], expireAfterSeconds=int(KEYS_KEPT.total_seconds()))]
    )
