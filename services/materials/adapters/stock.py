"""Stock in MongoDB: the ledger, the balance per (warehouse, item), and receipts.

Every movement inserts one ledger entry and updates its balance document in the same
transaction. The update is conditional — the balance must stay non-negative and, when the
movement takes availability away, ``on_hand - reserved`` must cover it — so the balance
document is also the point where concurrent reservations meet: two transactions that both
write it conflict, MongoDB aborts one, and ``with_transaction`` runs it again on the new
level instead of overspending.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Collection, Iterable
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from services.materials.domain.catalogue import Catalogue
from services.materials.domain.stock import EPSILON, LedgerEntry, LedgerKind, Level, rounded
from shared.clock import utc_now
from shared.errors import Conflict
from shared.storage.mongo import Database, Document

BALANCES = "stock_balances"
LEDGER = "stock_ledger"
RECEIPTS = "stock_receipts"
_DECIMALS = 6  # balances are rounded like the domain's quantities (see stock.rounded)


def balance_id(warehouse: str, item: str) -> str:
    return f"{warehouse}|{item}"


async def create_indexes(db: Database) -> None:
    await db[BALANCES].create_indexes([IndexModel([("item", ASCENDING)])])
    await db[LEDGER].create_indexes(
        [
            IndexModel([("warehouse", ASCENDING), ("item", ASCENDING), ("at", DESCENDING)]),
            IndexModel([("proposal_id", ASCENDING), ("at", DESCENDING)]),
            IndexModel([("shipment_id", ASCENDING)]),
            IndexModel([("at", DESCENDING)]),
        ]
    )
    await db[RECEIPTS].create_indexes([IndexModel([("at", DESCENDING)])])


async def seed_balances(db: Database, catalogue: Catalogue) -> None:
    """A zero balance for every (warehouse, item) of the catalogue, created at start-up so
    that movements inside transactions only ever update existing documents."""
    now = utc_now()
    for warehouse in catalogue.warehouse_names:
        for code, item in catalogue.items.items():
            # another replica may seed the same balance at the same moment
            with contextlib.suppress(DuplicateKeyError):
                await db[BALANCES].update_one(
                    {"_id": balance_id(warehouse, code)},
                    {
                        "$setOnInsert": {
                            "warehouse": warehouse,
                            "item": code,
                            "unit": item.unit,
                            "on_hand": 0.0,
                            "reserved": 0.0,
                            "version": 0,
                            "updated_at": now,
                        }
                    },
                    upsert=True,
                )


class StockRepository:
    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        self._balances = db[BALANCES]
        self._ledger = db[LEDGER]
        self._receipts = db[RECEIPTS]
        self._session = session

    async def record(self, entry: LedgerEntry, *, require_available: bool = True) -> None:
        """Apply one movement to its balance and write it to the ledger.

        Raises Conflict (naming the level) when the balance cannot take it: on hand and
        reserved never go below zero, and with ``require_available`` (the default) a
        movement that takes availability away must find it (``on_hand - reserved`` stays
        at or above zero). ``require_available=False`` is for facts that already happened
        (what a delivery revealed), which must be recorded even when they leave the books
        short.
        """
        d_on, d_res = entry.on_hand_change, entry.reserved_change
        on_hand = {"$add": ["$on_hand", d_on]}
        reserved = {"$add": ["$reserved", d_res]}
        conditions: list[Any] = [
            {"$gte": [on_hand, -EPSILON]},
            {"$gte": [reserved, -EPSILON]},
        ]
        if require_available and d_on - d_res < 0:
            conditions.append({"$gte": [{"$subtract": [on_hand, reserved]}, -EPSILON]})
        result = await self._balances.update_one(
            {"_id": balance_id(entry.warehouse, entry.item), "$expr": {"$and": conditions}},
            [
                {
                    "$set": {
                        "on_hand": {"$round": [on_hand, _DECIMALS]},
                        "reserved": {"$round": [reserved, _DECIMALS]},
                        "version": {"$add": ["$version", 1]},
                        "updated_at": entry.at,
                    }
                }
            ],
            session=self._session,
        )
        if result.matched_count != 1:
            raise Conflict(await self._refusal(entry))
        document = entry.model_dump(mode="python", exclude={"id"})
        await self._ledger.insert_one(
            {"_id": ObjectId(), "entry_id": entry.id, **document}, session=self._session
        )

    async def touch(self, items: Collection[str]) -> None:
        """Write the balances of ``items`` without changing their levels.

        A job that stays short of an item touches that item's balances: a stock receipt
        committed meanwhile writes one of them too, so one of the two transactions is
        retried and sees the other — the receipt then finds the job waiting, or the job
        finds the stock. Without it, each could miss the other (write skew).
        """
        if items:
            await self._balances.update_many(
                {"item": {"$in": list(items)}}, {"$inc": {"version": 1}}, session=self._session
            )

    async def available(self, items: Iterable[str]) -> dict[str, dict[str, float]]:
        """warehouse → item → on_hand - reserved, as this transaction sees it."""
        result: dict[str, dict[str, float]] = {}
        cursor = self._balances.find({"item": {"$in": list(items)}}, session=self._session)
        async for b in cursor:
            level = Level(on_hand=b["on_hand"], reserved=b["reserved"])
            result.setdefault(b["warehouse"], {})[b["item"]] = max(level.available, 0.0)
        return result

    async def balances(
        self, warehouse: str | None = None, item: str | None = None
    ) -> list[Document]:
        filters: dict[str, Any] = {}
        if warehouse is not None:
            filters["warehouse"] = warehouse
        if item is not None:
            filters["item"] = item
        cursor = self._balances.find(filters, session=self._session)
        return [b async for b in cursor.sort([("warehouse", ASCENDING), ("item", ASCENDING)])]

    async def entries(
        self,
        *,
        warehouse: str | None = None,
        item: str | None = None,
        kind: LedgerKind | None = None,
        proposal_id: uuid.UUID | None = None,
        shipment_id: uuid.UUID | None = None,
        skip: int = 0,
        limit: int = 0,
    ) -> tuple[list[LedgerEntry], int]:
        """Ledger entries, newest first, with the total matching count."""
        given = {
            "warehouse": warehouse,
            "item": item,
            "kind": kind,
            "proposal_id": proposal_id,
            "shipment_id": shipment_id,
        }
        filters = {key: value for key, value in given.items() if value is not None}
        total = await self._ledger.count_documents(filters, session=self._session)
        cursor = self._ledger.find(filters, session=self._session).sort(
            [("at", DESCENDING), ("_id", DESCENDING)]
        )
        found = [_entry(d) async for d in cursor.skip(skip).limit(limit)]
        return found, total

    async def receipt_recorded(self, receipt_id: str) -> Document | None:
        return await self._receipts.find_one({"_id": receipt_id}, session=self._session)

    async def add_receipt(self, receipt_id: str, document: Document) -> None:
        """Register a stock receipt by its id; a second one with the same id is refused."""
        try:
            await self._receipts.insert_one({"_id": receipt_id, **document}, session=self._session)
        except DuplicateKeyError as error:
            raise Conflict(
                f"stock receipt {receipt_id!r} was recorded already; nothing was counted twice"
            ) from error

    async def _refusal(self, entry: LedgerEntry) -> str:
        found = await self._balances.find_one(
            {"_id": balance_id(entry.warehouse, entry.item)}, session=self._session
        )
        if found is None:
            return f"{entry.warehouse} does not stock {entry.item}"
        level = Level(on_hand=found["on_hand"], reserved=found["reserved"])
        wanted = rounded(abs(entry.quantity))
        return (
            f"{entry.warehouse} cannot {_VERBS[entry.kind]} {wanted:g} {entry.unit} of "
            f"{entry.item}: it has {level.on_hand:g} on hand, {level.reserved:g} of them "
            f"reserved, {max(level.available, 0.0):g} available"
        )


_VERBS: dict[LedgerKind, str] = {
    "receipt": "receive",
    "reservation": "reserve",
    "release": "release",
    "dispatch": "dispatch",
    "adjustment": "adjust by",
}


def _entry(document: Document) -> LedgerEntry:
    data = {k: v for k, v in document.items() if k not in ("_id", "entry_id")}
    return LedgerEntry.model_validate({"id": document["entry_id"], **data})
