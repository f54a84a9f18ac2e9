"""Proposals in MongoDB, read and written inside the unit of work's transaction."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession

from services.proposals.domain.lifecycle import ACTIVE_STATES, State
from services.proposals.domain.model import Proposal
from services.proposals.domain.reads import AreaFilter, StateFigures
from shared.contracts.types import Area, WorkType
from shared.errors import Conflict, NotFound
from shared.storage.documents import from_document, to_document
from shared.storage.mongo import Database, Document

COLLECTION = "proposals"

# The key a proposal's document keeps each field of its draft under, by the domain draft's
# field name. The same names today; renaming a field of the domain's draft changes its
# name here and keeps the key, so the documents written before are read as they are
# and the queries below (`draft.area.kecamatan`, …) stay right: no migration.
DRAFT_KEYS: Final[dict[str, str]] = {
    "title": "title",
    "area": "area",
    "work_type": "work_type",
    "dimensions": "dimensions",
    "concrete_grade": "concrete_grade",
    "location": "location",
    "problem": "problem",
    "households_served": "households_served",
    "estimated_cost_idr": "estimated_cost_idr",
    "swadaya": "swadaya",
    "attachments": "attachments",
}
_DRAFT_FIELDS: Final = {key: name for name, key in DRAFT_KEYS.items()}


def document_of(proposal: Proposal) -> Document:
    """The document a proposal is stored as."""
    document = to_document(proposal, proposal.id)
    document["draft"] = {DRAFT_KEYS[name]: value for name, value in document["draft"].items()}
    return document


def proposal_of(document: Document) -> Proposal:
    """The proposal a stored document holds. A key the draft does not map is passed on
    as it is, for the domain's draft to refuse (it takes no unknown field)."""
    draft = {_DRAFT_FIELDS.get(key, key): value for key, value in document["draft"].items()}
    return from_document(Proposal, {**document, "draft": draft})


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
            # the duplicate check and the RT / kelurahan lists
            IndexModel(
                [
                    ("draft.area.kecamatan", ASCENDING),
                    ("draft.area.kelurahan", ASCENDING),
                    ("draft.area.rt", ASCENDING),
                    ("draft.work_type", ASCENDING),
                    ("state", ASCENDING),
                ]
            ),
            # the per-kecamatan totals and the yearly lists
            IndexModel([("programme_year", ASCENDING), ("draft.area.kecamatan", ASCENDING)]),
            IndexModel([("state", ASCENDING), ("created_at", DESCENDING)]),
            # the stuck-flows view
            IndexModel([("state", ASCENDING), ("last_progress_at", ASCENDING)]),
        ]
    )


@dataclass(frozen=True)
class ProposalQuery:
    """What a list asks for; every field narrows it."""

    area: AreaFilter = field(default_factory=AreaFilter)
    states: Collection[State] | None = None
    year: int | None = None
    work_type: WorkType | None = None

    def to_filter(self) -> Document:
        found: Document = {}
        for level in ("kecamatan", "kelurahan", "rt"):
            value = getattr(self.area, level)
            if value is not None:
                found[f"draft.area.{level}"] = value
        if self.states is not None:
            found["state"] = {"$in": sorted(s.value for s in self.states)}
        if self.year is not None:
            found["programme_year"] = self.year
        if self.work_type is not None:
            found["draft.work_type"] = self.work_type
        return found


class ProposalRepository:
    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        self._collection = db[COLLECTION]
        self._session = session

    async def get(self, proposal_id: uuid.UUID) -> Proposal:
        document = await self._collection.find_one({"_id": str(proposal_id)}, session=self._session)
        if document is None:
            raise NotFound(f"no proposal {proposal_id}")
        return proposal_of(document)

    async def add(self, proposal: Proposal) -> None:
        await self._collection.insert_one(document_of(proposal), session=self._session)

    async def save(self, proposal: Proposal) -> None:
        """Write back a loaded proposal; refuses if someone saved it in between."""
        expected = proposal.revision
        proposal.revision = expected + 1
        result = await self._collection.replace_one(
            {"_id": str(proposal.id), "revision": expected},
            document_of(proposal),
            session=self._session,
        )
        if result.matched_count != 1:
            raise Conflict(f"proposal {proposal.id} changed meanwhile; reload and try again")

    async def active_like(self, area: Area, work_type: WorkType) -> list[Proposal]:
        """Active proposals of the same RT and work type: candidates for duplicates."""
        query = ProposalQuery(
            area=AreaFilter(**area.model_dump()), states=ACTIVE_STATES, work_type=work_type
        )
        cursor = self._collection.find(query.to_filter(), session=self._session).limit(500)
        return [proposal_of(d) async for d in cursor]

    async def stream(self, query: ProposalQuery) -> AsyncIterator[Proposal]:
        """Every matching proposal, oldest first (for exports)."""
        cursor = self._collection.find(query.to_filter(), session=self._session).sort(
            "created_at", ASCENDING
        )
        async for document in cursor:
            yield proposal_of(document)

    async def state_figures(self, year: int) -> list[StateFigures]:
        """Per kecamatan and state: how many, their length, the swadaya contributed."""
        pipeline: list[Document] = [
            {"$match": {"programme_year": year}},
            {
                "$group": {
                    "_id": {"kecamatan": "$draft.area.kecamatan", "state": "$state"},
                    "count": {"$sum": 1},
                    "length_m": {"$sum": "$draft.dimensions.length_m"},
                    "volunteers": {"$sum": {"$sum": "$progress.volunteers"}},
                    "labour_days": {"$sum": {"$sum": "$progress.labour_days"}},
                }
            },
        ]
        cursor = await self._collection.aggregate(pipeline, session=self._session)
        return [
            StateFigures(
                kecamatan=row["_id"]["kecamatan"],
                state=State(row["_id"]["state"]),
                count=row["count"],
                length_m=float(row["length_m"]),
                volunteers=int(row["volunteers"]),
                labour_days=float(row["labour_days"]),
            )
            async for row in cursor
        ]

    async def stuck(
        self, cutoffs: dict[State, datetime], *, skip: int = 0, limit: int = 50
    ) -> tuple[list[Proposal], int]:
        """Proposals whose last progress is older than their state's cutoff, longest
        waiting first."""
        if not cutoffs:
            return [], 0
        filters: Document = {
            "$or": [
                {"state": state.value, "last_progress_at": {"$lt": cutoff}}
                for state, cutoff in sorted(cutoffs.items())
            ]
        }
        total = await self._collection.count_documents(filters, session=self._session)
        cursor = (
            self._collection.find(filters, session=self._session)
            .sort([("last_progress_at", ASCENDING), ("_id", ASCENDING)])
            .skip(skip)
            .limit(limit)
        )
        return [proposal_of(d) async for d in cursor], total

    async def list(
        self, filters: Document, *, skip: int = 0, limit: int = 50
    ) -> tuple[list[Proposal], int]:
        total = await self._collection.count_documents(filters, session=self._session)
        cursor = (
            self._collection.find(filters, session=self._session)
            # _id breaks ties (same millisecond), so pages never overlap or skip one
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .skip(skip)
            .limit(limit)
        )
        return [proposal_of(d) async for d in cursor], total
