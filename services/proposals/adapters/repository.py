"""Proposals in MongoDB, read and written inside the unit of work's transaction."""

from __future__ import annotations

import uuid

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession

from services.proposals.domain.model import Proposal
from shared.errors import Conflict, NotFound
from shared.storage.documents import from_document, to_document
from shared.storage.mongo import Database, Document

COLLECTION = "proposals"


async def create_indexes(db: Database) -> None:
    await db[COLLECTION].create_indexes(
        [
            IndexModel(
                [
                    ("draft.area.kecamatan", ASCENDING),
                    ("state", ASCENDING),
                    ("created_at", DESCENDING),
                ]
            ),
            IndexModel([("proposer_id", ASCENDING)]),
        ]
    )


class ProposalRepository:
    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        self._collection = db[COLLECTION]
        self._session = session

    async def get(self, proposal_id: uuid.UUID) -> Proposal:
        document = await self._collection.find_one({"_id": str(proposal_id)}, session=self._session)
        if document is None:
            raise NotFound(f"no proposal {proposal_id}")
        return from_document(Proposal, document)

    async def add(self, proposal: Proposal) -> None:
        await self._collection.insert_one(to_document(proposal, proposal.id), session=self._session)

    async def save(self, proposal: Proposal) -> None:
        """Write back a loaded proposal; refuses if someone saved it in between."""
        expected = proposal.revision
        proposal.revision = expected + 1
        result = await self._collection.replace_one(
            {"_id": str(proposal.id), "revision": expected},
            to_document(proposal, proposal.id),
            session=self._session,
        )
        if result.matched_count != 1:
            raise Conflict(f"proposal {proposal.id} changed meanwhile; reload and try again")

    async def list(
        self, filters: Document, *, skip: int = 0, limit: int = 50
    ) -> tuple[list[Proposal], int]:
        total = await self._collection.count_documents(filters, session=self._session)
        cursor = (
            self._collection.find(filters, session=self._session)
            .sort("created_at", DESCENDING)
            .skip(skip)
            .limit(limit)
        )
        return [from_document(Proposal, d) async for d in cursor], total
