"""A kecamatan's yearly ceiling: reservations never exceed it, releases never go below zero."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.proposals.domain.budget import (
    Allocation,
    Budget,
    budget_key,
    check_may_set_ceiling,
    no_ceiling,
    rupiah,
)
from shared.errors import Conflict, Forbidden
from shared.identity import Role
from tests.unit.proposals.builders import BY_ROLE, CITY_OFFICER, NOW

MILLION = 1_000_000


def allocation(ceiling: int, source: str = "http", at: datetime = NOW) -> Allocation:
    return Allocation.model_validate(
        {"ceiling_idr": ceiling, "by": CITY_OFFICER.id, "source": source, "at": at}
    )


def budget(ceiling: int = 500 * MILLION, reserved: int = 0) -> Budget:
    made = Budget.allocate("Telanaipura", 2026, allocation(ceiling))
    made.reserved_idr = reserved
    return made


def test_rupiah_is_written_with_dots() -> None:
    assert rupiah(150_000_000) == "Rp 150.000.000"
    assert rupiah(0) == "Rp 0"


def test_a_budget_is_keyed_by_kecamatan_and_year() -> None:
    assert budget().key == budget_key("Telanaipura", 2026) == "Telanaipura:2026"


def test_a_new_budget_has_its_ceiling_nothing_reserved_and_its_allocation() -> None:
    made = budget(300 * MILLION)
    assert (made.ceiling_idr, made.reserved_idr, made.left_idr) == (300 * MILLION, 0, 300 * MILLION)
    assert made.allocations == [allocation(300 * MILLION)]


def test_a_reservation_that_fits_is_taken() -> None:
    made = budget(300 * MILLION)
    made.reserve(150 * MILLION)
    made.reserve(150 * MILLION)
    assert (made.reserved_idr, made.left_idr) == (300 * MILLION, 0)


def test_a_reservation_over_the_ceiling_says_how_much_is_left() -> None:
    made = budget(300 * MILLION, reserved=200 * MILLION)
    with pytest.raises(Conflict) as refused:
        made.reserve(150 * MILLION)
    assert refused.value.message == (
        "the Telanaipura budget for 2026 has Rp 100.000.000 left of Rp 300.000.000; "
        "this job needs Rp 150.000.000"
    )
    assert made.reserved_idr == 200 * MILLION


def test_a_release_gives_the_cost_back() -> None:
    made = budget(300 * MILLION, reserved=250 * MILLION)
    made.release(150 * MILLION)
    assert (made.reserved_idr, made.left_idr) == (100 * MILLION, 200 * MILLION)


def test_a_release_of_more_than_is_reserved_is_refused() -> None:
    made = budget(300 * MILLION, reserved=100 * MILLION)
    with pytest.raises(Conflict, match=re.escape("only Rp 100.000.000 is reserved")):
        made.release(150 * MILLION)
    assert made.reserved_idr == 100 * MILLION


@pytest.mark.parametrize("ceiling", [200 * MILLION, 250 * MILLION, 900 * MILLION])
def test_the_ceiling_can_be_raised_or_lowered_down_to_what_is_reserved(ceiling: int) -> None:
    made = budget(500 * MILLION, reserved=200 * MILLION)
    made.set_ceiling(allocation(ceiling, "city-finance"))
    assert made.ceiling_idr == ceiling
    assert made.left_idr == ceiling - 200 * MILLION
    assert [a.ceiling_idr for a in made.allocations] == [500 * MILLION, ceiling]


def test_a_ceiling_below_what_is_reserved_is_refused() -> None:
    made = budget(500 * MILLION, reserved=200 * MILLION)
    with pytest.raises(Conflict) as refused:
        made.set_ceiling(allocation(199 * MILLION, "city-finance"))
    assert "approved jobs already hold Rp 200.000.000" in refused.value.message
    assert made.ceiling_idr == 500 * MILLION
    assert len(made.allocations) == 1


def test_the_budget_remembers_when_its_ceiling_was_set() -> None:
    made = budget(300 * MILLION)
    assert made.ceiling_at == NOW
    made.set_ceiling(allocation(400 * MILLION, "city-finance", NOW + timedelta(hours=1)))
    assert made.ceiling_set_at == made.ceiling_at == NOW + timedelta(hours=1)


def test_a_finance_allocation_older_than_the_ceiling_is_superseded() -> None:
    made = budget(300 * MILLION)
    made.set_ceiling(allocation(900 * MILLION, "city-finance", NOW + timedelta(hours=1)))
    older = allocation(400 * MILLION, "city-finance", NOW + timedelta(minutes=30))
    assert made.is_superseded_by_ceiling(older)
    same_time = allocation(950 * MILLION, "city-finance", NOW + timedelta(hours=1))
    newer = allocation(950 * MILLION, "city-finance", NOW + timedelta(hours=2))
    assert not made.is_superseded_by_ceiling(same_time)
    assert not made.is_superseded_by_ceiling(newer)


def test_a_person_over_http_always_sets_the_ceiling_and_its_time() -> None:
    made = budget(300 * MILLION)
    made.set_ceiling(allocation(900 * MILLION, "city-finance", NOW + timedelta(hours=5)))
    by_hand = allocation(500 * MILLION, "http", NOW + timedelta(hours=1))
    assert not made.is_superseded_by_ceiling(by_hand)
    made.set_ceiling(by_hand)
    assert (made.ceiling_idr, made.ceiling_at) == (500 * MILLION, NOW + timedelta(hours=1))


def test_a_budget_stored_before_the_time_was_kept_uses_its_last_allocation() -> None:
    stored = budget(300 * MILLION).model_dump(mode="python")
    del stored["ceiling_set_at"]
    stored["allocations"].append(
        allocation(900 * MILLION, "city-finance", NOW + timedelta(hours=1)).model_dump()
    )
    stored["ceiling_idr"] = 900 * MILLION
    made = Budget.model_validate(stored)
    assert made.ceiling_at == NOW + timedelta(hours=1)
    assert made.is_superseded_by_ceiling(allocation(400 * MILLION, "city-finance", NOW))


def test_times_are_compared_at_the_millisecond_mongodb_keeps() -> None:
    made = budget(300 * MILLION)
    made.set_ceiling(allocation(900 * MILLION, "city-finance", NOW.replace(microsecond=1_000)))
    same_millisecond = allocation(950 * MILLION, "city-finance", NOW.replace(microsecond=1_999))
    assert not made.is_superseded_by_ceiling(same_millisecond)


def test_no_ceiling_names_the_kecamatan_year_and_how_to_set_it() -> None:
    message = no_ceiling("Jelutung", 2027).message
    assert "no budget ceiling is set for Jelutung in 2027" in message
    assert "PUT /budgets/Jelutung/2027" in message
    assert "budget.allocated" in message


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.CITY_OFFICER])
def test_only_a_city_officer_sets_a_ceiling(role: Role) -> None:
    with pytest.raises(Forbidden, match="only a city officer"):
        check_may_set_ceiling(BY_ROLE[role])
    check_may_set_ceiling(CITY_OFFICER)


@given(
    ceiling=st.integers(0, 10**10),
    steps=st.lists(st.tuples(st.booleans(), st.integers(1, 10**9)), max_size=40),
)
def test_any_sequence_of_reservations_and_releases_stays_within_the_ceiling(
    ceiling: int, steps: list[tuple[bool, int]]
) -> None:
    made = budget(ceiling)
    held: list[int] = []
    for reserving, amount in steps:
        try:
            if reserving:
                made.reserve(amount)
                held.append(amount)
            elif held:
                made.release(held.pop())
        except Conflict:
            assert reserving and amount > made.left_idr
        assert 0 <= made.reserved_idr <= made.ceiling_idr
        assert made.reserved_idr == sum(held)
