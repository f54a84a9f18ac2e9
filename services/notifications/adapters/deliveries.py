"""Deliveries in MongoDB: written by the consumer, leased and settled by the dispatcher.

A row is leased atomically (`find_one_and_update`), so several replicas never send the
same row at once. The attempt records when it begins handing the message over
(`handing_over_at`); a row whose lease ran out while `sending` is taken again, and
only if that earlier attempt had begun handing over does its log say it may have
gone out (one that died before certainly sent nothing).

None of these writes is in the consumers' transactions: the consumers only insert
rows, so the dispatcher never conflicts with them.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession

from services.notifications.domain.deliveries import (
    DeliveryChannel,
    LogEntry,
    NotificationDelivery,
    Status,
)
from services.notifications.domain.people import Frequency
from shared.storage.documents import from_document, to_document
from shared.storage.mongo import Database, Document

COLLECTION = "deliveries"
LOG_LINES_KEPT = 50  # a row failing for days keeps its latest lines


async def create_indexes(db: Database) -> None:
    await db[COLLECTION].create_indexes(
        [
            # one delivery per event, recipient and channel (and per digest period)
            IndexModel([("key", ASCENDING)], unique=True),
            IndexModel(
                [
                    ("channel", ASCENDING),
                    ("batched", ASCENDING),
                    ("status", ASCENDING),
                    ("next_attempt_at", ASCENDING),
                ]
            ),
            IndexModel(
                [
                    ("channel", ASCENDING),
                    ("batched", ASCENDING),
                    ("status", ASCENDING),
                    ("lease_until", ASCENDING),
                ]
            ),
            IndexModel(
                [
                    ("batched", ASCENDING),
                    ("frequency", ASCENDING),
                    ("status", ASCENDING),
                    ("created_at", ASCENDING),
                ]
            ),
            IndexModel([("recipient_id", ASCENDING), ("created_at", DESCENDING)]),
            IndexModel([("event_id", ASCENDING)]),
        ]
    )


@dataclass(frozen=True)
class Claimed:
    delivery: NotificationDelivery  # as leased: status sending, attempts counted
    # the previous attempt handed the message over, and its lease ran out without an
    # outcome: it may have gone out
    resumed: bool
    previous_owner: str | None


def _log_push(entries: Sequence[LogEntry]) -> Document:
    return {
        "log": {"$each": [e.model_dump(mode="python") for e in entries], "$slice": -LOG_LINES_KEPT}
    }


class Deliveries:
    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        self._collection = db[COLLECTION]
        self._session = session

    async def add(self, rows: Sequence[NotificationDelivery]) -> None:
        if rows:
            await self._collection.insert_many(
                [to_document(row, row.id) for row in rows], session=self._session
            )

    async def insert(self, row: NotificationDelivery) -> None:
        """One row; raises DuplicateKeyError if its key exists."""
        await self._collection.insert_one(to_document(row, row.id), session=self._session)

    async def get(self, delivery_id: uuid.UUID) -> NotificationDelivery | None:
        found = await self._collection.find_one({"_id": str(delivery_id)}, session=self._session)
        return None if found is None else from_document(NotificationDelivery, found)

    async def get_many(self, ids: Collection[uuid.UUID]) -> list[NotificationDelivery]:
        cursor = self._collection.find(
            {"_id": {"$in": [str(i) for i in ids]}}, session=self._session
        )
        return [from_document(NotificationDelivery, d) async for d in cursor]

    async def claim(
        self,
        channel: DeliveryChannel,
        owner: str,
        lease: timedelta,
        now: datetime,
        *,
        held_recipients: Collection[str] = (),
    ) -> Claimed | None:
        """Lease the most overdue sendable row of `channel` to `owner`, or None."""
        query: Document = {
            "channel": channel,
            "batched": False,
            "$or": [
                {"status": Status.PENDING.value, "next_attempt_at": {"$lte": now}},
                {"status": Status.SENDING.value, "lease_until": {"$lte": now}},
            ],
        }
        if held_recipients:
            query["recipient_id"] = {"$nin": list(held_recipients)}
        # a pipeline, so the doubt of an attempt that had begun handing over is kept
        # on the row: a resumed attempt that dies before handing over must pass it on
        was_handing_over = {
            "$and": [
                {"$eq": ["$status", Status.SENDING.value]},
                {"$ne": [{"$ifNull": ["$handing_over_at", None]}, None]},
            ]
        }
        before: Document | None = await self._collection.find_one_and_update(
            query,
            [
                {
                    "$set": {
                        "status": Status.SENDING.value,
                        "lease_owner": owner,
                        "lease_until": now + lease,
                        "handing_over_at": None,
                        "attempts": {"$add": ["$attempts", 1]},
                        "possible_duplicate": {
                            "$or": [{"$ifNull": ["$possible_duplicate", False]}, was_handing_over]
                        },
                    }
                }
            ],
            sort=[("next_attempt_at", ASCENDING)],
            return_document=ReturnDocument.BEFORE,
        )
        if before is None:
            return None
        previous = from_document(NotificationDelivery, before)
        resumed = previous.status is Status.SENDING and previous.handing_over_at is not None
        leased = previous.model_copy(
            update={
                "status": Status.SENDING,
                "attempts": previous.attempts + 1,
                "lease_owner": owner,
                "lease_until": now + lease,
                "handing_over_at": None,
                "possible_duplicate": previous.possible_duplicate or resumed,
            }
        )
        return Claimed(leased, resumed, previous.lease_owner if resumed else None)

    async def handing_over(self, delivery_id: uuid.UUID, owner: str, now: datetime) -> bool:
        """Record that `owner`'s attempt begins handing the message over (from now on
        the receiver may have it); False if `owner` no longer holds the lease."""
        result = await self._collection.update_one(
            {"_id": str(delivery_id), "lease_owner": owner, "status": Status.SENDING.value},
            {"$max": {"handing_over_at": now}},
            session=self._session,
        )
        return result.matched_count == 1

    async def settle(
        self, delivery_id: uuid.UUID, owner: str, changes: Document, entries: Sequence[LogEntry]
    ) -> bool:
        """Record an attempt's outcome; False if `owner` no longer holds the lease."""
        result = await self._collection.update_one(
            {"_id": str(delivery_id), "lease_owner": owner, "status": Status.SENDING.value},
            {
                "$set": {**changes, "lease_owner": None, "lease_until": None},
                "$push": _log_push(entries),
            },
            session=self._session,
        )
        return result.matched_count == 1

    async def put_back(
        self, delivery_id: uuid.UUID, owner: str, entries: Sequence[LogEntry]
    ) -> bool:
        """Return a leased row to `pending` unattempted (its endpoint was disabled
        meanwhile); False if `owner` no longer holds the lease."""
        changes: Document = {
            "status": Status.PENDING.value,
            "lease_owner": None,
            "lease_until": None,
        }
        if any(entry.outcome == "possible_duplicate" for entry in entries):
            changes["possible_duplicate"] = True
        update: Document = {"$set": changes, "$inc": {"attempts": -1}}
        if entries:
            update["$push"] = _log_push(entries)
        result = await self._collection.update_one(
            {"_id": str(delivery_id), "lease_owner": owner, "status": Status.SENDING.value},
            update,
            session=self._session,
        )
        return result.matched_count == 1

    async def settle_included(
        self, ids: Collection[uuid.UUID], changes: Document, entry: LogEntry
    ) -> None:
        """A digest's outcome is that of every step it carried."""
        await self._collection.update_many(
            {"_id": {"$in": [str(i) for i in ids]}},
            {"$set": changes, "$push": _log_push([entry])},
            session=self._session,
        )

    async def note_waiting(self, channel: DeliveryChannel, entry: LogEntry) -> int:
        """Say once in each waiting row's log why it is not sent (channel unconfigured)."""
        result = await self._collection.update_many(
            {
                "channel": channel,
                "batched": False,
                "status": Status.PENDING.value,
                "last_error": {"$ne": entry.detail},
            },
            {"$set": {"last_error": entry.detail}, "$push": _log_push([entry])},
            session=self._session,
        )
        return result.modified_count

    async def count_waiting(self, channel: DeliveryChannel) -> int:
        return await self._collection.count_documents(
            {
                "channel": channel,
                "batched": False,
                "status": {"$in": [Status.PENDING.value, Status.SENDING.value]},
            },
            session=self._session,
        )

    async def digest_groups(
        self, frequency: Frequency, before: datetime
    ) -> list[tuple[str, DeliveryChannel]]:
        """(recipient, channel) pairs with steps waiting for a `frequency` digest."""
        cursor = await self._collection.aggregate(
            [
                {"$match": self._batched_query(frequency, before)},
                {"$group": {"_id": {"recipient": "$recipient_id", "channel": "$channel"}}},
            ],
            session=self._session,
        )
        return sorted([(g["_id"]["recipient"], g["_id"]["channel"]) async for g in cursor])

    async def batched(
        self, recipient_id: str, channel: DeliveryChannel, frequency: Frequency, before: datetime
    ) -> list[NotificationDelivery]:
        query = {
            **self._batched_query(frequency, before),
            "recipient_id": recipient_id,
            "channel": channel,
        }
        cursor = self._collection.find(query, session=self._session).sort("created_at", ASCENDING)
        return [from_document(NotificationDelivery, d) async for d in cursor]

    async def mark_digested(
        self, ids: Collection[uuid.UUID], digest_id: uuid.UUID, entry: LogEntry
    ) -> None:
        await self._collection.update_many(
            {"_id": {"$in": [str(i) for i in ids]}},
            {
                "$set": {"status": Status.DIGESTED.value, "digest_id": digest_id},
                "$push": _log_push([entry]),
            },
            session=self._session,
        )

    async def of_recipient_and_event(
        self, recipient_id: str, event_id: uuid.UUID, channel: DeliveryChannel
    ) -> list[NotificationDelivery]:
        cursor = self._collection.find(
            {"recipient_id": recipient_id, "event_id": event_id, "channel": channel},
            session=self._session,
        ).sort("created_at", ASCENDING)
        return [from_document(NotificationDelivery, d) async for d in cursor]

    async def release_held(self, recipient_id: str, now: datetime) -> int:
        """Make a recipient's waiting rows due now (an endpoint was re-enabled)."""
        result = await self._collection.update_many(
            {"recipient_id": recipient_id, "status": Status.PENDING.value},
            {"$set": {"next_attempt_at": now}},
            session=self._session,
        )
        return result.modified_count

    async def cancel_waiting(self, recipient_id: str, entry: LogEntry) -> int:
        result = await self._collection.update_many(
            {"recipient_id": recipient_id, "status": Status.PENDING.value},
            {
                "$set": {"status": Status.CANCELLED.value, "last_error": entry.detail},
                "$push": _log_push([entry]),
            },
            session=self._session,
        )
        return result.modified_count

    async def retry_now(self, delivery_id: uuid.UUID, entry: LogEntry, now: datetime) -> bool:
        """A failed row goes back to pending, due now (an operator asked)."""
        result = await self._collection.update_one(
            {"_id": str(delivery_id), "status": Status.FAILED.value},
            {
                "$set": {"status": Status.PENDING.value, "next_attempt_at": now},
                "$push": _log_push([entry]),
            },
            session=self._session,
        )
        return result.modified_count == 1

    async def search(
        self, filters: Document, *, skip: int, limit: int
    ) -> tuple[list[NotificationDelivery], int]:
        """One page of the rows matching `filters`, newest first, and how many match."""
        cursor = (
            self._collection.find(filters, session=self._session)
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .skip(skip)
            .limit(limit)
        )
        rows = [from_document(NotificationDelivery, d) async for d in cursor]
        return rows, await self._collection.count_documents(filters, session=self._session)

    @staticmethod
    def _batched_query(frequency: Frequency, before: datetime) -> dict[str, Any]:
        # "created before the period ended", not "within it": a step committed late,
        # after its period's digest was built, goes out with the next one.
        return {
            "batched": True,
            "frequency": frequency.value,
            "status": Status.PENDING.value,
            "created_at": {"$lt": before},
        }
