"""Stock in MongoDB: the ledger, the balance slots per (warehouse, item), and receipts.

Every movement inserts one ledger entry and updates the balance slots it is split over
(`shared.slots.split`) in the same transaction. Each slot update is conditional — the
slot must stay non-negative and, when the movement takes availability away, the slot's
``on_hand - reserved`` must cover its part — so a slot is the point where concurrent
movements meet: two transactions that write one slot conflict, MongoDB aborts one, and
``with_transaction`` runs it again on the new level instead of overspending. Slots are
written in the order of their ids, so transactions drawing on several never wait on each
other in a cycle. A level is the sum of its slots.

A unit of work's movements are recorded together (`StockRepository.record_all`): a
round trip to MongoDB costs more than anything done between them, so a job of many
lines takes as many round trips as a job of one.

Gates (`stock_gates`, a few per item) make a job going short meet the stock that comes
in for it: see `StockRepository.wait_for` and `open_gates`.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import random
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from services.materials.domain.catalogue import Catalogue
from services.materials.domain.stock import DEFAULT_SLOTS, LedgerEntry, LedgerKind
from shared.clock import utc_now
from shared.errors import Conflict
from shared.slots import EPSILON, Level, rounded, split, total
from shared.storage.mongo import Database, Document

BALANCES = "stock_balances"
GATES = "stock_gates"
LEDGER = "stock_ledger"
RECEIPTS = "stock_receipts"
_LEVEL_FIELDS = {"warehouse": 1, "item": 1, "on_hand": 1, "reserved": 1}
_DECIMALS = 6  # balances are rounded like the domain's quantities (see stock.rounded)
_NEXT_START = itertools.count(random.randrange(1 << 16))
_SLOTS_BATCH = 10_000

LevelKey = tuple[str, str]
"""(warehouse, item): a level, kept in slots."""


def balance_id(warehouse: str, item: str, slot: int = 0) -> str:
    """Slot 0 keeps the id a level had when it was one document, so its stock stays."""
    return f"{warehouse}|{item}" if slot == 0 else f"{warehouse}|{item}|{slot}"


def gate_id(item: str, slot: int) -> str:
    return f"{item}|{slot}"


async def create_indexes(db: Database) -> None:
    await db[BALANCES].create_indexes(
        [
            IndexModel([("item", ASCENDING)]),
            IndexModel([("warehouse", ASCENDING), ("item", ASCENDING), ("slot", ASCENDING)]),
        ]
    )
    await db[GATES].create_indexes([IndexModel([("item", ASCENDING)])])
    await db[LEDGER].create_indexes(
        [
            IndexModel([("warehouse", ASCENDING), ("item", ASCENDING), ("at", DESCENDING)]),
            IndexModel([("proposal_id", ASCENDING), ("at", DESCENDING)]),
            IndexModel([("shipment_id", ASCENDING)]),
            IndexModel([("at", DESCENDING)]),
        ]
    )
    await db[RECEIPTS].create_indexes([IndexModel([("at", DESCENDING)])])


async def seed_balances(db: Database, catalogue: Catalogue, slots: int = DEFAULT_SLOTS) -> None:
    """Zero balance slots for every (warehouse, item) of the catalogue and gates for every
    item, created at start-up so that movements inside transactions only ever update
    existing documents. More slots than before are added; fewer leave the extra ones in
    use (their stock stays counted and drawn on)."""
    now = utc_now()
    # a level kept as one document before slots: it is slot 0
    await db[BALANCES].update_many({"slot": {"$exists": False}}, {"$set": {"slot": 0}})
    for warehouse in catalogue.warehouse_names:
        for code, item in catalogue.items.items():
            for slot in range(slots):
                await _seed(
                    db[BALANCES],
                    balance_id(warehouse, code, slot),
                    {
                        "warehouse": warehouse,
                        "item": code,
                        "slot": slot,
                        "unit": item.unit,
                        "on_hand": 0.0,
                        "reserved": 0.0,
                        "version": 0,
                        "updated_at": now,
                    },
                )
    for code in catalogue.items:
        for slot in range(slots):
            await _seed(db[GATES], gate_id(code, slot), {"item": code, "slot": slot, "version": 0})


async def _seed(collection: Any, document_id: str, fields: Document) -> None:
    # another replica may seed the same document at the same moment
    with contextlib.suppress(DuplicateKeyError):
        await collection.update_one({"_id": document_id}, {"$setOnInsert": fields}, upsert=True)


def _slot_update(
    slot_id: str, entry: LedgerEntry, d_on: float, d_res: float, require_available: bool
) -> UpdateOne:
    """Change one slot by (d_on, d_res), on condition it stays within the rules."""
    on_hand = {"$add": ["$on_hand", d_on]}
    reserved = {"$add": ["$reserved", d_res]}
    conditions: list[Any] = [
        {"$gte": [on_hand, -EPSILON]},
        {"$gte": [reserved, -EPSILON]},
    ]
    if require_available and d_on - d_res < 0:
        conditions.append({"$gte": [{"$subtract": [on_hand, reserved]}, -EPSILON]})
    return UpdateOne(
        {"_id": slot_id, "$expr": {"$and": conditions}},
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
    )


@dataclass(frozen=True)
class SlotChange:
    """One slot's part of one movement: on hand and reserved change by these."""

    slot_id: str
    entry: LedgerEntry
    on_hand: float
    reserved: float


def plan_slot_changes(
    slots: Mapping[LevelKey, Sequence[tuple[str, Level]]],
    entries: Iterable[LedgerEntry],
    *,
    require_available: bool,
    start: int,
) -> list[SlotChange]:
    """The slot changes of ``entries``, each split over its level's ``slots`` ((id,
    level) by id) as the entries before it left them, every level starting at ``start``;
    in slot id order, so that two transactions never wait on each other in a cycle
    (a slot's changes keep the entries' order). Raises Conflict at the first entry its
    level cannot take."""
    levels = {key: list(found) for key, found in slots.items()}
    changes: list[SlotChange] = []
    for entry in entries:
        key = (entry.warehouse, entry.item)
        found = levels.get(key)
        if not found:
            raise Conflict(f"{entry.warehouse} does not stock {entry.item}")
        parts = _changes(entry, found, require_available=require_available, start=start)
        levels[key] = _after(found, parts)
        changes += parts
    return sorted(changes, key=lambda c: c.slot_id)


def _changes(
    entry: LedgerEntry,
    slots: Sequence[tuple[str, Level]],
    *,
    require_available: bool,
    start: int,
) -> list[SlotChange]:
    """``entry`` split over ``slots``, or Conflict naming the level."""
    d_on, d_res = entry.on_hand_change, entry.reserved_change
    parts = split(
        [level for _, level in slots],
        d_on,
        d_res,
        require_available=require_available,
        start=start % len(slots),
    )
    if parts is None:
        raise Conflict(_refusal(entry, total(level for _, level in slots)))
    return [
        SlotChange(slots[index][0], entry, _part(d_on, quantity), _part(d_res, quantity))
        for index, quantity in parts
    ]


def _after(
    slots: Sequence[tuple[str, Level]], changes: Iterable[SlotChange]
) -> list[tuple[str, Level]]:
    """``slots`` as ``changes`` leave them, rounded as the slot updates round."""
    levels = dict(slots)
    for c in changes:
        level = levels[c.slot_id]
        levels[c.slot_id] = Level(
            rounded(level.on_hand + c.on_hand), rounded(level.reserved + c.reserved)
        )
    return [(slot_id, levels[slot_id]) for slot_id, _ in slots]


class StockRepository:
    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        self._balances = db[BALANCES]
        self._gates = db[GATES]
        self._ledger = db[LEDGER]
        self._receipts = db[RECEIPTS]
        self._session = session
        # Where this transaction starts drawing, the same for every level it draws on: its
        # movements then meet another transaction's only if both started at one slot.
        # The next slot after the last transaction of this process took: the handlers
        # running at once in one process (up to the prefetch) never start at the same
        # slot, where random starts met more often than not (16 of 16 slots: 1.2
        # aborted transactions per committed reservation); replicas start apart at
        # random, as two of them cannot agree on anything cheaper.
        self._start = next(_NEXT_START)

    async def record_all(
        self, entries: Sequence[LedgerEntry], *, require_available: bool = True
    ) -> None:
        """Apply movements to their balance slots and write them to the ledger, in as
        many round trips as one movement takes: the slots of every level involved read
        at once, the slot updates in one bulk write, the gates in one update, the ledger
        in one insert.

        Raises Conflict (naming the level) when a level cannot take a movement, after
        the movements before it in ``entries``: on hand and reserved never go below
        zero, and with ``require_available`` (the default) a movement that takes
        availability away must find it (``on_hand - reserved`` stays at or above zero).
        A refusal refuses them all before anything is written.
        ``require_available=False`` is for facts that already happened (what a delivery
        revealed), which must be recorded even when they leave the books short.
        """
        if not entries:
            return
        slots = await self._slots({(e.warehouse, e.item) for e in entries})
        changes = plan_slot_changes(
            slots, entries, require_available=require_available, start=self._start
        )
        # one round trip, so that movements over many slots (stock coming in is spread
        # over all of them) hold them for as short a time as one slot
        await self._apply(
            [
                _slot_update(c.slot_id, c.entry, c.on_hand, c.reserved, require_available)
                for c in changes
            ]
        )
        grown = {e.item for e in entries if e.on_hand_change - e.reserved_change > EPSILON}
        if grown:
            await self.open_gates(sorted(grown))
        await self._ledger.insert_many(
            [_ledger_document(e) for e in entries], ordered=True, session=self._session
        )

    async def _slots(self, levels: Collection[LevelKey]) -> dict[LevelKey, list[tuple[str, Level]]]:
        """(id, level) of each balance slot of each (warehouse, item), by id."""
        cursor = self._balances.find(
            {"$or": [{"warehouse": w, "item": i} for w, i in sorted(levels)]},
            _LEVEL_FIELDS,
            session=self._session,
            # the server's first batch stops at 101 documents unless told: every slot
            # of every level comes back in the one round trip
            batch_size=_SLOTS_BATCH,
        )
        found: dict[LevelKey, list[tuple[str, Level]]] = {}
        async for b in cursor:
            slot = (b["_id"], Level(b["on_hand"], b["reserved"]))
            found.setdefault((b["warehouse"], b["item"]), []).append(slot)
        return {key: sorted(slots, key=lambda s: str(s[0])) for key, slots in found.items()}

    async def _apply(self, updates: list[UpdateOne]) -> None:
        """Change the slots, each only if it stays within the rules."""
        if not updates:
            return
        result = await self._balances.bulk_write(updates, ordered=True, session=self._session)
        if result.matched_count != len(updates):
            # the transaction's snapshot said it would fit: a level that moved meanwhile
            # would have been a write conflict, so this is a bug, not a race
            raise Conflict("a balance slot cannot take its part of the movement")

    async def wait_for(self, items: Collection[str]) -> None:
        """A job stays short of ``items``: write one gate (at random) of each.

        Stock that comes in for an item — a receipt, a release, a count that finds more —
        writes all the item's gates (`open_gates`). A receipt committed while the job's
        transaction runs then writes a document the job writes too, so one of the two
        transactions is retried and sees the other: the receipt finds the job waiting,
        or the job finds the stock. Without it, each could miss the other (write skew).
        Jobs going short at once meet only when they pick the same gate.
        """
        if not items:
            return
        cursor = self._gates.find({"item": {"$in": list(items)}}, session=self._session)
        gates: dict[str, list[str]] = {}
        async for gate in cursor:
            gates.setdefault(gate["item"], []).append(gate["_id"])
        chosen = [random.choice(sorted(ids)) for ids in gates.values()]
        await self._gates.update_many(
            {"_id": {"$in": chosen}}, {"$inc": {"version": 1}}, session=self._session
        )

    async def open_gates(self, items: Collection[str]) -> None:
        """Stock of ``items`` became available: write all their gates (see `wait_for`)."""
        await self._gates.update_many(
            {"item": {"$in": list(items)}}, {"$inc": {"version": 1}}, session=self._session
        )

    async def available(self, items: Iterable[str]) -> dict[str, dict[str, float]]:
        """warehouse → item → on_hand - reserved (summed over slots), as this transaction
        sees it."""
        return {
            warehouse: {item: max(level.available, 0.0) for item, level in levels.items()}
            for warehouse, levels in (await self._levels({"item": {"$in": list(items)}})).items()
        }

    async def _levels(self, filters: Document) -> dict[str, dict[str, Level]]:
        """warehouse → item → level, each the sum of its slots."""
        slots: dict[str, dict[str, list[Level]]] = {}
        async for b in self._balances.find(filters, _LEVEL_FIELDS, session=self._session):
            by_item = slots.setdefault(b["warehouse"], {})
            by_item.setdefault(b["item"], []).append(Level(b["on_hand"], b["reserved"]))
        return {
            warehouse: {item: total(levels) for item, levels in by_item.items()}
            for warehouse, by_item in slots.items()
        }

    async def balances(
        self, warehouse: str | None = None, item: str | None = None
    ) -> list[Document]:
        """One document per (warehouse, item): its slots summed, by warehouse and item."""
        filters: dict[str, Any] = {}
        if warehouse is not None:
            filters["warehouse"] = warehouse
        if item is not None:
            filters["item"] = item
        pipeline: list[Document] = [
            {"$match": filters},
            {
                "$group": {
                    "_id": {"warehouse": "$warehouse", "item": "$item"},
                    "unit": {"$first": "$unit"},
                    "on_hand": {"$sum": "$on_hand"},
                    "reserved": {"$sum": "$reserved"},
                    "updated_at": {"$max": "$updated_at"},
                }
            },
            {"$sort": {"_id.warehouse": ASCENDING, "_id.item": ASCENDING}},
        ]
        cursor = await self._balances.aggregate(pipeline, session=self._session)
        return [
            {
                "_id": balance_id(b["_id"]["warehouse"], b["_id"]["item"]),
                "warehouse": b["_id"]["warehouse"],
                "item": b["_id"]["item"],
                "unit": b["unit"],
                "on_hand": rounded(b["on_hand"]),
                "reserved": rounded(b["reserved"]),
                "updated_at": b["updated_at"],
            }
            async for b in cursor
        ]

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


def _ledger_document(entry: LedgerEntry) -> Document:
    document = entry.model_dump(mode="python", exclude={"id"})
    return {"_id": ObjectId(), "entry_id": entry.id, **document}


def _part(change: float, quantity: float) -> float:
    """A slot's share of a change: ``quantity`` with the change's sign (0 if none)."""
    return math.copysign(quantity, change) if abs(change) > EPSILON else 0.0


def _refusal(entry: LedgerEntry, level: Level) -> str:
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
