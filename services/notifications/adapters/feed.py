"""The in-app feed in MongoDB: one document per recipient, event and channel."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession

from shared.clock import Timestamp, utc_now
from shared.storage.documents import from_document, to_document
from shared.storage.mongo import Database

COLLECTION = "feed"


class FeedItem(BaseModel):
    id: uuid.UUID
    recipient_id: str
    channel: str
    event_id: uuid.UUID
    event_type: str
    proposal_id: uuid.UUID | None
    title: str
    body: str
    created_at: Timestamp
    read_at: Timestamp | None = None


async def create_indexes(db: Database) -> None:
    await db[COLLECTION].create_indexes(
        [
            # one notification per recipient, event and channel, whatever is redelivered
            IndexModel(
                [("event_id", ASCENDING), ("recipient_id", ASCENDING), ("channel", ASCENDING)],
                unique=True,
            ),
            # the feed's order, newest first; `_id` settles ties so pages do not overlap
            IndexModel(
                [("recipient_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)]
            ),
        ]
    )


class Feed:
    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        self._collection = db[COLLECTION]
        self._session = session

    async def add_all(self, items: Sequence[FeedItem]) -> None:
        if items:
            documents = [to_document(item, item.id) for item in items]
            await self._collection.insert_many(documents, session=self._session)

    async def of(
        self, recipient_id: str, *, proposal_id: uuid.UUID | None = None, skip: int, limit: int
    ) -> tuple[list[FeedItem], int]:
        """One page of `recipient_id`'s feed, newest first, and how many items it holds."""
        query: dict[str, Any] = {"recipient_id": recipient_id}
        if proposal_id is not None:
            query["proposal_id"] = proposal_id
        total = await self._collection.count_documents(query, session=self._session)
        cursor = self._collection.find(query, session=self._session).sort(
            [("created_at", DESCENDING), ("_id", DESCENDING)]
        )
        items = [from_document(FeedItem, d) async for d in cursor.skip(skip).limit(limit)]
        return items, total

    async def unread_count(self, recipient_id: str) -> int:
        return await self._collection.count_documents(
            {"recipient_id": recipient_id, "read_at": None}, session=self._session
        )

    async def mark_read(self, recipient_id: str, item_id: uuid.UUID) -> bool:
        result = await self._collection.update_one(
            {"_id": str(item_id), "recipient_id": recipient_id, "read_at": None},
            {"$set": {"read_at": utc_now()}},
            session=self._session,
        )
        return result.modified_count == 1
