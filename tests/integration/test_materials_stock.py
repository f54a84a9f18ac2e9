"""Stock against real MongoDB and RabbitMQ: receipts over HTTP and as `stock.received`,
adjustments, the ledger, and levels that are the sum of the ledger."""

from __future__ import annotations

import json

from shared.contracts import new_envelope
from tests.support.events import stock_received
from tests.support.infrastructure import Infrastructure
from tests.support.materials import (
    CENTRAL,
    SOUTH,
    MaterialsApi,
    assert_levels_match_the_ledger,
    levels,
    receive_stock,
)
from tests.support.people import CITY_OFFICER, RT_HEAD, WAREHOUSE_OFFICER, auth
from tests.support.probe import dead_letters_eventually, eventually_async
from tests.support.runtime import publish_envelope

OFFICER = auth(WAREHOUSE_OFFICER)


async def test_the_catalogue_lists_warehouses_and_stocked_items(materials: MaterialsApi) -> None:
    response = await materials.api.get("/catalogue", headers=auth(RT_HEAD))
    assert response.status_code == 200
    body = response.json()
    assert [w["name"] for w in body["warehouses"]] == [CENTRAL, SOUTH]
    assert {i["code"]: i["unit"] for i in body["items"]} == {
        "cement": "bag",
        "sand": "m3",
        "gravel": "m3",
        "split_stone": "m3",
    }


async def test_every_warehouse_starts_with_every_item_at_zero(materials: MaterialsApi) -> None:
    stock = await materials.stock()
    assert len(stock) == 2 * 4
    assert all(b["on_hand"] == b["reserved"] == b["available"] == 0 for b in stock.values())


async def test_a_receipt_puts_stock_on_the_books_one_ledger_entry_per_line(
    materials: MaterialsApi,
) -> None:
    response = await receive_stock(
        materials.api, {"cement": 500, "sand": 20.5}, receipt_id="SJ-2026-0042"
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["receipt_id"] == "SJ-2026-0042"
    assert [(e["kind"], e["item"], e["quantity"]) for e in body["entries"]] == [
        ("receipt", "cement", 500),
        ("receipt", "sand", 20.5),
    ]
    await receive_stock(materials.api, {"sand": 0.3})
    stock = await materials.stock(warehouse="gudang kota jambi")
    assert stock[(CENTRAL, "cement")]["on_hand"] == 500
    assert stock[(CENTRAL, "sand")] == {
        "warehouse": CENTRAL,
        "item": "sand",
        "unit": "m3",
        "on_hand": 20.8,
        "reserved": 0,
        "available": 20.8,
    }
    ledger = await materials.api.get(
        "/stock/ledger", params={"item": "sand"}, headers=auth(CITY_OFFICER)
    )
    entries = ledger.json()["items"]
    assert [(e["quantity"], e["by"]) for e in entries] == [
        (0.3, WAREHOUSE_OFFICER.id),
        (20.5, WAREHOUSE_OFFICER.id),
    ]  # newest first
    assert entries[1]["receipt_id"] == "SJ-2026-0042"
    assert entries[1]["reason"] == "from CV Bangun Jaya"
    await assert_levels_match_the_ledger(materials.runtime)


async def test_the_same_receipt_id_is_counted_once(materials: MaterialsApi) -> None:
    assert (await receive_stock(materials.api, {"cement": 10}, receipt_id="SJ-1")).is_success
    again = await receive_stock(materials.api, {"cement": 10}, receipt_id="SJ-1")
    assert again.status_code == 409
    assert again.json()["detail"] == (
        "stock receipt 'SJ-1' was recorded already; nothing was counted twice"
    )
    assert (await levels(materials.runtime))[(CENTRAL, "cement")].on_hand == 10


async def test_receipts_refuse_what_cannot_be_counted_with_a_reason(
    materials: MaterialsApi,
) -> None:
    cases: list[tuple[dict[str, float], str, str]] = [
        ({"cement": 10.5}, CENTRAL, "cement is counted in steps of 1 bag; 10.5 is not one"),
        ({"water": 10}, CENTRAL, "'water' is not a stocked item"),
        ({"cement": 10}, "Gudang X", "unknown warehouse 'Gudang X'; the warehouses are: Gudang"),
    ]
    for lines, warehouse, message in cases:
        response = await receive_stock(materials.api, lines, warehouse)
        assert response.status_code == 422, response.text
        assert message in response.json()["detail"]
    negative = await receive_stock(materials.api, {"cement": -5})
    assert negative.status_code == 422
    assert (await levels(materials.runtime))[(CENTRAL, "cement")].on_hand == 0


async def test_only_a_warehouse_officer_receives_stock(materials: MaterialsApi) -> None:
    response = await materials.api.post(
        "/stock/receipts",
        json={"warehouse": CENTRAL, "supplier": "x", "lines": [{"item": "cement", "quantity": 1}]},
        headers=auth(CITY_OFFICER),
    )
    assert response.status_code == 403
    assert response.json()["detail"] == "only a warehouse officer receives stock"


async def test_stock_levels_and_the_ledger_are_not_for_rt_heads(materials: MaterialsApi) -> None:
    for path in ("/stock", "/stock/ledger", "/shipments", "/jobs"):
        response = await materials.api.get(path, headers=auth(RT_HEAD))
        assert response.status_code == 403, path
        assert "warehouse_officer" in response.json()["detail"]


async def test_stock_received_from_the_city_system_is_counted_once_per_receipt_id(
    infra: Infrastructure, namespace: str, materials: MaterialsApi
) -> None:
    received = stock_received({"cement": 200, "gravel": 12.5}, warehouse=SOUTH)
    first = new_envelope(received, producer="city-warehouse", correlation_id="gr")
    # the city's system retries: the same event, and the same receipt as a new event
    retry = new_envelope(received, producer="city-warehouse", correlation_id="gr")
    for envelope in (first, first, retry):
        await publish_envelope(infra, namespace, envelope)

    async def handled() -> int:
        return await materials.runtime.db["inbox"].count_documents({})

    await eventually_async(handled, 2, what="both event ids handled")
    stock = await materials.stock(warehouse=SOUTH)
    assert stock[(SOUTH, "cement")]["on_hand"] == 200
    assert stock[(SOUTH, "gravel")]["on_hand"] == 12.5
    ledger = await materials.api.get("/stock/ledger", params={"warehouse": SOUTH}, headers=OFFICER)
    assert ledger.json()["total"] == 2
    assert {e["by"] for e in ledger.json()["items"]} == {"city-warehouse-system"}
    await assert_levels_match_the_ledger(materials.runtime)


async def test_stock_received_for_an_unknown_warehouse_is_dead_lettered_with_the_reason(
    infra: Infrastructure, namespace: str, materials: MaterialsApi
) -> None:
    received = stock_received({"cement": 200}, warehouse="Gudang Muaro Jambi")
    envelope = new_envelope(received, producer="city-warehouse", correlation_id="gr")
    await publish_envelope(infra, namespace, envelope)
    [letter] = await dead_letters_eventually(materials.runtime, 1)
    assert letter.message_id == str(envelope.event_id)
    assert letter.reason.startswith("refused: unknown warehouse 'Gudang Muaro Jambi'")
    assert received.receipt_id in letter.body_preview
    assert (await levels(materials.runtime))[(SOUTH, "cement")].on_hand == 0


async def test_adjustments_correct_a_level_with_a_reason(materials: MaterialsApi) -> None:
    await receive_stock(materials.api, {"cement": 100})

    async def adjust(quantity: float, reason: str = "stocktake") -> tuple[int, dict[str, object]]:
        response = await materials.api.post(
            "/stock/adjustments",
            json={
                "warehouse": CENTRAL,
                "item": "cement",
                "quantity": quantity,
                "reason": reason,
                "note": "counted on Monday",
            },
            headers=OFFICER,
        )
        body: dict[str, object] = response.json()
        return response.status_code, body

    status, entry = await adjust(-3, "damaged_in_store")
    assert status == 201, entry
    assert (entry["kind"], entry["quantity"], entry["reason"]) == (
        "adjustment",
        -3,
        "damaged_in_store",
    )
    assert (await adjust(5, "found"))[0] == 201
    assert (await levels(materials.runtime))[(CENTRAL, "cement")].on_hand == 102

    status, refused = await adjust(-103)
    assert status == 409
    assert refused["detail"] == (
        "Gudang Kota Jambi cannot adjust by 103 bag of cement: "
        "it has 102 on hand, 0 of them reserved, 102 available"
    )
    status, refused = await adjust(1, "because")
    assert status == 422 and "reason" in json.dumps(refused)
    status, refused = await adjust(0)
    assert status == 422 and "changes nothing" in json.dumps(refused)
    await assert_levels_match_the_ledger(materials.runtime)
