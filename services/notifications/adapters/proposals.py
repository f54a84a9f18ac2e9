"""What this service knows of each proposal from its events: enough to name it in a
message and to let people follow it. Not the proposals service's data: only what the
events carried."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession

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
    first_seen_at: datetime


class KnownProposals:
    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        self._collection = db[COLLECTION]
        self._session = session

    async def get(self, proposal_id: uuid.UUID) -> KnownProposal | None:
        found = await self._collection.find_one({"_id": str(proposal_id)}, session=self._session)
        return None if found is None else from_document(KnownProposal, found)

    async def remember(self, data: ProposalEvent, now: datetime) -> KnownProposal:
        """Record the proposal on first sight, and its title once an event carries it.

        Writes only when something is new: events of one proposal arrive on several
        queues at once, and needless writes to one document conflict.
        """
        title: str | None = getattr(data, "title", None)
        known = await self.get(data.proposal_id)
        if known is not None and (title is None or title == known.title):
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
        found = await self.get(data.proposal_id)
        assert found is not None
        return found
