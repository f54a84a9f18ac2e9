"""Stock as a ledger: the effect of each movement, levels recomputed from the ledger, and
where a reservation is drawn from."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.materials.domain.stock import (
    Movement,
    StockQuantity,
    entry,
    levels_from_ledger,
    plan_reservation,
    subtract,
    totals,
)
from shared.slots import Level, rounded

AT = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
CENTRAL, SOUTH = "Gudang Kota Jambi", "Gudang Jambi Selatan"
WAREHOUSES = (CENTRAL, SOUTH)


def move(kind: str, quantity: float, **details: object) -> Movement:
    values: dict[str, object] = {
        "kind": kind,
        "warehouse": CENTRAL,
        "item": "cement",
        "unit": "bag",
        "quantity": quantity,
        "by": "gudang-dedi",
        "at": AT,
        **details,
    }
    return Movement(**values)  # type: ignore[arg-type]


def effects(movement: Movement) -> tuple[float, float, float]:
    e = entry(movement, uuid.uuid4())
    return e.quantity, e.on_hand_change, e.reserved_change


# --------------------------------------------------------------------------------------------
# movements
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("movement", "expected"),
    [
        (move("receipt", 100), (100, 100, 0)),
        (move("reservation", 40), (40, 0, 40)),
        (move("release", 40), (-40, 0, -40)),
        (move("dispatch", 30), (-30, -30, -30)),
        (move("adjustment", 5, reason="found"), (5, 5, 0)),
        (move("adjustment", 5, reason="damaged_in_store", outward=True), (-5, -5, 0)),
        (move("adjustment", 3, reason="short_shipped"), (3, 3, 0)),
        (move("adjustment", 3, reason="over_shipped", outward=True), (-3, -3, 0)),
        (move("adjustment", 2, reason="lost", outward=True, in_transit=True), (-2, 0, 0)),
    ],
    ids=[
        "receipt",
        "reservation",
        "release",
        "dispatch",
        "found",
        "damaged-in-store",
        "short-shipped",
        "over-shipped",
        "lost-on-the-road",
    ],
)
def test_each_movement_changes_the_level_as_the_table_says(
    movement: Movement, expected: tuple[float, float, float]
) -> None:
    assert effects(movement) == expected


def test_an_entry_keeps_who_when_why_and_for_what() -> None:
    proposal, shipment = uuid.uuid4(), uuid.uuid4()
    e = entry(
        move(
            "adjustment",
            2,
            reason="lost",
            note="2 bags fell off",
            outward=True,
            in_transit=True,
            proposal_id=proposal,
            shipment_id=shipment,
        ),
        uuid.uuid4(),
    )
    assert (e.kind, e.warehouse, e.item, e.unit) == ("adjustment", CENTRAL, "cement", "bag")
    assert (e.reason, e.note, e.by, e.at) == ("lost", "2 bags fell off", "gudang-dedi", AT)
    assert (e.proposal_id, e.shipment_id, e.receipt_id) == (proposal, shipment, None)


def test_levels_are_the_sum_of_the_ledger() -> None:
    ledger = [
        entry(move("receipt", 500), uuid.uuid4()),
        entry(move("receipt", 50.5, item="sand", unit="m3"), uuid.uuid4()),
        entry(move("reservation", 493), uuid.uuid4()),
        entry(move("dispatch", 493), uuid.uuid4()),
        entry(move("adjustment", 3, reason="short_shipped"), uuid.uuid4()),
        entry(move("reservation", 3), uuid.uuid4()),
        entry(move("release", 3), uuid.uuid4()),
        entry(move("receipt", 10, warehouse=SOUTH), uuid.uuid4()),
    ]
    assert levels_from_ledger(ledger) == {
        (CENTRAL, "cement"): Level(on_hand=10, reserved=0),
        (CENTRAL, "sand"): Level(on_hand=50.5, reserved=0),
        (SOUTH, "cement"): Level(on_hand=10, reserved=0),
    }


def test_tenths_of_m3_add_up_without_float_noise() -> None:
    ledger = [entry(move("receipt", q, item="sand", unit="m3"), uuid.uuid4()) for q in (0.1, 0.2)]
    assert levels_from_ledger(ledger)[(CENTRAL, "sand")].on_hand == 0.3
    assert rounded(-0.0) == 0.0 and str(rounded(-1e-12)) == "0.0"


# --------------------------------------------------------------------------------------------
# plan_reservation
# --------------------------------------------------------------------------------------------


def test_a_line_comes_from_the_first_warehouse_that_covers_it_whole() -> None:
    available = {CENTRAL: {"cement": 100, "sand": 50}, SOUTH: {"cement": 600}}
    plan = plan_reservation({"cement": 493, "sand": 41.1}, available, WAREHOUSES)
    assert plan == [StockQuantity(SOUTH, "cement", 493), StockQuantity(CENTRAL, "sand", 41.1)]


def test_a_line_no_warehouse_covers_is_split_in_warehouse_order() -> None:
    available = {CENTRAL: {"cement": 300}, SOUTH: {"cement": 100}}
    plan = plan_reservation({"cement": 493}, available, WAREHOUSES)
    assert plan == [StockQuantity(CENTRAL, "cement", 300), StockQuantity(SOUTH, "cement", 100)]


def test_nothing_is_planned_without_stock() -> None:
    assert plan_reservation({"cement": 493}, {}, WAREHOUSES) == []
    assert plan_reservation({"cement": 493}, {CENTRAL: {"cement": 0}}, WAREHOUSES) == []
    assert plan_reservation({"cement": 0}, {CENTRAL: {"cement": 10}}, WAREHOUSES) == []


def test_negative_availability_counts_as_none() -> None:
    plan = plan_reservation(
        {"cement": 5}, {CENTRAL: {"cement": -3}, SOUTH: {"cement": 2}}, WAREHOUSES
    )
    assert plan == [StockQuantity(SOUTH, "cement", 2)]


def test_subtract_and_totals() -> None:
    plan = [StockQuantity(CENTRAL, "sand", 0.1), StockQuantity(SOUTH, "sand", 0.2)]
    assert totals(plan) == {"sand": 0.3}
    left = subtract({CENTRAL: {"sand": 1.0}, SOUTH: {"sand": 0.2}}, plan)
    assert left == {CENTRAL: {"sand": 0.9}, SOUTH: {"sand": 0.0}}


tenths = st.integers(min_value=0, max_value=5000).map(lambda n: n / 10)
items = st.sampled_from(["cement", "sand", "gravel"])
needs_st = st.dictionaries(items, tenths, max_size=3)
available_st = st.dictionaries(
    st.sampled_from(WAREHOUSES), st.dictionaries(items, tenths, max_size=3), max_size=2
)


@settings(deadline=None)
@given(needs_st, available_st)
def test_a_plan_never_exceeds_the_need_nor_any_warehouse(
    needs: dict[str, float], available: dict[str, dict[str, float]]
) -> None:
    plan = plan_reservation(needs, available, WAREHOUSES)
    assert all(a.quantity > 0 for a in plan)
    for item, planned in totals(plan).items():
        assert planned <= needs[item] + 1e-9
    for warehouse, stock in subtract(available, plan).items():
        assert all(q >= -1e-9 for q in stock.values()), warehouse


@settings(deadline=None)
@given(needs_st, available_st)
def test_a_plan_takes_all_it_can(
    needs: dict[str, float], available: dict[str, dict[str, float]]
) -> None:
    planned = totals(plan_reservation(needs, available, WAREHOUSES))
    for item, need in needs.items():
        stock = sum(available.get(w, {}).get(item, 0.0) for w in WAREHOUSES)
        assert planned.get(item, 0.0) == pytest.approx(min(need, stock), abs=1e-6)
