"""A job's materials: reserving, dispatching what is reserved, confirming what arrived."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.materials.domain.job import MaterialJob, Shipment, ShipmentLine, ShipmentReceiptLine
from services.materials.domain.stock import StockQuantity
from shared.contracts.types import MaterialLine
from shared.errors import Conflict, Unprocessable
from tests.unit.materials.builders import UNITS, job_for

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
LATER = datetime(2026, 3, 3, 15, 30, tzinfo=UTC)
CENTRAL, SOUTH = "Gudang Kota Jambi", "Gudang Jambi Selatan"
REQUIRED = {"cement": 493.0, "sand": 41.1, "gravel": 43.3}


def new_job(reserved_at: str | None = CENTRAL) -> MaterialJob:
    """The 150 m road with its whole bill reserved at one warehouse (or nothing)."""
    job = job_for(REQUIRED)
    if reserved_at is not None:
        job.reserve([StockQuantity(reserved_at, item, q) for item, q in REQUIRED.items()])
    return job


def dispatch(
    job: MaterialJob, lines: dict[str, float] | None = None, warehouse: str = CENTRAL
) -> Shipment:
    requested = (
        None
        if lines is None
        else [ShipmentLine(item=item, quantity=quantity) for item, quantity in lines.items()]
    )
    return job.dispatch(uuid.uuid4(), warehouse, requested, "gudang-dedi", NOW)


def receipts(quantities: dict[str, float], reason: str | None = None) -> list[ShipmentReceiptLine]:
    return [
        ShipmentReceiptLine.model_validate(
            {"item": item, "received": q, "discrepancy_reason": reason}
        )
        for item, q in quantities.items()
    ]


def sent(shipment: Shipment) -> dict[str, float]:
    return {line.item: line.quantity for line in shipment.lines}


def reserved(job: MaterialJob) -> dict[str, float]:
    return {line.item: line.reserved for line in job.lines}


# --------------------------------------------------------------------------------------------
# reservations
# --------------------------------------------------------------------------------------------


def test_a_new_job_is_short_of_its_whole_bill_and_waiting() -> None:
    job = new_job(reserved_at=None)
    assert job.shortfall() == REQUIRED
    assert job.status == "waiting" and job.waiting
    assert job.missing() == tuple(
        MaterialLine(item=item, unit=UNITS[item], quantity=q) for item, q in REQUIRED.items()
    )


def test_a_fully_reserved_job_is_reserved_and_not_waiting() -> None:
    job = new_job()
    assert job.shortfall() == {}
    assert job.status == "reserved" and not job.waiting
    assert reserved(job) == REQUIRED
    assert job.line("cement").reserved_at == {CENTRAL: 493}


def test_a_line_may_be_reserved_over_several_warehouses() -> None:
    job = new_job(reserved_at=None)
    job.reserve([StockQuantity(CENTRAL, "cement", 300), StockQuantity(SOUTH, "cement", 193)])
    assert job.line("cement").reserved_at == {CENTRAL: 300, SOUTH: 193}
    assert job.shortfall() == {"sand": 41.1, "gravel": 43.3}


def test_a_job_is_never_reserved_beyond_its_bill() -> None:
    job = new_job(reserved_at=None)
    job.reserve([StockQuantity(CENTRAL, "cement", 400)])
    with pytest.raises(Conflict, match=r"cannot reserve 94 bag of cement .* only 93 is still"):
        job.reserve([StockQuantity(SOUTH, "cement", 94)])
    with pytest.raises(Conflict, match="only 93"):  # split over two warehouses, still too much
        job.reserve([StockQuantity(SOUTH, "cement", 50), StockQuantity(CENTRAL, "cement", 44)])
    assert job.line("cement").reserved_at == {CENTRAL: 400}


attempts = st.lists(
    st.tuples(
        st.sampled_from([CENTRAL, SOUTH]),
        st.sampled_from(list(REQUIRED)),
        st.integers(min_value=1, max_value=6000).map(lambda n: n / 10),
    ),
    max_size=12,
)


@settings(deadline=None)
@given(attempts)
def test_whatever_is_asked_a_job_never_holds_more_than_its_bill(
    asked: list[tuple[str, str, float]],
) -> None:
    job = new_job(reserved_at=None)
    for warehouse, item, quantity in asked:
        before = reserved(job)
        try:
            job.reserve([StockQuantity(warehouse, item, quantity)])
        except Conflict:
            assert reserved(job) == before  # a refused reservation changes nothing
    for line in job.lines:
        assert 0 <= line.reserved <= line.required
        assert job.shortfall().get(line.item, 0) == pytest.approx(line.required - line.reserved)


def test_secured_counts_what_arrived_is_on_its_way_or_is_reserved() -> None:
    job = new_job(reserved_at=None)
    job.reserve([StockQuantity(CENTRAL, "cement", 493), StockQuantity(CENTRAL, "sand", 20)])
    shipment = dispatch(job, {"cement": 200})
    job.receive(shipment, receipts({"cement": 200}), "rt-head-budi", LATER)
    dispatch(job, {"cement": 100})
    secured = {line.item: line.quantity for line in job.secured()}
    assert secured == {"cement": 493, "sand": 20, "gravel": 0}


def test_cancelling_releases_every_reservation_and_stops_waiting() -> None:
    job = new_job(reserved_at=None)
    job.reserve([StockQuantity(CENTRAL, "cement", 300), StockQuantity(SOUTH, "cement", 100)])
    released = job.cancel()
    assert released == [StockQuantity(CENTRAL, "cement", 300), StockQuantity(SOUTH, "cement", 100)]
    assert reserved(job) == {"cement": 0, "sand": 0, "gravel": 0}
    assert job.status == "cancelled" and not job.waiting
    assert job.shortfall() == {}
    with pytest.raises(Conflict, match="cancelled"):
        dispatch(job)


def test_surplus_gives_back_what_an_over_delivery_made_unnecessary() -> None:
    job = new_job()
    shipment = dispatch(job, {"cement": 400})
    job.receive(shipment, receipts({"cement": 420}, "over_shipped"), "rt", LATER)
    # 73 bags are still owed; 93 are reserved: 20 go back
    assert job.surplus() == [StockQuantity(CENTRAL, "cement", 20)]
    assert job.line("cement").reserved_at == {CENTRAL: 73}
    assert job.surplus() == []


def test_surplus_takes_from_the_last_warehouse_first() -> None:
    job = new_job(reserved_at=None)
    job.reserve([StockQuantity(CENTRAL, "sand", 30), StockQuantity(SOUTH, "sand", 11.1)])
    shipment = dispatch(job, {"sand": 30})
    job.receive(shipment, receipts({"sand": 31.5}, "over_shipped"), "rt", LATER)
    assert job.surplus() == [StockQuantity(SOUTH, "sand", 1.5)]
    assert job.line("sand").reserved_at == {SOUTH: 9.6}


# --------------------------------------------------------------------------------------------
# dispatch
# --------------------------------------------------------------------------------------------


def test_dispatch_without_lines_sends_everything_reserved_at_the_warehouse() -> None:
    job = new_job()
    shipment = dispatch(job)
    assert shipment.lines == [
        MaterialLine(item=item, unit=UNITS[item], quantity=q) for item, q in REQUIRED.items()
    ]
    assert shipment.proposal_id == job.proposal_id
    assert shipment.warehouse == CENTRAL
    assert shipment.status == "in_transit"
    assert shipment.dispatched_by == "gudang-dedi"
    assert shipment.dispatched_at == NOW
    assert job.in_transit == REQUIRED
    assert {line.item: line.dispatched for line in job.lines} == REQUIRED
    assert reserved(job) == {"cement": 0, "sand": 0, "gravel": 0}
    assert job.shortfall() == {}  # on its way is not short


def test_dispatch_without_lines_sends_only_what_is_not_yet_on_its_way() -> None:
    job = new_job()
    dispatch(job, {"cement": 200})
    shipment = dispatch(job)
    assert sent(shipment) == {"cement": 293, "sand": 41.1, "gravel": 43.3}
    assert job.in_transit == REQUIRED


def test_dispatch_of_chosen_lines_sends_those_in_their_unit() -> None:
    job = new_job()
    shipment = dispatch(job, {"sand": 20.0})
    assert shipment.lines == [MaterialLine(item="sand", unit="m3", quantity=20.0)]
    assert job.in_transit == {"sand": 20.0}
    assert job.line("sand").reserved == pytest.approx(21.1)
    assert job.line("cement").reserved == 493


def test_dispatch_takes_only_from_the_named_warehouse() -> None:
    job = new_job(reserved_at=None)
    job.reserve([StockQuantity(CENTRAL, "cement", 300), StockQuantity(SOUTH, "cement", 193)])
    shipment = dispatch(job, warehouse=SOUTH)
    assert sent(shipment) == {"cement": 193}
    assert job.line("cement").reserved_at == {CENTRAL: 300}
    with pytest.raises(Unprocessable, match=r"cannot send 301 of cement from Gudang Kota Jambi"):
        dispatch(job, {"cement": 301})


def test_dispatch_of_exactly_what_remains_is_allowed() -> None:
    job = new_job()
    dispatch(job, {"cement": 400})
    assert sent(dispatch(job, {"cement": 93})) == {"cement": 93}
    assert job.line("cement").reserved == 0


def test_dispatch_beyond_what_is_reserved_is_unprocessable() -> None:
    job = new_job()
    with pytest.raises(
        Unprocessable,
        match=r"cannot send 494 of cement from Gudang Kota Jambi: only 493 is reserved there",
    ):
        dispatch(job, {"cement": 494})
    assert job.in_transit == {}


def test_dispatch_beyond_what_is_reserved_and_not_in_transit_is_unprocessable() -> None:
    job = new_job()
    dispatch(job, {"cement": 400})
    with pytest.raises(Unprocessable, match=r"cannot send 94 of cement .*: only 93 "):
        dispatch(job, {"cement": 94})
    assert job.in_transit == {"cement": 400}


def test_dispatch_of_an_item_not_on_the_bill_is_unprocessable() -> None:
    job = new_job()
    with pytest.raises(Unprocessable, match="'rebar' is not on this job's bill of materials"):
        dispatch(job, {"rebar": 10})


def test_dispatch_when_everything_is_on_its_way_is_a_conflict() -> None:
    job = new_job()
    dispatch(job)
    with pytest.raises(Conflict, match=r"nothing is reserved .* the rest is on its way"):
        dispatch(job)


def test_dispatch_from_a_warehouse_holding_nothing_says_where_the_stock_is() -> None:
    job = new_job(reserved_at=SOUTH)
    with pytest.raises(
        Conflict,
        match="nothing is reserved for this job at Gudang Kota Jambi; "
        "its stock is reserved at Gudang Jambi Selatan",
    ):
        dispatch(job)


def test_dispatch_of_a_waiting_job_says_what_it_waits_for() -> None:
    job = new_job(reserved_at=None)
    with pytest.raises(Conflict, match=r"waiting for stock: 493 bag of cement, 41.1 m3 of sand"):
        dispatch(job)


def test_dispatch_of_a_line_already_on_its_way_is_unprocessable() -> None:
    job = new_job()
    dispatch(job)
    with pytest.raises(Unprocessable, match="only 0 is reserved there"):
        dispatch(job, {"sand": 1})


def test_dispatch_for_a_fulfilled_job_is_a_conflict() -> None:
    job = new_job()
    job.fulfilled = True
    with pytest.raises(Conflict, match="arrived already"):
        dispatch(job)
    with pytest.raises(Conflict):
        dispatch(job, {"cement": 1})


# --------------------------------------------------------------------------------------------
# receive
# --------------------------------------------------------------------------------------------


def test_receiving_equal_quantities_records_them_and_clears_the_transit() -> None:
    job = new_job()
    shipment = dispatch(job)
    result = job.receive(shipment, receipts(REQUIRED), "rt-head-budi", LATER)
    assert [(r.item, r.unit, r.sent, r.received, r.discrepancy_reason) for r in result] == [
        (item, UNITS[item], q, q, None) for item, q in REQUIRED.items()
    ]
    assert {line.item: line.received for line in job.lines} == REQUIRED
    assert all(job.in_transit[item] == 0 for item in REQUIRED)
    assert shipment.status == "received"
    assert shipment.received_lines == result
    assert shipment.received_by == "rt-head-budi"
    assert shipment.received_at == LATER
    assert job.everything_arrived()
    assert job.fulfil() is True
    assert job.status == "fulfilled"
    assert job.fulfil() is False  # announced once


def test_receiving_short_without_a_reason_is_unprocessable_naming_the_item() -> None:
    job = new_job()
    shipment = dispatch(job, {"sand": 41.1})
    with pytest.raises(Unprocessable, match=r"^sand: 40 received but 41.1 sent; give a discr"):
        job.receive(shipment, receipts({"sand": 40}), "rt-head-budi", LATER)
    assert shipment.status == "in_transit"
    assert shipment.received_lines == []


def test_receiving_short_with_a_reason_reopens_the_difference_as_short() -> None:
    job = new_job()
    shipment = dispatch(job, {"sand": 41.1})
    [line] = job.receive(shipment, receipts({"sand": 40}, reason="lost"), "rt-head-budi", LATER)
    assert (line.sent, line.received, line.discrepancy_reason) == (41.1, 40, "lost")
    assert job.line("sand").outstanding == pytest.approx(1.1)
    # the job's reserved sand went out on the truck: the rest needs a new reservation
    assert job.shortfall() == {"sand": 1.1}
    assert job.status == "waiting"
    assert not job.everything_arrived()


def test_the_shortfall_can_be_reserved_and_dispatched_again() -> None:
    job = new_job()
    first = dispatch(job)
    job.receive(
        first,
        [*receipts({"cement": 493, "gravel": 43.3}), *receipts({"sand": 40}, reason="damaged")],
        "rt-head-budi",
        LATER,
    )
    with pytest.raises(Conflict, match=r"waiting for stock: 1.1 m3 of sand"):
        dispatch(job)
    job.reserve([StockQuantity(SOUTH, "sand", 1.1)])
    second = dispatch(job, warehouse=SOUTH)
    assert sent(second) == {"sand": 1.1}
    job.receive(second, receipts({"sand": 1.1}), "rt-head-budi", LATER)
    assert job.everything_arrived()
    assert job.line("sand").dispatched == pytest.approx(42.2)


def test_a_reason_is_dropped_when_the_quantities_agree() -> None:
    job = new_job()
    shipment = dispatch(job, {"gravel": 43.3})
    [line] = job.receive(shipment, receipts({"gravel": 43.3}, "lost"), "rt-head-budi", LATER)
    assert line.discrepancy_reason is None


def test_receiving_more_than_was_sent_needs_over_shipped_and_covers_the_line() -> None:
    job = new_job()
    shipment = dispatch(job, {"cement": 490})
    with pytest.raises(Unprocessable, match="cement"):
        job.receive(shipment, receipts({"cement": 493}), "rt-head-budi", LATER)
    with pytest.raises(Unprocessable, match="over_shipped is the reason for receiving more"):
        job.receive(shipment, receipts({"cement": 493}, "lost"), "rt-head-budi", LATER)
    [line] = job.receive(shipment, receipts({"cement": 493}, "over_shipped"), "rt", LATER)
    assert line.discrepancy_reason == "over_shipped"
    assert job.line("cement").outstanding == 0


def test_over_shipped_is_refused_for_a_short_delivery() -> None:
    job = new_job()
    shipment = dispatch(job, {"cement": 490})
    with pytest.raises(Unprocessable, match="over_shipped"):
        job.receive(shipment, receipts({"cement": 480}, "over_shipped"), "rt", LATER)


def test_receiving_the_same_shipment_twice_is_a_conflict() -> None:
    job = new_job()
    shipment = dispatch(job, {"cement": 100})
    job.receive(shipment, receipts({"cement": 100}), "rt-head-budi", LATER)
    with pytest.raises(Conflict, match=f"shipment {shipment.id} was confirmed already"):
        job.receive(shipment, receipts({"cement": 100}), "rt-head-budi", LATER)
    assert job.line("cement").received == 100


def test_receiving_an_item_not_on_the_shipment_is_unprocessable() -> None:
    job = new_job()
    shipment = dispatch(job, {"cement": 100})
    with pytest.raises(Unprocessable, match="not on this shipment: sand"):
        job.receive(shipment, receipts({"cement": 100, "sand": 5}), "rt-head-budi", LATER)
    assert shipment.status == "in_transit"
    assert job.line("cement").received == 0


def test_every_line_of_the_shipment_needs_a_receipt() -> None:
    job = new_job()
    shipment = dispatch(job, {"cement": 100, "gravel": 10})
    with pytest.raises(Unprocessable, match="say how much gravel arrived"):
        job.receive(shipment, receipts({"cement": 100}), "rt-head-budi", LATER)
    assert shipment.status == "in_transit"


def test_a_cancelled_job_still_records_what_was_already_on_its_way() -> None:
    job = new_job()
    shipment = dispatch(job, {"cement": 100})
    job.cancel()
    job.receive(shipment, receipts({"cement": 90}, "lost"), "rt-head-budi", LATER)
    assert job.line("cement").received == 90
    assert job.shortfall() == {}  # nothing is reserved again for a cancelled job
    assert job.fulfil() is False


# --------------------------------------------------------------------------------------------
# everything_arrived
# --------------------------------------------------------------------------------------------


def test_nothing_has_arrived_on_a_new_job() -> None:
    assert not new_job().everything_arrived()


@pytest.mark.parametrize(
    ("received", "arrived"),
    [
        ({"cement": 493, "sand": 41.1, "gravel": 43.3}, True),
        ({"cement": 500, "sand": 41.1, "gravel": 45.0}, True),
        ({"cement": 493, "sand": 41.0, "gravel": 43.3}, False),
        ({"cement": 492, "sand": 41.1, "gravel": 43.3}, False),
        ({"cement": 493, "sand": 41.1, "gravel": 0}, False),
    ],
)
def test_everything_arrived_only_when_every_line_is_covered(
    received: dict[str, float], arrived: bool
) -> None:
    job = new_job()
    for line in job.lines:
        line.received = received[line.item]
    assert job.everything_arrived() is arrived


# --------------------------------------------------------------------------------------------
# a refused request changes nothing
# --------------------------------------------------------------------------------------------


def test_a_refused_dispatch_leaves_nothing_in_transit() -> None:
    job = new_job()
    with pytest.raises(Unprocessable, match="sand"):
        dispatch(job, {"cement": 100, "sand": 999})
    assert job.in_transit == {}
    assert reserved(job) == REQUIRED


def test_the_same_item_twice_in_one_dispatch_counts_together() -> None:
    job = new_job()
    with pytest.raises(Unprocessable, match="cannot send 500 of cement"):
        job.dispatch(
            uuid.uuid4(),
            CENTRAL,
            [ShipmentLine(item="cement", quantity=250), ShipmentLine(item="cement", quantity=250)],
            "gudang-dedi",
            NOW,
        )
    assert job.in_transit == {}


def test_a_refused_receipt_counts_nothing() -> None:
    job = new_job()
    shipment = dispatch(job)
    confirmed = {**sent(shipment), "gravel": 40.0}  # gravel short, no reason given
    with pytest.raises(Unprocessable, match="gravel"):
        job.receive(shipment, receipts(confirmed), "rt-head-budi", LATER)
    assert [line.received for line in job.lines] == [0, 0, 0]
    assert job.in_transit == sent(shipment)
    assert shipment.status == "in_transit"


def test_an_item_confirmed_twice_in_one_receipt_is_refused() -> None:
    job = new_job()
    shipment = dispatch(job, {"cement": 100})
    with pytest.raises(Unprocessable, match="once per receipt"):
        job.receive(shipment, receipts({"cement": 50}) * 2, "rt-head-budi", LATER)


def test_a_shipment_of_another_job_is_refused() -> None:
    job, other = new_job(), new_job()
    shipment = dispatch(other)
    with pytest.raises(Unprocessable, match="another job"):
        job.receive(shipment, receipts(sent(shipment)), "rt-head-budi", LATER)


def test_an_rt_head_cannot_confirm_more_than_the_tolerance_over_what_was_sent() -> None:
    job = new_job()
    shipment = dispatch(job, {"cement": 10})
    with pytest.raises(Unprocessable, match=r"at most 10\.5 can be confirmed here\. Contact"):
        job.receive(shipment, receipts({"cement": 5000}, "over_shipped"), "rt", LATER)
    assert job.line("cement").received == 0 and shipment.status == "in_transit"
    [line] = job.receive(shipment, receipts({"cement": 10.5}, "over_shipped"), "rt", LATER)
    assert line.received == 10.5
