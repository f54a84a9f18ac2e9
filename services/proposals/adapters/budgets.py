"""Budget ceilings in MongoDB: one document per (kecamatan, fiscal year).

Reservations are conditional updates (`reserved + cost <= ceiling`) inside the
caller's transaction. Two approvals at the same moment both write the same document:
MongoDB lets one commit and fails the other with a transient write conflict, the
unit of work retries it, and the retry sees the new reservation — so the ceiling
holds however many replicas approve at once.
"""

from __future__ import annotations

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession

from services.proposals.domain.budget import Allocation, Budget, budget_key
from shared.errors import Conflict
from shared.storage.documents import from_document, to_document
from shared.storage.mongo import Database

COLLECTION = "budgets"


async def create_indexes(db: Database) -> None:
    await db[COLLECTION].create_indexes([IndexModel([("fiscal_year", ASCENDING)])])


class BudgetRepository:
    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        self._collection = db[COLLECTION]
        self._session = session

    async def find(self, kecamatan: str, fiscal_year: int) -> Budget | None:
        document = await self._collection.find_one(
            {"_id": budget_key(kecamatan, fiscal_year)}, session=self._session
        )
        return None if document is None else from_document(Budget, document)

    async def of_year(self, fiscal_year: int) -> list[Budget]:
        cursor = self._collection.find({"fiscal_year": fiscal_year}, session=self._session)
        return [from_document(Budget, d) async for d in cursor.sort("_id", ASCENDING)]

    async def add(self, budget: Budget) -> None:
        await self._collection.insert_one(to_document(budget, budget.key), session=self._session)

    async def set_ceiling(self, budget: Budget, allocation: Allocation) -> None:
        """Write the new ceiling, on condition it still covers what is reserved."""
        result = await self._collection.update_one(
            {"_id": budget.key, "reserved_idr": {"$lte": allocation.ceiling_idr}},
            {
                "$set": {"ceiling_idr": allocation.ceiling_idr, "ceiling_set_at": allocation.at},
                "$push": {"allocations": allocation.model_dump(mode="python")},
            },
            session=self._session,
        )
        if result.matched_count != 1:
            raise Conflict(f"the {budget.kecamatan} budget changed meanwhile; try again")

    async def reserve(self, budget: Budget, cost_idr: int) -> None:
        """Reserve `cost_idr`, on condition it still fits under the ceiling."""
        result = await self._collection.update_one(
            {
                "_id": budget.key,
                "$expr": {"$lte": [{"$add": ["$reserved_idr", cost_idr]}, "$ceiling_idr"]},
            },
            {"$inc": {"reserved_idr": cost_idr}},
            session=self._session,
        )
        if result.matched_count != 1:
            raise Conflict(
                f"the {budget.kecamatan} budget for {budget.fiscal_year} no longer has room "
                "for this job; reload the budget and try again"
            )

    async def release(self, budget: Budget, cost_idr: int) -> None:
        result = await self._collection.update_one(
            {"_id": budget.key, "reserved_idr": {"$gte": cost_idr}},
            {"$inc": {"reserved_idr": -cost_idr}},
            session=self._session,
        )
        if result.matched_count != 1:
            raise Conflict(f"the {budget.kecamatan} budget changed meanwhile; try again")
