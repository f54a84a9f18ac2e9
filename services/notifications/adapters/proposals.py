"""What this service knows of each proposal from its events: enough to name it in a
message and to let people follow it. Not the proposals service's data: only what the
events carried."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession

from services.notifications.domain.proposals import published_after
from shared.clock import Timestamp
from shared.contracts.events import ProposalEvent
from shared.contracts.types import Area
from shared.storage.documents import from_document
from shared.storage.mongo import Database, Document

COLLECTION = "known_proposals"


async def create_indexes(db: Database) -> None:
    await db[COLLECTION].create_indexes([IndexModel([("proposer_id", ASCENDING)])])


class KnownProposal(BaseModel):
    proposal_id: uuid.UUID
    area: Area
    proposer_id: str
    title: str | None = None
    first_seen_at: Timestamp
    # the latest step heard of (by when it happened): whether the proposal is public
    last_event_type: str | None = None
    last_event_at: Timestamp | None = None

    @property
    def published(self) -> bool:
        return published_after(self.last_event_type)


class KnownProposals:
    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        self._collection = db[COLLECTION]
        self._session = session

    async def get(self, proposal_id: uuid.UUID) -> KnownProposal | None:
        found = await self._collection.find_one({"_id": str(proposal_id)}, session=self._session)
        return None if found is None else from_document(KnownProposal, found)

    async def remember(
        self, data: ProposalEvent, event_type: str, occurred_at: datetime, now: datetime
    ) -> KnownProposal:
        """Record the proposal on first sight, its title once an event carries it, and
        its latest step (events may arrive out of order: the latest by `occurred_at`).

        Writes only when something is new: events of one proposal arrive on several
        queues at once, and needless writes to one document conflict.
        """
        title: str | None = getattr(data, "title", None)
        known = await self.get(data.proposal_id)
        later = known is None or known.last_event_at is None or known.last_event_at < occurred_at
        if known is not None and (title is None or title == known.title) and not later:
            return known
        changes: Document = {"title": title} if title else {}
        await self._collection.update_one(
            {"_id": str(data.proposal_id)},
            {
                "$setOnInsert": {
                    "proposal_id": data.proposal_id,
                    "area": data.area.model_dump(),
                    "proposer_id": data.proposer_id,
                    "first_seen_at": now,
                    **({} if title else {"title": None}),
                },
                **({"$set": changes} if changes else {}),
            },
            upsert=True,
            session=self._session,
        )
        if later:
            await self._collection.update_one(
                {
                    "_id": str(data.proposal_id),
                    "$or": [{"last_event_at": None}, {"last_event_at": {"$lt": occurred_at}}],
                },
                {"$set": {"last_event_type": event_type, "last_event_at": occurred_at}},
                session=self._session,
            )
        found = await self.get(data.proposal_id)
        assert found is not None
        return found
