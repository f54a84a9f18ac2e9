"""A level kept in slots: a quantity that every transaction would write, split over a
few documents so that concurrent transactions rarely meet.

A level has ``on_hand`` (what there is: stock on the shelves, a budget's ceiling) and
``reserved`` (the part of it promised: to jobs, to approved proposals);
``available = on_hand - reserved`` is what a new reservation may still take.

A level that every reservation writes is a hot spot: concurrent transactions that write
one document conflict, all but one abort and run again, and one transaction left open by
a killed process blocks every other until it ends. So a level is kept in a few slots,
each a level of its own with the same rules (on hand and reserved never below zero, a
movement that takes availability away must find it in the slot). The level is their
sum, so the rules hold for the sum too: as no slot reserves more than it has on hand,
the level never does. A movement is split over slots (`split`): one that takes from the
slots draws on the first slot, from a given starting point, that can take all of it,
else on as many as it needs in turn — two reservations meet only when they draw on the
same slot; what comes in is spread so that the slots' availabilities even out. For the
level's rules a split never refuses a reservation the summed level would allow (each
slot having on hand ≥ reserved).

No I/O: the materials' stock balances and the proposals' budgets keep their slots in
MongoDB, each slot update conditional on the slot's rules.

Where a transaction starts drawing decides whom it meets. Transactions of one process
take turns (`SlotTurns`): at most one at a time starts at a slot, so they never meet
each other there — with more transactions in flight than slots (a burst of approvals,
a backlog), the extra ones wait for a turn instead of aborting and running again, which
under snapshot isolation only a turn taken *before* the transaction's first read can
prevent. Replicas start apart at random, as two of them cannot agree on anything cheaper.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import random
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass

EPSILON = 1e-9


def rounded(quantity: float) -> float:
    """Six decimals keep float sums (0.1 + 0.2) from showing as 0.30000000000000004
    without hiding any real quantity (whole bags, tenths of m³, rupiah)."""
    return round(quantity, 6) + 0.0  # + 0.0 turns -0.0 into 0.0


@dataclass(frozen=True)
class Level:
    on_hand: float = 0.0
    reserved: float = 0.0

    @property
    def available(self) -> float:
        return rounded(self.on_hand - self.reserved)


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


class SlotTurns:
    """Which slot each of this process's transactions starts drawing on: a free one
    (round robin from a random point), else the next one's turn is waited for."""

    def __init__(self, slots: int, *, first: int | None = None) -> None:
        """``first``: the slot the round robin starts at (a random one if None)."""
        self._turns = [asyncio.Lock() for _ in range(slots)]
        self._next = itertools.count(random.randrange(1 << 16) if first is None else first)

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[int]:
        """Hold a slot for a whole transaction, retries included; yields its index."""
        first = next(self._next)
        count = len(self._turns)
        chosen = next(
            (i for i in ((first + k) % count for k in range(count)) if not self._turns[i].locked()),
            first % count,
        )
        async with self._turns[chosen]:
            yield chosen
