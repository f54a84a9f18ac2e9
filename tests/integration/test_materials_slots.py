"""Stock levels kept in slots, against real MongoDB and RabbitMQ: approvals taken at once
by two replicas draw on different slots in parallel and still never reserve more than
is on hand; each slot keeps the rules; a level kept as one document (before slots)
stays counted."""

from __future__ import annotations

from collections import Counter

from services.materials.adapters.stock import BALANCES, GATES, StockRepository, balance_id
from services.materials.domain.stock import DEFAULT_SLOTS
from shared.contracts import new_envelope
from shared.slots import Level
from tests.support.events import proposal_approved
from tests.support.infrastructure import Infrastructure
from tests.support.materials import (
    CENTRAL,
    ROAD_BILL,
    MaterialsApi,
    assert_levels_match_the_ledger,
    emitted,
    levels,
    receive_stock,
)
from tests.support.people import WAREHOUSE_OFFICER, auth
from tests.support.probe import eventually_async
from tests.support.runtime import publish_envelopes, running_service

APPROVALS = 16
# enough cement for five roads and 200 bags, sand and gravel for all of them: jobs take
# whole bills in parallel, the later ones race for what is left of the cement
STOCK = {"cement": 5 * ROAD_BILL["cement"] + 200, "sand": 700.0, "gravel": 700.0}


async def test_two_replicas_reserving_at_once_draw_on_several_slots_and_never_oversell(
    infra: Infrastructure, namespace: str, materials: MaterialsApi
) -> None:
    assert (await receive_stock(materials.api, STOCK)).is_success
    approvals = [proposal_approved() for _ in range(APPROVALS)]
    async with running_service("materials", infra, namespace):  # a second replica
        await publish_envelopes(
            infra,
            namespace,
            [new_envelope(a, producer="proposals", correlation_id="slots") for a in approvals],
        )
        await eventually_async(
            lambda: materials.runtime.db["jobs"].count_documents({}), APPROVALS, what="all jobs"
        )

    reserved: Counter[str] = Counter()
    for approved in approvals:
        job = await materials.reserved(approved.proposal_id)
        assert all(job[item] <= ROAD_BILL[item] + 1e-6 for item in ROAD_BILL)
        reserved.update(job)
    # every bag received is reserved once, and not one more
    assert round(reserved["cement"], 6) == STOCK["cement"]
    assert round(reserved["sand"], 6) == round(APPROVALS * ROAD_BILL["sand"], 6)
    level = (await levels(materials.runtime))[(CENTRAL, "cement")]
    assert level == Level(STOCK["cement"], STOCK["cement"])

    slots = await materials.runtime.db[BALANCES].find({"warehouse": CENTRAL}).to_list()
    assert all(s["reserved"] <= s["on_hand"] + 1e-9 for s in slots), "a slot oversold"
    drawn = [s for s in slots if s["item"] == "sand" and s["reserved"] > 0]
    assert len(drawn) > 1, "all reservations drew on one slot: nothing ran in parallel"
    short = [d for d in await emitted(materials.runtime, "material.shortage") if d["missing"]]
    assert len(short) == APPROVALS - 5  # five whole bills of cement, then 200 bags
    await assert_levels_match_the_ledger(materials.runtime)


async def test_each_level_and_item_has_its_slots_and_gates(materials: MaterialsApi) -> None:
    db = materials.runtime.db
    cement = await db[BALANCES].count_documents({"warehouse": CENTRAL, "item": "cement"})
    assert cement == DEFAULT_SLOTS
    assert await db[GATES].count_documents({"item": "cement"}) == DEFAULT_SLOTS


async def test_a_level_kept_as_one_document_before_slots_stays_counted(
    infra: Infrastructure, namespace: str, materials: MaterialsApi
) -> None:
    db = materials.runtime.db
    # as a level was kept before slots: one document, no slot number
    await db[BALANCES].delete_many({"warehouse": CENTRAL, "item": "gravel"})
    await db[BALANCES].insert_one(
        {
            "_id": balance_id(CENTRAL, "gravel"),
            "warehouse": CENTRAL,
            "item": "gravel",
            "unit": "m3",
            "on_hand": 80.0,
            "reserved": 30.0,
            "version": 7,
        }
    )
    async with running_service("materials", infra, namespace):  # a start seeds the slots
        pass
    gravel = await db[BALANCES].find({"warehouse": CENTRAL, "item": "gravel"}).to_list()
    assert len(gravel) == DEFAULT_SLOTS
    assert {s["slot"] for s in gravel} == set(range(DEFAULT_SLOTS))
    assert (await StockRepository(db).available(["gravel"]))[CENTRAL]["gravel"] == 50.0
    assert (await levels(materials.runtime))[(CENTRAL, "gravel")] == Level(80, 30)


async def test_slots_refuse_together_what_the_level_cannot_take(
    materials: MaterialsApi,
) -> None:
    # 100 bags spread over the slots; a count that finds 101 missing is refused whole
    await receive_stock(materials.api, {"cement": 100})
    response = await materials.api.post(
        "/stock/adjustments",
        json={"warehouse": CENTRAL, "item": "cement", "quantity": -101, "reason": "stocktake"},
        headers=auth(WAREHOUSE_OFFICER),
    )
    assert response.status_code == 409, response.text
    assert "100 on hand" in response.text
    assert (await levels(materials.runtime))[(CENTRAL, "cement")] == Level(100, 0)
