"""Budget ceilings in MongoDB: per (kecamatan, fiscal year) a budget document (who set
the ceiling, when) and its slots, each holding a share of the ceiling and what approved
jobs reserve of it (shared/slots.py).

Every approval in a kecamatan reserves from its budget: kept in one document, that
document would serialise them (two transactions writing it conflict, one aborts and
runs again; at 50 approvals a second nearly all did). A reservation writes only the
slot it draws on, on condition the slot keeps ``reserved <= ceiling``; as no slot
reserves more than its share, the kecamatan never reserves more than its ceiling,
however many replicas approve at once. Two approvals meet only when they draw on the
same slot: then MongoDB aborts one, the unit of work runs it again, and the retry sees
the other's reservation. Slots are written in the order of their ids, so transactions
drawing on several never wait on each other in a cycle.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from services.proposals.domain.budget import Allocation, Budget, budget_key
from shared.errors import Conflict
from shared.slots import Level, SlotTurns, split, total
from shared.storage.documents import from_document, to_document
from shared.storage.mongo import Database, Document

COLLECTION = "budgets"
SLOTS = "budget_slots"
# Slots per budget, fixed when the budget is first allocated: approvals in one kecamatan
# at once meet only when they draw on the same slot (services/proposals/README.md).
DEFAULT_SLOTS = 16
# Which slot an approval of this process starts drawing on (shared/slots.py): held for
# the approval's whole transaction, so the approvals of one process never meet.
TURNS = SlotTurns(DEFAULT_SLOTS)


def slot_id(key: str, slot: int) -> str:
    return f"{key}|{slot}"


async def create_indexes(db: Database) -> None:
    await db[COLLECTION].create_indexes([IndexModel([("fiscal_year", ASCENDING)])])
    await db[SLOTS].create_indexes([IndexModel([("budget", ASCENDING), ("slot", ASCENDING)])])


class BudgetRepository:
    def __init__(
        self, db: Database, session: AsyncClientSession | None = None, *, start: int = 0
    ) -> None:
        """``start``: the slot a reservation draws on first (the caller's turn)."""
        self._collection = db[COLLECTION]
        self._slots = db[SLOTS]
        self._session = session
        self._start = start
        # The slots read in this transaction, until written: a transaction reads one
        # snapshot, so reading them again (the budget, then the reservation) would
        # only cost a round trip.
        self._slots_read: dict[str, list[tuple[str, Level]]] = {}

    async def find(self, kecamatan: str, fiscal_year: int) -> Budget | None:
        key = budget_key(kecamatan, fiscal_year)
        document = await self._collection.find_one({"_id": key}, session=self._session)
        if document is None:
            return None
        return _budget(document, total(level for _, level in await self._levels(key)))

    async def of_year(self, fiscal_year: int) -> list[Budget]:
        # The budget documents first, then their slots: a budget is added with its slots
        # in one transaction, so outside one (a public read) the slots read afterwards
        # are all there; read the other way round, a budget committed in between would
        # show a ceiling of 0.
        cursor = self._collection.find({"fiscal_year": fiscal_year}, session=self._session)
        documents = [d async for d in cursor.sort("_id", ASCENDING)]
        levels: dict[str, list[Level]] = {}
        cursor = self._slots.find({"fiscal_year": fiscal_year}, session=self._session)
        async for s in cursor:
            levels.setdefault(s["budget"], []).append(_level(s))
        return [_budget(d, total(levels.get(d["_id"], []))) for d in documents]

    async def add(self, budget: Budget) -> None:
        """A new budget: its document, and its ceiling spread evenly over its slots."""
        document = to_document(budget, budget.key)
        for derived in ("ceiling_idr", "reserved_idr"):
            document.pop(derived)
        await self._collection.insert_one(document, session=self._session)
        await self._slots.insert_many(
            _new_slots(budget.key, budget.fiscal_year, budget.ceiling_idr, reserved_idr=0),
            session=self._session,
        )

    async def set_ceiling(self, budget: Budget, allocation: Allocation) -> None:
        """Record the allocation and move the ceiling: a raise spread over the slots, a
        cut taken from what the slots have left (never below what they hold)."""
        await self._collection.update_one(
            {"_id": budget.key},
            {
                "$set": {"ceiling_set_at": allocation.at},
                "$push": {"allocations": allocation.model_dump(mode="python")},
            },
            session=self._session,
        )
        current = await self._levels(budget.key)
        change = allocation.ceiling_idr - int(total(level for _, level in current).on_hand)
        await self._move(budget, current, ceiling_change=change, reserved_change=0)

    async def reserve(self, budget: Budget, cost_idr: int) -> None:
        """Reserve `cost_idr` from the slots that have room for it."""
        await self._move(budget, await self._levels(budget.key), 0, cost_idr)

    async def release(self, budget: Budget, cost_idr: int) -> None:
        await self._move(budget, await self._levels(budget.key), 0, -cost_idr)

    async def _levels(self, key: str) -> list[tuple[str, Level]]:
        """(id, level) of each slot of the budget, by id; level.on_hand is its ceiling."""
        if key in self._slots_read:
            return self._slots_read[key]
        cursor = self._slots.find({"budget": key}, session=self._session)
        found = sorted([(s["_id"], _level(s)) async for s in cursor], key=lambda s: str(s[0]))
        if self._session is not None and self._session.in_transaction:
            self._slots_read[key] = found
        return found

    async def _move(
        self,
        budget: Budget,
        slots: list[tuple[str, Level]],
        ceiling_change: int,
        reserved_change: int,
    ) -> None:
        parts = split(
            [level for _, level in slots],
            ceiling_change,
            reserved_change,
            require_available=True,
            start=self._start % max(len(slots), 1),
        )
        if parts is None:
            # the domain checked the sum before: the slots moved meanwhile
            raise Conflict(
                f"the {budget.kecamatan} budget for {budget.fiscal_year} changed meanwhile; "
                "reload the budget and try again"
            )
        amount = max(abs(ceiling_change), abs(reserved_change))
        updates = [
            _slot_update(slots[index][0], _sign(ceiling_change) * q, _sign(reserved_change) * q)
            for index, q in sorted(_whole(parts, amount), key=lambda p: slots[p[0]][0])
        ]
        if not updates:
            return
        self._slots_read.pop(budget.key, None)
        result = await self._slots.bulk_write(updates, ordered=True, session=self._session)
        if result.matched_count != len(updates):
            raise Conflict(f"the {budget.kecamatan} budget changed meanwhile; try again")


def _new_slots(key: str, fiscal_year: int, ceiling_idr: int, reserved_idr: int) -> list[Document]:
    """DEFAULT_SLOTS slots sharing the ceiling evenly; what is reserved already in slot 0
    (with its share on top)."""
    share, rest = divmod(ceiling_idr - reserved_idr, DEFAULT_SLOTS)
    return [
        {
            "_id": slot_id(key, slot),
            "budget": key,
            "fiscal_year": fiscal_year,
            "slot": slot,
            "ceiling_idr": share + (1 if slot < rest else 0) + (reserved_idr if slot == 0 else 0),
            "reserved_idr": reserved_idr if slot == 0 else 0,
        }
        for slot in range(DEFAULT_SLOTS)
    ]


async def split_into_slots(db: Database) -> None:
    """Budgets stored as one document (before slots) get their slots, each in one
    transaction with removing the document's own figures, so that a budget is counted
    once whichever replica does it and whenever it runs."""
    async with db.client.start_session() as session:
        async for old in db[COLLECTION].find({"ceiling_idr": {"$exists": True}}, ["_id"]):

            async def split_one(s: AsyncClientSession, key: str = old["_id"]) -> None:
                document = await db[COLLECTION].find_one_and_update(
                    {"_id": key, "ceiling_idr": {"$exists": True}},
                    {"$unset": {"ceiling_idr": "", "reserved_idr": ""}},
                    session=s,
                )
                if document is not None:  # not split meanwhile by another replica
                    slots = _new_slots(
                        key,
                        document["fiscal_year"],
                        document["ceiling_idr"],
                        document["reserved_idr"],
                    )
                    await db[SLOTS].insert_many(slots, session=s)

            await session.with_transaction(split_one)


def _slot_update(slot: str, ceiling_change: int, reserved_change: int) -> UpdateOne:
    """Change one slot, on condition it keeps 0 <= reserved <= ceiling."""
    ceiling = {"$add": ["$ceiling_idr", ceiling_change]}
    reserved = {"$add": ["$reserved_idr", reserved_change]}
    conditions: list[Any] = [{"$gte": [reserved, 0]}, {"$lte": [reserved, ceiling]}]
    return UpdateOne(
        {"_id": slot, "$expr": {"$and": conditions}},
        {"$inc": {"ceiling_idr": ceiling_change, "reserved_idr": reserved_change}},
    )


def _whole(parts: list[tuple[int, float]], amount: int) -> list[tuple[int, int]]:
    """The parts in whole rupiah, still adding up to ``amount`` (a raise spread over the
    slots comes in fractions; the remainder goes to the largest part)."""
    whole = [(index, round(q)) for index, q in parts]
    if whole:
        largest = max(range(len(whole)), key=lambda k: whole[k][1])
        index, q = whole[largest]
        whole[largest] = (index, q + amount - sum(q for _, q in whole))
    return [(index, q) for index, q in whole if q != 0]


def _sign(change: int) -> int:
    return (change > 0) - (change < 0)


def _level(slot: Document) -> Level:
    return Level(on_hand=slot["ceiling_idr"], reserved=slot["reserved_idr"])


def _budget(document: Document, level: Level) -> Budget:
    return from_document(
        Budget,
        {**document, "ceiling_idr": int(level.on_hand), "reserved_idr": int(level.reserved)},
    )
