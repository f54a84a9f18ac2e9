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

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.clock import Timestamp
from shared.slots import EPSILON, Level, rounded

LedgerKind = Literal["receipt", "reservation", "release", "dispatch", "adjustment"]
# Why a warehouse officer corrects a level after counting the shelves.
CountReason = Literal["stocktake", "damaged_in_store", "expired", "returned_from_site", "found"]
# Why a confirmed delivery differs from what was sent (as the RT head says).
DeliveryReason = Literal["lost", "damaged", "short_shipped", "over_shipped"]


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


# Slots per (warehouse, item) level and gates per item unless the settings say otherwise
# (`stock_slots`), chosen with benchmarks/reservations.py (README "Stock"); how a level
# is kept in slots: shared/slots.py.
DEFAULT_SLOTS = 16
