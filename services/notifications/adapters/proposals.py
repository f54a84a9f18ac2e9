"""What this service knows of each proposal from its events: enough to name it in a
message and to let people follow it. Not the proposals service's data: only what the
events carried."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel
from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession

from shared.clock import Timestamp
from shared.contracts.events import ProposalStep
from shared.contracts.publicity import public_after
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
    # the latest step heard of (by when it happened) and whether it left the proposal
    # public (None: recorded before events stated it)
    last_event_type: str | None = None
    last_event_at: Timestamp | None = None
    public: bool | None = None

    @property
    def published(self) -> bool:
        return public_after(self.last_event_type, self.public)


class KnownProposals:
    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        self._collection = db[COLLECTION]
        self._session = session

    async def get(self, proposal_id: uuid.UUID) -> KnownProposal | None:
        found = await self._collection.find_one({"_id": str(proposal_id)}, session=self._session)
        return None if found is None else from_document(KnownProposal, found)

    async def remember(
        self, data: ProposalStep, event_type: str, occurred_at: datetime, now: datetime
    ) -> KnownProposal:
        """Record the proposal on first sight, its title once an event carries it, and
        its latest step (events may arrive out of order: the latest by `occurred_at`).

        One atomic upsert whose outcome does not depend on the order events arrive in
        (the later step wins, the first sighting stays): so it is written outside the
        consumer's transaction (build this without a session). Every step of a
        proposal touches this one document and they arrive on several queues at once;
        inside the transactions they would conflict and abort one another, and a killed
        consumer's open transaction would hold the document until it timed out. A
        replayed or duplicate event writes what is there already.
        """
        title: str | None = getattr(data, "title", None)
        is_later = {
            "$or": [
                {"$eq": [{"$ifNull": ["$last_event_at", None]}, None]},
                {"$lt": ["$last_event_at", {"$literal": occurred_at}]},
            ]
        }

        def first(value: object, field: str) -> Document:
            return {"$ifNull": [f"${field}", {"$literal": value}]}

        def if_later(value: object, field: str) -> Document:
            return {"$cond": [is_later, {"$literal": value}, f"${field}"]}

        fields: Document = {
            "proposal_id": first(data.proposal_id, "proposal_id"),
            "area": first(data.area.model_dump(), "area"),
            "proposer_id": first(data.proposer_id, "proposer_id"),
            "first_seen_at": first(now, "first_seen_at"),
            "last_event_type": if_later(event_type, "last_event_type"),
            "last_event_at": if_later(occurred_at, "last_event_at"),
            "public": if_later(data.public, "public"),
            # the title of the latest step that carried one (or the first heard of)
            "title": (
                {"$ifNull": ["$title", None]}
                if not title
                else {
                    "$cond": [
                        {"$or": [{"$eq": [{"$ifNull": ["$title", None]}, None]}, is_later]},
                        {"$literal": title},
                        "$title",
                    ]
                }
            ),
        }
        found: Document | None = await self._collection.find_one_and_update(
            {"_id": str(data.proposal_id)},
            [{"$set": fields}],
            upsert=True,
            return_document=ReturnDocument.AFTER,
            session=self._session,
        )
        assert found is not None  # an upsert returning the document after it
        return from_document(KnownProposal, found)
