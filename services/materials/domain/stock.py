"""Stock as a ledger: every movement is an entry; a warehouse's level is their sum.

Pure rules, no I/O. Each entry says how it changes the (warehouse, item) balance —
``on_hand`` (what is on the shelves) and ``reserved`` (the part of it promised to jobs);
``available = on_hand - reserved`` is what a new job may still reserve.

======================  =========================  ==========  ==========
kind                    quantity (signed)          on_hand     reserved
======================  =========================  ==========  ==========
receipt                 + received from supplier   + q
reservation             + held for a job                       + q
release                 - given back by a job                  - q
dispatch                - put on a truck           - q         - q
adjustment (count)      +/- found / lost in store  +/- q
adjustment (receipt)    short_shipped: + q         + q         (it never left the shelf)
                        over_shipped:  - q         - q         (more left than recorded)
                        lost, damaged: - q         0           (lost on the road, after
                                                               the dispatch took it off)
======================  =========================  ==========  ==========
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.clock import Timestamp

EPSILON = 1e-9
LedgerKind = Literal["receipt", "reservation", "release", "dispatch", "adjustment"]
# Why a warehouse officer corrects a level after counting the shelves.
CountReason = Literal["stocktake", "damaged_in_store", "expired", "returned_from_site", "found"]
# Why a confirmed delivery differs from what was sent (as the RT head says).
DeliveryReason = Literal["lost", "damaged", "short_shipped", "over_shipped"]


def rounded(quantity: float) -> float:
    """Quantities are counted in whole bags or tenths of m³; six decimals keep float sums
    (0.1 + 0.2) from showing as 0.30000000000000004 without hiding any real quantity."""
    return round(quantity, 6) + 0.0  # + 0.0 turns -0.0 into 0.0


class LedgerEntry(BaseModel):
    """One stock movement at one warehouse, with who did it, when, why and for what."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: uuid.UUID
    kind: LedgerKind
    warehouse: str
    item: str
    unit: str
    quantity: float = Field(description="the movement, signed (+ into, - out of the books)")
    on_hand_change: float
    reserved_change: float
    reason: str = ""
    note: str = ""
    proposal_id: uuid.UUID | None = None
    shipment_id: uuid.UUID | None = None
    receipt_id: str | None = None
    by: str
    at: Timestamp


@dataclass(frozen=True)
class Movement:
    """What a use case asks for; :func:`entry` turns it into a ledger entry."""

    kind: LedgerKind
    warehouse: str
    item: str
    unit: str
    quantity: float  # positive; the kind (and reason) gives the sign and the effects
    by: str
    at: Timestamp
    reason: str = ""
    note: str = ""
    proposal_id: uuid.UUID | None = None
    shipment_id: uuid.UUID | None = None
    receipt_id: str | None = None
    # adjustments only: stock goes out of the books (lost, damaged, over-shipped) ...
    outward: bool = False
    # ... and it happened on the road, after the dispatch had taken it off the shelf
    in_transit: bool = False


def entry(movement: Movement, entry_id: uuid.UUID) -> LedgerEntry:
    q = rounded(abs(movement.quantity))
    signed, on_hand, reserved = _effects(movement, q)
    return LedgerEntry(
        id=entry_id,
        kind=movement.kind,
        warehouse=movement.warehouse,
        item=movement.item,
        unit=movement.unit,
        quantity=signed,
        on_hand_change=on_hand,
        reserved_change=reserved,
        reason=movement.reason,
        note=movement.note,
        proposal_id=movement.proposal_id,
        shipment_id=movement.shipment_id,
        receipt_id=movement.receipt_id,
        by=movement.by,
        at=movement.at,
    )


def _effects(movement: Movement, q: float) -> tuple[float, float, float]:
    """(signed quantity, change of on_hand, change of reserved) — the table above."""
    if movement.kind == "receipt":
        return q, q, 0.0
    if movement.kind == "reservation":
        return q, 0.0, q
    if movement.kind == "release":
        return -q, 0.0, -q
    if movement.kind == "dispatch":
        return -q, -q, -q
    signed = -q if movement.outward else q
    if movement.in_transit:
        return signed, 0.0, 0.0  # the dispatch already took it off this warehouse's books
    return signed, signed, 0.0


@dataclass(frozen=True)
class Level:
    on_hand: float = 0.0
    reserved: float = 0.0

    @property
    def available(self) -> float:
        return rounded(self.on_hand - self.reserved)


def levels_from_ledger(entries: Iterable[LedgerEntry]) -> dict[tuple[str, str], Level]:
    """Every (warehouse, item) level, recomputed from the movements alone."""
    levels: dict[tuple[str, str], Level] = {}
    for e in entries:
        level = levels.get((e.warehouse, e.item), Level())
        levels[(e.warehouse, e.item)] = Level(
            on_hand=rounded(level.on_hand + e.on_hand_change),
            reserved=rounded(level.reserved + e.reserved_change),
        )
    return levels


@dataclass(frozen=True)
class StockQuantity:
    """``quantity`` of ``item`` at ``warehouse``: what one movement reserves for a job,
    releases, receives or adjusts (not the city's budget allocation of the proposals)."""

    warehouse: str
    item: str
    quantity: float


def plan_reservation(
    needs: Mapping[str, float],
    available: Mapping[str, Mapping[str, float]],
    warehouses: Sequence[str],
) -> list[StockQuantity]:
    """Where to reserve ``needs`` (item → quantity) from ``available`` (warehouse → item →
    quantity), never more than either.

    Per item, the first warehouse (in ``warehouses`` order) that can cover the whole need
    supplies it — one truck rather than two; when none can, the need is split over the
    warehouses in order, and whatever is left stays short.
    """
    plan: list[StockQuantity] = []
    for item, need in needs.items():
        if need <= EPSILON:
            continue
        stocks = [(w, max(available.get(w, {}).get(item, 0.0), 0.0)) for w in warehouses]
        whole = next((w for w, stock in stocks if stock >= need - EPSILON), None)
        if whole is not None:
            plan.append(StockQuantity(whole, item, rounded(need)))
            continue
        remaining = need
        for warehouse, stock in stocks:
            take = rounded(min(remaining, stock))
            if take > EPSILON:
                plan.append(StockQuantity(warehouse, item, take))
                remaining = rounded(remaining - take)
    return plan


def subtract(
    available: dict[str, dict[str, float]], portions: Iterable[StockQuantity]
) -> dict[str, dict[str, float]]:
    """``available`` after ``portions`` are reserved from it (a new mapping)."""
    left = {w: dict(items) for w, items in available.items()}
    for a in portions:
        stock = left.setdefault(a.warehouse, {})
        stock[a.item] = rounded(stock.get(a.item, 0.0) - a.quantity)
    return left


def totals(portions: Iterable[StockQuantity]) -> dict[str, float]:
    """Quantity per item over all warehouses."""
    result: dict[str, float] = {}
    for a in portions:
        result[a.item] = rounded(result.get(a.item, 0.0) + a.quantity)
    return result


# --------------------------------------------------------------------------------------------
# Slots: one (warehouse, item) level kept in several documents
# --------------------------------------------------------------------------------------------
#
# A level that every reservation writes is a hot spot: concurrent transactions that write
# one document conflict, all but one abort and run again, and one transaction left open by
# a killed process blocks every other until it ends. So a level is kept in a few slots,
# each a level of its own with the same rules (on hand and reserved never below zero, a
# movement that takes availability away must find it in the slot). The level is their
# sum, so the rules hold for the sum too: as no slot reserves more than it has on hand,
# the level never does. A movement is split over slots (`split`): one that takes from the
# slots draws on the first slot, from a random starting point, that can take all of it,
# else on as many as it needs in turn — two reservations meet only when they draw on the
# same slot; stock coming in is spread so that the slots' availabilities even out. For
# the level's rules a split never refuses a reservation or a dispatch the summed level
# would allow (each slot having on hand ≥ reserved).

# Slots per level and gates per item unless the settings say otherwise (`stock_slots`):
# chosen with benchmarks/reservations.py (README "Stock").
DEFAULT_SLOTS = 16


def _rates(on_hand_change: float, reserved_change: float) -> tuple[float, float]:
    """How on hand and reserved change per unit of the movement (-1, 0 or +1 each)."""

    def sign(value: float) -> float:
        return 0.0 if abs(value) <= EPSILON else (1.0 if value > 0 else -1.0)

    return sign(on_hand_change), sign(reserved_change)


def room(
    level: Level, on_hand_change: float, reserved_change: float, *, require_available: bool
) -> float:
    """How much of a movement with these changes ``level`` can take within its rules
    (``math.inf`` when nothing limits it: stock coming in)."""
    on_rate, reserved_rate = _rates(on_hand_change, reserved_change)
    limits = [math.inf]
    if on_rate < 0:
        limits.append(level.on_hand)
    if reserved_rate < 0:
        limits.append(level.reserved)
    if require_available and on_rate - reserved_rate < 0:
        limits.append(level.available / (reserved_rate - on_rate))
    limit = min(limits)
    return limit if limit == math.inf else max(rounded(limit), 0.0)


def split(
    slots: Sequence[Level],
    on_hand_change: float,
    reserved_change: float,
    *,
    require_available: bool,
    start: int,
) -> list[tuple[int, float]] | None:
    """(slot index, quantity) parts of a movement over ``slots``, quantities adding up to
    the movement's size; None when the slots together cannot take it.

    A movement that changes nothing needs no slot. Stock coming in (nothing limits it)
    goes where availability is lowest (water-filling). Any other movement draws on the
    first slot from ``start`` (wrapping round) that can take all of it, else on the slots
    in that order until it is covered.
    """
    quantity = rounded(max(abs(on_hand_change), abs(reserved_change)))
    if quantity <= EPSILON or not slots:
        return [] if quantity <= EPSILON else None
    rooms = [
        room(s, on_hand_change, reserved_change, require_available=require_available) for s in slots
    ]
    if all(r == math.inf for r in rooms):
        return _spread(quantity, [s.available for s in slots])
    order = [(start + k) % len(slots) for k in range(len(slots))]
    whole = next((i for i in order if rooms[i] >= quantity - EPSILON), None)
    if whole is not None:
        return [(whole, quantity)]
    parts: list[tuple[int, float]] = []
    remaining = quantity
    for i in order:
        take = rounded(min(remaining, rooms[i]))
        if take > EPSILON:
            parts.append((i, take))
            remaining = rounded(remaining - take)
        if remaining <= EPSILON:
            return _exact(parts, quantity)
    return None


def _spread(quantity: float, available: Sequence[float]) -> list[tuple[int, float]]:
    """``quantity`` over slots so that the lowest availabilities rise to one level."""
    order = sorted(range(len(available)), key=lambda i: available[i])
    level, used, filled = available[order[0]], 0.0, 1
    # raise the lowest `filled` slots together until the next one is reached
    while filled < len(order):
        step = (available[order[filled]] - level) * filled
        if used + step >= quantity:
            break
        used += step
        level = available[order[filled]]
        filled += 1
    level += (quantity - used) / filled
    parts = [(i, rounded(level - available[i])) for i in order[:filled]]
    return _exact([(i, q) for i, q in parts if q > EPSILON], quantity)


def _exact(parts: list[tuple[int, float]], quantity: float) -> list[tuple[int, float]]:
    """``parts`` with the rounding remainder on the largest, so they add up exactly."""
    if not parts:
        return [(0, quantity)]
    largest = max(range(len(parts)), key=lambda k: parts[k][1])
    others = rounded(sum(q for k, (_, q) in enumerate(parts) if k != largest))
    index, _ = parts[largest]
    parts[largest] = (index, rounded(quantity - others))
    return sorted(parts)


def total(slots: Iterable[Level]) -> Level:
    """The level the slots make together."""
    on_hand = reserved = 0.0
    for s in slots:
        on_hand, reserved = on_hand + s.on_hand, reserved + s.reserved
    return Level(on_hand=rounded(on_hand), reserved=rounded(reserved))
