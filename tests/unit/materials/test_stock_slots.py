"""A level kept in slots: how a movement is split over them, and that the sum of the slots
keeps the level's rules — never more reserved than on hand — while refusing no
reservation or dispatch the level as one document would have taken."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.slots import EPSILON, Level, room, rounded, split, total

# (on_hand_change, reserved_change) per unit, and whether availability is required, as
# `entry` makes them: receipt, reservation, release, dispatch, count up, count down, and
# a loss found on delivery (a fact: recorded even when it leaves the books short)
KINDS = {
    "receipt": (1.0, 0.0, True),
    "reservation": (0.0, 1.0, True),
    "release": (0.0, -1.0, True),
    "dispatch": (-1.0, -1.0, True),
    "found": (1.0, 0.0, True),
    "count down": (-1.0, 0.0, True),
    "over-shipped": (-1.0, 0.0, False),
}

tenths = st.integers(min_value=0, max_value=5000).map(lambda n: n / 10)


@st.composite
def sound_slots(draw: st.DrawFn) -> list[Level]:
    """Slots as the rules keep them: reserved never more than on hand."""
    count = draw(st.integers(min_value=1, max_value=8))
    slots = []
    for _ in range(count):
        on_hand = draw(tenths)
        reserved = draw(
            st.integers(min_value=0, max_value=round(on_hand * 10)).map(lambda n: n / 10)
        )
        slots.append(Level(on_hand, reserved))
    return slots


def apply(slots: list[Level], parts: list[tuple[int, float]], on: float, res: float) -> list[Level]:
    after = list(slots)
    for index, quantity in parts:
        s = after[index]
        after[index] = Level(
            rounded(s.on_hand + on * quantity), rounded(s.reserved + res * quantity)
        )
    return after


def within_rules(before: Level, after: Level, on: float, res: float, require: bool) -> bool:
    ok = after.on_hand >= -EPSILON and after.reserved >= -EPSILON
    return ok and (not require or on - res >= 0 or after.available >= -EPSILON)


@settings(max_examples=400, deadline=None)
@given(
    slots=sound_slots(),
    kind=st.sampled_from(sorted(KINDS)),
    quantity=tenths.filter(lambda q: q > 0),
    start=st.integers(min_value=0, max_value=100),
)
def test_a_split_adds_up_keeps_each_slot_in_its_rules_refusing_only_what_the_level_would(
    slots: list[Level], kind: str, quantity: float, start: int
) -> None:
    on, res, require = KINDS[kind]
    parts = split(
        slots, on * quantity, res * quantity, require_available=require, start=start % len(slots)
    )
    level = total(slots)
    # what the level as one document would take (each slot has reserved <= on hand)
    whole = room(level, on * quantity, res * quantity, require_available=require)
    if parts is None:
        assert whole < quantity - EPSILON, (kind, level, quantity)
        return
    assert rounded(sum(q for _, q in parts)) == quantity
    assert all(q > 0 for _, q in parts) and len({i for i, _ in parts}) == len(parts)
    after = apply(slots, parts, on, res)
    for index, (b, a) in enumerate(zip(slots, after, strict=True)):
        assert within_rules(b, a, on, res, require), (kind, index, b, a)
    assert total(after) == Level(
        rounded(level.on_hand + on * quantity), rounded(level.reserved + res * quantity)
    )


@settings(max_examples=300, deadline=None)
@given(
    slots=sound_slots(),
    wants=st.lists(tenths.filter(lambda q: q > 0), min_size=1, max_size=30),
    starts=st.lists(st.integers(min_value=0, max_value=100), min_size=30, max_size=30),
)
def test_reservations_one_after_another_never_reserve_more_than_is_on_hand(
    slots: list[Level], wants: list[float], starts: list[int]
) -> None:
    on_hand = total(slots).on_hand
    for want, start in zip(wants, starts, strict=False):
        available = total(slots).available
        parts = split(slots, 0.0, want, require_available=True, start=start % len(slots))
        assert (parts is None) == (want > available + EPSILON)
        if parts is not None:
            slots = apply(slots, parts, 0.0, 1.0)
        assert all(s.reserved <= s.on_hand + EPSILON for s in slots)
        assert total(slots).reserved <= on_hand + EPSILON
        assert total(slots).on_hand == on_hand


def test_a_reservation_draws_on_one_slot_when_one_can_cover_it() -> None:
    slots = [Level(10, 0), Level(5, 0), Level(0, 0)]
    assert split(slots, 0, 7, require_available=True, start=1) == [(0, 7)]
    assert split(slots, 0, 4, require_available=True, start=1) == [(1, 4)]


def test_a_reservation_no_slot_covers_draws_on_several_from_its_start() -> None:
    slots = [Level(10, 0), Level(5, 0), Level(0, 0)]
    assert split(slots, 0, 12, require_available=True, start=1) == [(0, 7), (1, 5)]
    assert split(slots, 0, 15.1, require_available=True, start=1) is None


def test_stock_coming_in_evens_out_the_slots() -> None:
    slots = [Level(10, 0), Level(5, 0), Level(0, 0)]
    assert split(slots, 12, 0, require_available=True, start=0) == [(1, 3.5), (2, 8.5)]
    assert split(slots, 30, 0, require_available=True, start=2) == [(0, 5), (1, 10), (2, 15)]


def test_a_dispatch_takes_what_is_both_reserved_and_on_hand() -> None:
    # a slot left short by a fact: 0 on hand, 5 reserved; it cannot send anything
    slots = [Level(10, 10), Level(0, 5)]
    assert split(slots, -10, -10, require_available=True, start=1) == [(0, 10)]


def test_a_movement_that_changes_nothing_writes_no_slot() -> None:
    assert split([Level(1, 0)], 0, 0, require_available=True, start=0) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [((1, 0), math.inf), ((0, 1), 6), ((0, -1), 4), ((-1, -1), 4), ((-1, 0), 6)],
)
def test_room_is_what_a_slot_can_take(changes: tuple[float, float], expected: float) -> None:
    assert room(Level(10, 4), *changes, require_available=True) == expected
