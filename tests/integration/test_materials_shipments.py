"""Shipments against real MongoDB: dispatch from a reservation, receipts with differences
(adjustments with a reason, what is still owed re-opened), fulfilment, exactly-once
confirmation."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from services.materials.adapters.stock import StockRepository
from shared.slots import Level
from tests.support.events import proposal_cancelled
from tests.support.infrastructure import Infrastructure
from tests.support.materials import (
    CENTRAL,
    ROAD_BILL,
    SOUTH,
    MaterialsApi,
    assert_levels_match_the_ledger,
    emitted,
    handle,
    job_lines,
    levels,
    receive_stock,
)
from tests.support.people import (
    CITY_OFFICER,
    KECAMATAN_OFFICER,
    OTHER_KECAMATAN_OFFICER,
    RESIDENT,
    RT_HEAD,
    SUPERVISOR,
    WAREHOUSE_OFFICER,
    auth,
)
from tests.support.probe import EventProbe

OTHER_RT_HEAD = RT_HEAD.model_copy(update={"id": "rt-head-siti", "rt": "004"})


def all_arrived(shipment: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"item": ln["item"], "received": ln["quantity"]} for ln in shipment["lines"]]


async def test_dispatch_takes_the_reservation_off_the_shelf_and_announces_it(
    infra: Infrastructure, namespace: str, materials: MaterialsApi
) -> None:
    proposal_id = await materials.approved_road()
    async with EventProbe(infra.amqp_url, namespace, ["material.dispatched"]) as probe:
        response = await materials.dispatch(proposal_id)
        assert response.status_code == 201, response.text
        await probe.wait_for(lambda: len(probe.messages) == 1, what="material.dispatched")
    shipment = response.json()
    assert {ln["item"]: ln["quantity"] for ln in shipment["lines"]} == ROAD_BILL
    assert shipment["note"] == "truck BH 1234 XY, driver Andi"

    lines = job_lines(await materials.job(proposal_id))
    assert {i: (ln["reserved"], ln["sent"], ln["in_transit"]) for i, ln in lines.items()} == {
        i: (0, q, q) for i, q in ROAD_BILL.items()
    }
    assert (await levels(materials.runtime))[(CENTRAL, "cement")] == Level(0, 0)
    dispatches, _ = await StockRepository(materials.runtime.db).entries(
        kind="dispatch", shipment_id=uuid.UUID(shipment["id"])
    )
    assert sorted((e.item, e.quantity) for e in dispatches) == sorted(
        (i, -q) for i, q in ROAD_BILL.items()
    )
    in_transit = await materials.api.get(
        "/shipments", params={"status": "in_transit"}, headers=auth(WAREHOUSE_OFFICER)
    )
    assert [s["id"] for s in in_transit.json()["items"]] == [shipment["id"]]
    await assert_levels_match_the_ledger(materials.runtime)


async def test_a_full_delivery_fulfils_the_job(materials: MaterialsApi) -> None:
    proposal_id = await materials.approved_road()
    shipment = (await materials.dispatch(proposal_id)).json()
    response = await materials.confirm(shipment["id"], all_arrived(shipment))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "received"
    job = await materials.job(proposal_id)
    assert job["status"] == "fulfilled"
    [fulfilled] = await emitted(materials.runtime, "material.fulfilled")
    assert {ln["item"]: ln["quantity"] for ln in fulfilled["lines"]} == ROAD_BILL
    assert len(await emitted(materials.runtime, "material.delivered")) == 1
    in_transit = await materials.api.get(
        "/shipments", params={"status": "in_transit"}, headers=auth(WAREHOUSE_OFFICER)
    )
    assert in_transit.json()["total"] == 0


async def test_a_short_delivery_records_an_adjustment_and_reopens_what_is_owed(
    materials: MaterialsApi,
) -> None:
    # 5 m³ of sand more than the bill stay in stock for the re-delivery
    proposal_id = await materials.approved_road({**ROAD_BILL, "sand": 46.1})
    shipment = (await materials.dispatch(proposal_id)).json()
    lines = [
        {"item": "cement", "received": 493},
        {"item": "sand", "received": 40, "discrepancy_reason": "lost"},
        {"item": "gravel", "received": 43.3},
    ]
    response = await materials.confirm(shipment["id"], lines)
    assert response.status_code == 200, response.text

    adjustments, _ = await StockRepository(materials.runtime.db).entries(kind="adjustment")
    [lost] = adjustments
    assert (lost.item, lost.quantity, lost.reason, lost.warehouse) == (
        "sand",
        -1.1,
        "lost",
        CENTRAL,
    )
    assert (lost.on_hand_change, lost.shipment_id) == (0, uuid.UUID(shipment["id"]))
    [delivered] = await emitted(materials.runtime, "material.delivered")
    sand = next(ln for ln in delivered["lines"] if ln["item"] == "sand")
    assert (sand["sent"], sand["received"], sand["discrepancy_reason"]) == (41.1, 40, "lost")

    # the 1.1 m³ still owed was reserved again from what is in stock
    job = await materials.job(proposal_id)
    sand_line = job_lines(job)["sand"]
    assert (sand_line["received"], sand_line["outstanding"], sand_line["reserved"]) == (
        40,
        1.1,
        1.1,
    )
    assert job["status"] == "reserved"
    reserved = await emitted(materials.runtime, "material.reserved")
    assert [r["complete"] for r in reserved] == [True, True]
    assert await emitted(materials.runtime, "material.fulfilled") == []

    second = (await materials.dispatch(proposal_id)).json()
    assert {ln["item"]: ln["quantity"] for ln in second["lines"]} == {"sand": 1.1}
    assert (await materials.confirm(second["id"], all_arrived(second))).status_code == 200
    assert (await materials.job(proposal_id))["status"] == "fulfilled"
    assert len(await emitted(materials.runtime, "material.fulfilled")) == 1
    assert (await levels(materials.runtime))[(CENTRAL, "sand")] == Level(3.9, 0)
    await assert_levels_match_the_ledger(materials.runtime)


async def test_a_short_delivery_without_stock_waits_and_is_completed_by_a_receipt(
    materials: MaterialsApi,
) -> None:
    proposal_id = await materials.approved_road()
    shipment = (await materials.dispatch(proposal_id)).json()
    lines = [
        {"item": "cement", "received": 488, "discrepancy_reason": "damaged"},
        {"item": "sand", "received": 41.1},
        {"item": "gravel", "received": 43.3},
    ]
    assert (await materials.confirm(shipment["id"], lines)).status_code == 200
    assert (await materials.job(proposal_id))["status"] == "waiting"
    [shortage] = await emitted(materials.runtime, "material.shortage")
    assert shortage["missing"] == [{"item": "cement", "unit": "bag", "quantity": 5}]

    receipt = await receive_stock(materials.api, {"cement": 50})
    assert receipt.json()["jobs_topped_up"] == [str(proposal_id)]
    job = await materials.job(proposal_id)
    assert job["status"] == "reserved"
    assert job_lines(job)["cement"]["reserved"] == 5


async def test_short_shipped_is_recorded_but_never_put_back_on_the_shelf(
    materials: MaterialsApi,
) -> None:
    proposal_id = await materials.approved_road()
    shipment = (await materials.dispatch(proposal_id)).json()
    lines = [
        {"item": "cement", "received": 0, "discrepancy_reason": "short_shipped"},
        {"item": "sand", "received": 41.1},
        {"item": "gravel", "received": 43.3},
    ]
    assert (await materials.confirm(shipment["id"], lines)).status_code == 200
    # the RT head's word moves no stock: the warehouse count stays as the dispatch left it
    assert (await levels(materials.runtime))[(CENTRAL, "cement")] == Level(0, 0)
    adjustments, _ = await StockRepository(materials.runtime.db).entries(kind="adjustment")
    assert [(e.quantity, e.on_hand_change, e.reason) for e in adjustments] == [
        (-493, 0, "short_shipped")
    ]
    # what is still owed is re-opened for the job, waiting for stock
    job = await materials.job(proposal_id)
    assert job["status"] == "waiting"
    assert job_lines(job)["cement"]["short"] == 493
    # only a warehouse officer's explicit adjustment puts the bags back, and they serve the job
    response = await materials.api.post(
        "/stock/adjustments",
        json={"warehouse": CENTRAL, "item": "cement", "quantity": 493, "reason": "found"},
        headers=auth(WAREHOUSE_OFFICER),
    )
    assert response.status_code == 201, response.text
    assert (await levels(materials.runtime))[(CENTRAL, "cement")] == Level(493, 493)
    await assert_levels_match_the_ledger(materials.runtime)


async def test_an_over_shipment_is_recorded_without_moving_stock(
    materials: MaterialsApi,
) -> None:
    proposal_id = await materials.approved_road({**ROAD_BILL, "cement": 600})
    shipment = (
        await materials.dispatch(proposal_id, lines=[{"item": "cement", "quantity": 400}])
    ).json()
    lines = [{"item": "cement", "received": 420, "discrepancy_reason": "over_shipped"}]
    assert (await materials.confirm(shipment["id"], lines)).status_code == 200
    # 600 - 400 sent = 200 on hand (the 20 more are the warehouse's to count); 73 still owed
    assert (await levels(materials.runtime))[(CENTRAL, "cement")] == Level(200, 73)
    adjustments, _ = await StockRepository(materials.runtime.db).entries(kind="adjustment")
    assert [(e.quantity, e.on_hand_change, e.reason) for e in adjustments] == [
        (20, 0, "over_shipped")
    ]
    # giving back a surplus is a ledger matter; material.released is for a job given up
    assert await emitted(materials.runtime, "material.released") == []
    releases, _ = await StockRepository(materials.runtime.db).entries(kind="release")
    assert [(e.quantity, e.reason) for e in releases] == [(-20, "delivered_in_excess")]
    await assert_levels_match_the_ledger(materials.runtime)


async def test_an_rt_head_cannot_drain_stock_by_confirming_far_more_than_was_sent(
    materials: MaterialsApi,
) -> None:
    proposal_id = await materials.approved_road({**ROAD_BILL, "cement": 5000})
    shipment = (
        await materials.dispatch(proposal_id, lines=[{"item": "cement", "quantity": 10}])
    ).json()
    before = await levels(materials.runtime)
    lines = [{"item": "cement", "received": 5000, "discrepancy_reason": "over_shipped"}]
    response = await materials.confirm(shipment["id"], lines)
    assert response.status_code == 422, response.text
    assert "Contact the warehouse" in response.json()["detail"]
    assert await levels(materials.runtime) == before
    assert (await StockRepository(materials.runtime.db).entries(kind="adjustment"))[1] == 0


async def test_a_repeated_confirmation_never_counts_twice(materials: MaterialsApi) -> None:
    proposal_id = await materials.approved_road()
    shipment = (await materials.dispatch(proposal_id)).json()
    responses = await asyncio.gather(
        *(materials.confirm(shipment["id"], all_arrived(shipment)) for _ in range(3))
    )
    assert sorted(r.status_code for r in responses) == [200, 409, 409]
    refused = next(r for r in responses if r.status_code == 409).json()["detail"]
    assert refused == (
        f"shipment {shipment['id']} was confirmed already (by {RT_HEAD.id}); "
        "nothing was counted twice"
    )
    lines = job_lines(await materials.job(proposal_id))
    assert {i: ln["received"] for i, ln in lines.items()} == ROAD_BILL
    assert len(await emitted(materials.runtime, "material.delivered")) == 1
    assert len(await emitted(materials.runtime, "material.fulfilled")) == 1


async def test_who_may_dispatch_and_confirm(materials: MaterialsApi) -> None:
    proposal_id = await materials.approved_road()
    response = await materials.api.post(
        f"/jobs/{proposal_id}/shipments", json={"warehouse": CENTRAL}, headers=auth(RT_HEAD)
    )
    assert response.status_code == 403
    assert response.json()["detail"] == "only a warehouse officer dispatches materials"
    shipment = (await materials.dispatch(proposal_id)).json()
    # who may see the job but not confirm: 403
    for actor in (WAREHOUSE_OFFICER, KECAMATAN_OFFICER, RESIDENT):
        response = await materials.confirm(shipment["id"], all_arrived(shipment), actor)
        assert response.status_code == 403, actor
        assert response.json()["detail"] == (
            "only the RT head of the job's RT confirms what arrived"
        )
    # the RT head of another RT may not see it: the 404 of an unknown shipment
    response = await materials.confirm(shipment["id"], all_arrived(shipment), OTHER_RT_HEAD)
    assert response.status_code == 404
    assert response.json()["detail"] == f"no shipment {shipment['id']}"


async def test_a_job_and_its_shipments_are_read_only_within_its_area(
    materials: MaterialsApi,
) -> None:
    proposal_id = await materials.approved_road()
    shipment = (await materials.dispatch(proposal_id)).json()
    unknown = {
        f"/jobs/{proposal_id}": f"no materials job for proposal {proposal_id} (is it approved?)",
        f"/shipments/{shipment['id']}": f"no shipment {shipment['id']}",
    }
    for path, as_if_unknown in unknown.items():
        for actor in (OTHER_RT_HEAD, OTHER_KECAMATAN_OFFICER):
            response = await materials.api.get(path, headers=auth(actor))
            assert response.status_code == 404, (path, actor.id)
            assert response.json()["detail"] == as_if_unknown
        resident = await materials.api.get(path, headers=auth(RESIDENT))
        assert resident.status_code == 403, path
        for actor in (RT_HEAD, KECAMATAN_OFFICER, WAREHOUSE_OFFICER, CITY_OFFICER, SUPERVISOR):
            response = await materials.api.get(path, headers=auth(actor))
            assert response.status_code == 200, (path, actor.id, response.text)


async def test_a_retried_dispatch_with_the_same_key_ships_once(materials: MaterialsApi) -> None:
    proposal_id = await materials.approved_road({**ROAD_BILL, "cement": 600})
    body = {"warehouse": CENTRAL, "lines": [{"item": "cement", "quantity": 100}]}
    headers = {**auth(WAREHOUSE_OFFICER), "Idempotency-Key": "dispatch-1"}
    first, second = [
        await materials.api.post(f"/jobs/{proposal_id}/shipments", json=body, headers=headers)
        for _ in range(2)
    ]
    assert first.status_code == second.status_code == 201, first.text
    assert "Idempotent-Replay" not in first.headers
    assert second.headers["Idempotent-Replay"] == "true"
    assert second.json() == first.json()
    assert job_lines(await materials.job(proposal_id))["cement"]["sent"] == 100
    assert len(await emitted(materials.runtime, "material.dispatched")) == 1


async def test_retried_stock_receipts_and_adjustments_with_the_same_key_count_once(
    materials: MaterialsApi,
) -> None:
    receipt = {
        "warehouse": SOUTH,
        "supplier": "CV Bangun Jaya",
        "lines": [{"item": "cement", "quantity": 40}],
    }
    adjustment = {"warehouse": SOUTH, "item": "cement", "quantity": -5, "reason": "stocktake"}
    for path, body in (("/stock/receipts", receipt), ("/stock/adjustments", adjustment)):
        headers = {**auth(WAREHOUSE_OFFICER), "Idempotency-Key": f"key {path}"}
        first = await materials.api.post(path, json=body, headers=headers)
        second = await materials.api.post(path, json=body, headers=headers)
        assert first.status_code == second.status_code == 201, first.text
        assert second.headers["Idempotent-Replay"] == "true"
        assert second.json() == first.json()
    assert (await levels(materials.runtime))[(SOUTH, "cement")] == Level(35, 0)


async def test_a_retried_receipt_confirmation_with_the_same_key_is_replayed(
    materials: MaterialsApi,
) -> None:
    proposal_id = await materials.approved_road()
    shipment = (await materials.dispatch(proposal_id)).json()
    body = {"lines": all_arrived(shipment)}
    headers = {**auth(RT_HEAD), "Idempotency-Key": "confirm-1"}
    path = f"/shipments/{shipment['id']}/receipt"
    first = await materials.api.post(path, json=body, headers=headers)
    second = await materials.api.post(path, json=body, headers=headers)
    assert first.status_code == second.status_code == 200, second.text
    assert second.headers["Idempotent-Replay"] == "true"
    assert len(await emitted(materials.runtime, "material.delivered")) == 1


async def test_dispatch_refusals_say_what_to_do(materials: MaterialsApi) -> None:
    proposal_id = await materials.approved_road()
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"warehouse": SOUTH}, 409, f"nothing is reserved for this job at {SOUTH}; its stock "),
        ({"warehouse": "Gudang X"}, 422, "unknown warehouse 'Gudang X'"),
        ({"lines": [{"item": "cement", "quantity": 2.5}]}, 422, "steps of 1 bag; 2.5 is not"),
        (
            {"lines": [{"item": "cement", "quantity": 500}]},
            422,
            "cannot send 500 of cement from Gudang Kota Jambi: only 493 is reserved there",
        ),
    ]
    for body, status, message in cases:
        response = await materials.dispatch(proposal_id, **body)
        assert response.status_code == status, response.text
        assert message in response.json()["detail"]
    missing = await materials.dispatch(uuid.uuid4())
    assert missing.status_code == 404
    assert "is it approved?" in missing.json()["detail"]


async def test_a_cancelled_job_is_not_shipped_but_what_is_on_the_road_is_confirmed(
    materials: MaterialsApi,
) -> None:
    proposal_id = await materials.approved_road()
    shipment = (
        await materials.dispatch(proposal_id, lines=[{"item": "cement", "quantity": 100}])
    ).json()
    await handle(materials.runtime, materials.handlers, proposal_cancelled(proposal_id))
    refused = await materials.dispatch(proposal_id)
    assert refused.status_code == 409
    assert refused.json()["detail"] == "this job was cancelled; nothing more is sent to it"
    assert (await materials.confirm(shipment["id"], all_arrived(shipment))).status_code == 200
    assert (await levels(materials.runtime))[(CENTRAL, "cement")] == Level(393, 0)
    assert await emitted(materials.runtime, "material.fulfilled") == []
    await assert_levels_match_the_ledger(materials.runtime)
