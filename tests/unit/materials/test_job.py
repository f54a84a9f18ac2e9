"""A job's materials: dispatching what is owed, confirming what arrived."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.materials.domain.job import JobLine, MaterialJob, Receipt, Shipment, ShipmentLine
from shared.contracts.types import Area, MaterialLine
from shared.errors import Conflict, Unprocessable

AREA = Area(kecamatan="Telanaipura", kelurahan="Simpang IV Sipin", rt="003")
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
LATER = datetime(2026, 3, 3, 15, 30, tzinfo=UTC)
REQUIRED = {"cement": 493.0, "sand": 41.1, "gravel": 43.3}
UNITS = {"cement": "bag", "sand": "m3", "gravel": "m3"}


def new_job() -> MaterialJob:
    return MaterialJob(
        proposal_id=uuid.uuid4(),
        area=AREA,
        proposer_id="rt-head-budi",
        work_volume_m3=72.0,
        norm="K-175",
        lines=[
            JobLine(item=item, unit=UNITS[item], required=quantity, reserved=quantity)
            for item, quantity in REQUIRED.items()
        ],
    )


def dispatch(job: MaterialJob, lines: dict[str, float] | None = None) -> Shipment:
    requested = (
        None
        if lines is None
        else [ShipmentLine(item=item, quantity=quantity) for item, quantity in lines.items()]
    )
    return job.dispatch(uuid.uuid4(), "Gudang Telanaipura", requested, "gudang-dedi", NOW)


def receipts(quantities: dict[str, float], reason: str | None = None) -> list[Receipt]:
    return [
        Receipt.model_validate({"item": item, "received": q, "discrepancy_reason": reason})
        for item, q in quantities.items()
    ]


def sent(shipment: Shipment) -> dict[str, float]:
    return {line.item: line.quantity for line in shipment.lines}


# --------------------------------------------------------------------------------------------
# dispatch
# --------------------------------------------------------------------------------------------


def test_dispatch_without_lines_sends_everything_owed() -> None:
    job = new_job()
    shipment = dispatch(job)
    assert shipment.lines == [
        MaterialLine(item=item, unit=UNITS[item], quantity=q) for item, q in REQUIRED.items()
    ]
    assert shipment.proposal_id == job.proposal_id
    assert shipment.status == "in_transit"
    assert shipment.dispatched_by == "gudang-dedi"
    assert shipment.dispatched_at == NOW
    assert job.in_transit == REQUIRED
    assert all(job.dispatchable(item) == 0 for item in REQUIRED)


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
    assert job.dispatchable("sand") == pytest.approx(21.1)
    assert job.dispatchable("cement") == 493


def test_dispatch_of_exactly_what_remains_is_allowed() -> None:
    job = new_job()
    dispatch(job, {"cement": 400})
    assert sent(dispatch(job, {"cement": 93})) == {"cement": 93}
    assert job.dispatchable("cement") == 0


def test_dispatch_beyond_what_is_owed_is_unprocessable() -> None:
    job = new_job()
    with pytest.raises(Unprocessable, match=r"cannot send 494 of cement: only 493"):
        dispatch(job, {"cement": 494})
    assert job.in_transit == {}


def test_dispatch_beyond_what_is_owed_and_not_in_transit_is_unprocessable() -> None:
    job = new_job()
    dispatch(job, {"cement": 400})
    with pytest.raises(Unprocessable, match=r"cannot send 94 of cement: only 93 "):
        dispatch(job, {"cement": 94})
    assert job.in_transit == {"cement": 400}


def test_dispatch_of_an_item_not_on_the_bill_is_unprocessable() -> None:
    job = new_job()
    with pytest.raises(Unprocessable, match="'rebar' is not on this job's bill of materials"):
        dispatch(job, {"rebar": 10})


def test_dispatch_when_everything_is_on_its_way_is_a_conflict() -> None:
    job = new_job()
    dispatch(job)
    with pytest.raises(Conflict, match="nothing left to dispatch"):
        dispatch(job)


def test_dispatch_of_a_line_already_on_its_way_is_unprocessable() -> None:
    job = new_job()
    dispatch(job)
    with pytest.raises(Unprocessable, match="only 0 is still owed"):
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


def test_receiving_short_without_a_reason_is_unprocessable_naming_the_item() -> None:
    job = new_job()
    shipment = dispatch(job, {"sand": 41.1})
    with pytest.raises(Unprocessable, match=r"^sand: 40 received but 41.1 sent; give a discr"):
        job.receive(shipment, receipts({"sand": 40}), "rt-head-budi", LATER)
    assert shipment.status == "in_transit"
    assert shipment.received_lines == []


def test_receiving_short_with_a_reason_keeps_the_difference_owed() -> None:
    job = new_job()
    shipment = dispatch(job, {"sand": 41.1})
    [line] = job.receive(shipment, receipts({"sand": 40}, reason="lost"), "rt-head-budi", LATER)
    assert (line.sent, line.received, line.discrepancy_reason) == (41.1, 40, "lost")
    assert job.line("sand").outstanding == pytest.approx(1.1)
    assert job.dispatchable("sand") == pytest.approx(1.1)
    assert not job.everything_arrived()


def test_the_shortfall_can_be_dispatched_again() -> None:
    job = new_job()
    first = dispatch(job)
    job.receive(
        first,
        [*receipts({"cement": 493, "gravel": 43.3}), *receipts({"sand": 40}, reason="damaged")],
        "rt-head-budi",
        LATER,
    )
    second = dispatch(job)
    assert sent(second) == {"sand": pytest.approx(1.1)}
    job.receive(second, receipts({"sand": second.lines[0].quantity}), "rt-head-budi", LATER)
    assert job.everything_arrived()
    with pytest.raises(Conflict, match="nothing left to dispatch"):
        dispatch(job)


def test_a_reason_is_dropped_when_the_quantities_agree() -> None:
    job = new_job()
    shipment = dispatch(job, {"gravel": 43.3})
    [line] = job.receive(shipment, receipts({"gravel": 43.3}, "lost"), "rt-head-budi", LATER)
    assert line.discrepancy_reason is None


def test_receiving_more_than_was_sent_needs_a_reason_and_covers_the_line() -> None:
    job = new_job()
    shipment = dispatch(job, {"cement": 490})
    with pytest.raises(Unprocessable, match="cement"):
        job.receive(shipment, receipts({"cement": 493}), "rt-head-budi", LATER)
    [line] = job.receive(shipment, receipts({"cement": 493}, "over_shipped"), "rt", LATER)
    assert line.discrepancy_reason == "over_shipped"
    assert job.line("cement").outstanding == 0


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


def test_the_same_item_twice_in_one_dispatch_counts_together() -> None:
    job = new_job()
    with pytest.raises(Unprocessable, match="cannot send 500 of cement"):
        job.dispatch(
            uuid.uuid4(),
            "Gudang Telanaipura",
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
