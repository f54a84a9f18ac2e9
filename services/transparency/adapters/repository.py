"""The read model in this service's own MongoDB database: the public facts of each
event, each proposal's view derived from them, and the ceilings set."""

from __future__ import annotations

import uuid
from datetime import datetime

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession

from services.transparency.domain.facts import Allocation, Fact
from services.transparency.domain.proposals import ProposalView
from shared.storage.documents import from_document, to_document
from shared.storage.mongo import Database

FACTS = "facts"
PROPOSALS = "proposals"
ALLOCATIONS = "allocations"
# What a rebuild drops and fills again.
READ_MODEL = (FACTS, PROPOSALS, ALLOCATIONS)


async def create_indexes(db: Database) -> None:
    await db[FACTS].create_indexes([IndexModel([("proposal_id", ASCENDING)])])
    await db[PROPOSALS].create_indexes(
        [
            IndexModel([("public", ASCENDING), ("year", ASCENDING), ("area.kecamatan", ASCENDING)]),
            IndexModel([("updated_at", DESCENDING)]),
        ]
    )
    await db[ALLOCATIONS].create_indexes(
        [
            IndexModel([("fiscal_year", ASCENDING)]),
            IndexModel([("recorded_at", DESCENDING)]),
        ]
    )


class ReadModel:
    """The three collections, inside a transaction (`session`) or outside it (reads)."""

    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        self._db = db
        self._session = session

    # ---- writes (the handlers, in the consumer's transaction) -----------------------------

    async def add_fact(self, fact: Fact) -> None:
        """Keep the fact once, whatever how often it comes."""
        await self._db[FACTS].update_one(
            {"_id": str(fact.event_id)},
            {"$setOnInsert": to_document(fact, fact.event_id)},
            upsert=True,
            session=self._session,
        )

    async def facts_of(self, proposal_id: uuid.UUID) -> list[Fact]:
        found = self._db[FACTS].find({"proposal_id": proposal_id}, session=self._session)
        return [from_document(Fact, document) async for document in found]

    async def save_view(self, view: ProposalView, now: datetime) -> None:
        document = to_document(view, view.proposal_id)
        document["updated_at"] = now
        await self._db[PROPOSALS].replace_one(
            {"_id": document["_id"]}, document, upsert=True, session=self._session
        )

    async def add_allocation(self, allocation: Allocation, now: datetime) -> None:
        document = to_document(allocation, allocation.event_id)
        document["recorded_at"] = now
        await self._db[ALLOCATIONS].update_one(
            {"_id": document["_id"]}, {"$setOnInsert": document}, upsert=True, session=self._session
        )

    async def clear(self) -> None:
        """Drop every document of the read model (the collections and indexes stay)."""
        for name in READ_MODEL:
            await self._db[name].delete_many({}, session=self._session)

    # ---- reads (the page) -----------------------------------------------------------------

    async def public_views(
        self, year: int | None = None, kecamatan: str | None = None
    ) -> list[ProposalView]:
        wanted: dict[str, object] = {"public": True}
        if year is not None:
            wanted["year"] = year
        if kecamatan is not None:
            wanted["area.kecamatan"] = kecamatan
        found = self._db[PROPOSALS].find(wanted, {"updated_at": 0}, session=self._session)
        views = [from_document(ProposalView, document) async for document in found]
        return sorted(views, key=lambda view: (view.last_step_at, str(view.proposal_id)))

    async def public_view(self, proposal_id: uuid.UUID) -> ProposalView | None:
        found = await self._db[PROPOSALS].find_one(
            {"_id": str(proposal_id), "public": True}, {"updated_at": 0}, session=self._session
        )
        return None if found is None else from_document(ProposalView, found)

    async def allocations(self, year: int) -> list[Allocation]:
        found = self._db[ALLOCATIONS].find(
            {"fiscal_year": year}, {"recorded_at": 0}, session=self._session
        )
        return [from_document(Allocation, document) async for document in found]

    async def years(self) -> list[int]:
        """The years any public proposal or ceiling belongs to, newest first."""
        public = await self._db[PROPOSALS].distinct("year", {"public": True}, session=self._session)
        set_for = await self._db[ALLOCATIONS].distinct("fiscal_year", session=self._session)
        return sorted({int(year) for year in [*public, *set_for]}, reverse=True)

    async def last_change(self) -> str:
        """A token that changes whenever the read model does (the live updates watch it)."""
        tokens = []
        for name, field in ((PROPOSALS, "updated_at"), (ALLOCATIONS, "recorded_at")):
            latest = await self._db[name].find_one(
                {}, {field: 1}, sort=[(field, DESCENDING)], session=self._session
            )
            tokens.append(f"{latest[field].isoformat()}:{latest['_id']}" if latest else "-")
        count = await self._db[FACTS].estimated_document_count()
        return "|".join([*tokens, str(count)])
