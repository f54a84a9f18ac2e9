"""Several movements split over their levels' slots at once (`plan_slot_changes`): each
as the ones before it left the slots, exactly as recording them one by one would, the
slot changes in slot id order, and a refusal of any one refusing them all."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.materials.adapters.stock import LevelKey, SlotChange, plan_slot_changes
from services.materials.domain.stock import LedgerEntry, LedgerKind, Movement, entry
from shared.errors import Conflict
from shared.slots import Level, rounded, total

CENTRAL, SOUTH = "Gudang Kota Jambi", "Gudang Jambi Selatan"
AT = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
Slots = dict[LevelKey, list[tuple[str, Level]]]


def moved(
    kind: LedgerKind,
    quantity: float,
    item: str = "cement",
    *,
    warehouse: str = CENTRAL,
    outward: bool = False,
    in_transit: bool = False,
) -> LedgerEntry:
    movement = Movement(
        kind=kind,
        warehouse=warehouse,
        item=item,
        unit="bag",
        quantity=quantity,
        by="warehouse-officer-sari",
        at=AT,
        outward=outward,
        in_transit=in_transit,
    )
    return entry(movement, uuid.uuid4())


def slots_of(levels: dict[LevelKey, list[Level]]) -> Slots:
    """Slots with ids as the repository names them, in id order."""
    return {
        (w, i): sorted((f"{w}|{i}|{n}", level) for n, level in enumerate(found))
        for (w, i), found in levels.items()
    }


def applied(slots: Slots, changes: Sequence[SlotChange]) -> Slots:
    after = {key: dict(found) for key, found in slots.items()}
    for c in changes:
        key = (c.entry.warehouse, c.entry.item)
        level = after[key][c.slot_id]
        after[key][c.slot_id] = Level(
            rounded(level.on_hand + c.on_hand), rounded(level.reserved + c.reserved)
        )
    return {key: sorted(found.items()) for key, found in after.items()}


def level(slots: Slots, key: LevelKey = (CENTRAL, "cement")) -> Level:
    return total(found for _, found in slots[key])


def test_two_movements_of_one_level_are_split_each_after_the_other() -> None:
    slots = slots_of({(CENTRAL, "cement"): [Level(10, 0), Level(10, 0)]})
    first, second = moved("reservation", 6), moved("reservation", 6)
    changes = plan_slot_changes(slots, [first, second], require_available=True, start=0)
    # the first takes 6 of slot 0; 4 are left there, so the second takes slot 1 whole
    assert [(c.slot_id, c.entry.id, c.reserved) for c in changes] == [
        (slots[(CENTRAL, "cement")][0][0], first.id, 6.0),
        (slots[(CENTRAL, "cement")][1][0], second.id, 6.0),
    ]
    assert level(applied(slots, changes)) == Level(20, 12)


def test_a_movement_the_ones_before_it_leave_no_room_for_refuses_them_all() -> None:
    slots = slots_of({(CENTRAL, "cement"): [Level(10, 0)]})
    with pytest.raises(Conflict) as refused:
        plan_slot_changes(
            slots,
            [moved("reservation", 6), moved("reservation", 6)],
            require_available=True,
            start=0,
        )
    # the level as the first reservation left it
    assert str(refused.value) == (
        f"{CENTRAL} cannot reserve 6 bag of cement: it has 10 on hand, 6 of them reserved, "
        "4 available"
    )


def test_a_level_not_stocked_refuses_the_movements() -> None:
    slots = slots_of({(CENTRAL, "cement"): [Level(10, 0)]})
    with pytest.raises(Conflict, match=f"{SOUTH} does not stock cement"):
        plan_slot_changes(
            slots,
            [moved("reservation", 1), moved("reservation", 1, warehouse=SOUTH)],
            require_available=True,
            start=0,
        )


def test_changes_come_in_slot_id_order_a_slots_own_in_the_movements_order() -> None:
    slots = slots_of(
        {(CENTRAL, "sand"): [Level(50, 0)] * 3, (CENTRAL, "cement"): [Level(50, 0)] * 3}
    )
    entries = [
        moved("reservation", 5, item="sand"),
        moved("reservation", 5, item="cement"),
        moved("release", 2, item="sand"),
    ]
    changes = plan_slot_changes(slots, entries, require_available=True, start=1)
    assert [c.slot_id for c in changes] == sorted(c.slot_id for c in changes)
    sand = [c.entry.id for c in changes if c.entry.item == "sand"]
    assert sand == [entries[0].id, entries[2].id]
    assert {c.slot_id for c in changes} == {
        f"{CENTRAL}|sand|1",
        f"{CENTRAL}|cement|1",
    }


def test_movements_that_change_nothing_need_no_slot() -> None:
    slots = slots_of({(CENTRAL, "cement"): [Level(0, 0)]})
    lost = moved("adjustment", 3, outward=True, in_transit=True)
    assert plan_slot_changes(slots, [lost], require_available=False, start=0) == []


KINDS: list[tuple[LedgerKind, bool]] = [
    ("receipt", False),
    ("reservation", False),
    ("release", False),
    ("dispatch", False),
    ("adjustment", False),
    ("adjustment", True),
]
tenths = st.integers(min_value=1, max_value=400).map(lambda n: n / 10)


@st.composite
def sound_levels(draw: st.DrawFn) -> dict[LevelKey, list[Level]]:
    """Two levels of a few slots each, reserved never more than on hand."""
    levels: dict[LevelKey, list[Level]] = {}
    for key in ((CENTRAL, "cement"), (SOUTH, "cement")):
        found = []
        for _ in range(draw(st.integers(min_value=1, max_value=4))):
            on_hand = draw(st.integers(min_value=0, max_value=500)) / 10
            reserved = draw(st.integers(min_value=0, max_value=round(on_hand * 10))) / 10
            found.append(Level(on_hand, reserved))
        levels[key] = found
    return levels


@st.composite
def some_entries(draw: st.DrawFn) -> list[LedgerEntry]:
    count = draw(st.integers(min_value=1, max_value=6))
    entries = []
    for _ in range(count):
        kind, outward = draw(st.sampled_from(KINDS))
        warehouse = draw(st.sampled_from([CENTRAL, SOUTH]))
        entries.append(moved(kind, draw(tenths), warehouse=warehouse, outward=outward))
    return entries


def one_by_one(
    slots: Slots, entries: list[LedgerEntry], require: bool, start: int
) -> tuple[Slots, list[SlotChange]] | None:
    """What recording each entry alone, after the ones before, does (None: refused)."""
    changes: list[SlotChange] = []
    for e in entries:
        try:
            own = plan_slot_changes(slots, [e], require_available=require, start=start)
        except Conflict:
            return None
        slots = applied(slots, own)
        changes += own
    return slots, changes


@settings(max_examples=300, deadline=None)
@given(
    levels=sound_levels(),
    entries=some_entries(),
    require=st.booleans(),
    start=st.integers(min_value=0, max_value=50),
)
def test_movements_at_once_change_the_slots_as_one_by_one_would(
    levels: dict[LevelKey, list[Level]], entries: list[LedgerEntry], require: bool, start: int
) -> None:
    slots = slots_of(levels)
    alone = one_by_one(slots, entries, require, start)
    if alone is None:
        with pytest.raises(Conflict):
            plan_slot_changes(slots, entries, require_available=require, start=start)
        return
    changes = plan_slot_changes(slots, entries, require_available=require, start=start)
    after, separate = alone
    assert applied(slots, changes) == after
    # the same parts, only in slot id order (a slot's own parts in the entries' order)
    assert changes == sorted(separate, key=lambda c: c.slot_id)
