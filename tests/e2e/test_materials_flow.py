"""The materials service as a real process, driven as the city drives it: the approval
arrives as an event, a shortage waits until the city's warehouse system reports stock,
a delivery arrives short and what is still owed is sent again.

The test plays the proposals service (it publishes `proposal.approved`) and the city's
warehouse system (`stock.received`); people act over HTTP; an EventProbe records what
went over the wire."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio

from shared.contracts import new_envelope
from tests.support.events import proposal_approved, stock_received
from tests.support.infrastructure import Infrastructure
from tests.support.materials import CENTRAL, ROAD_BILL, job_lines
from tests.support.people import CITY_OFFICER, RT_HEAD, WAREHOUSE_OFFICER, auth
from tests.support.probe import EventProbe, until_async
from tests.support.processes import ServiceProcess, start_service, wait_ready
from tests.support.runtime import publish_envelope

OFFICER, RT = auth(WAREHOUSE_OFFICER), auth(RT_HEAD)


@pytest_asyncio.fixture(loop_scope="session")
async def materials(
    infra: Infrastructure, namespace: str, tmp_path: Path
) -> AsyncIterator[ServiceProcess]:
    service = start_service("materials", infra, namespace, tmp_path)
    try:
        await asyncio.to_thread(wait_ready, service)
        yield service
    finally:
        service.stop()


def data(probe: EventProbe, event_type: str) -> list[dict[str, Any]]:
    return [json.loads(m.body)["data"] for m in probe.of_type(event_type)]


def quantities(lines: list[dict[str, Any]]) -> dict[str, float]:
    return {line["item"]: line["quantity"] for line in lines}


async def test_a_shortage_is_resolved_by_a_stock_receipt_and_a_short_delivery_is_made_good(
    infra: Infrastructure, namespace: str, materials: ServiceProcess
) -> None:
    async with (
        EventProbe(infra.amqp_url, namespace, ["material.*"]) as probe,
        httpx.AsyncClient(base_url=materials.url, timeout=10) as api,
    ):
        # the warehouse has the cement and gravel, but only 20 of the 41.1 m³ of sand
        stock = {"warehouse": CENTRAL, "supplier": "CV Bangun Jaya", "receipt_id": "SJ-001"}
        lines = [{"item": i, "quantity": q} for i, q in {**ROAD_BILL, "sand": 20}.items()]
        received = await api.post(
            "/stock/receipts", json={**stock, "lines": lines}, headers=OFFICER
        )
        assert received.status_code == 201, received.text

        # the city approves the README's 150 m road
        approved = proposal_approved()
        job_path = f"/jobs/{approved.proposal_id}"
        await publish_envelope(
            infra, namespace, new_envelope(approved, producer="proposals", correlation_id="e2e")
        )
        job = await until_async(
            lambda: api.get(job_path, headers=RT), lambda r: r.is_success, 30, "job"
        )
        assert job.json()["status"] == "waiting"
        assert job_lines(job.json())["sand"]["short"] == 21.1
        await probe.wait_for(lambda: len(probe.of_type("material.shortage")) == 1, what="short")
        assert data(probe, "material.shortage")[0]["missing"] == [
            {"item": "sand", "unit": "m3", "quantity": 21.1}
        ]
        assert data(probe, "material.reserved")[0]["complete"] is False

        # the city's warehouse system reports 30 m³ of sand: the job is completed by itself
        sand = stock_received({"sand": 30}, warehouse=CENTRAL)
        await publish_envelope(
            infra, namespace, new_envelope(sand, producer="city-warehouse", correlation_id="gr")
        )
        await probe.wait_for(lambda: len(probe.of_type("material.reserved")) == 2, what="top-up")
        topped_up = data(probe, "material.reserved")[1]
        assert topped_up["complete"] is True
        assert quantities(topped_up["lines"]) == ROAD_BILL

        # everything goes out on one truck; 1.1 m³ of sand falls off on the way
        shipment = await api.post(
            f"{job_path}/shipments",
            json={"warehouse": CENTRAL, "note": "truck BH 1234 XY"},
            headers=OFFICER,
        )
        assert shipment.status_code == 201, shipment.text
        sent = shipment.json()
        on_the_road = await api.get("/shipments", params={"status": "in_transit"}, headers=OFFICER)
        assert [s["id"] for s in on_the_road.json()["items"]] == [sent["id"]]
        confirmed = await api.post(
            f"/shipments/{sent['id']}/receipt",
            json={
                "lines": [
                    {"item": "cement", "received": 493},
                    {"item": "sand", "received": 40, "discrepancy_reason": "lost"},
                    {"item": "gravel", "received": 43.3},
                ]
            },
            headers=RT,
        )
        assert confirmed.status_code == 200, confirmed.text

        # the loss is on the ledger with its reason; the 1.1 m³ still owed is reserved again
        ledger = await api.get(
            "/stock/ledger", params={"kind": "adjustment"}, headers=auth(CITY_OFFICER)
        )
        [lost] = ledger.json()["items"]
        assert (lost["item"], lost["quantity"], lost["reason"]) == ("sand", -1.1, "lost")
        await probe.wait_for(lambda: len(probe.of_type("material.reserved")) == 3, what="again")
        assert quantities(data(probe, "material.reserved")[2]["lines"])["sand"] == 41.1
        [delivered] = data(probe, "material.delivered")
        assert {ln["item"]: ln["discrepancy_reason"] for ln in delivered["lines"]} == {
            "cement": None,
            "sand": "lost",
            "gravel": None,
        }
        sand_line = job_lines((await api.get(job_path, headers=RT)).json())["sand"]
        assert (sand_line["received"], sand_line["reserved"], sand_line["outstanding"]) == (
            40,
            1.1,
            1.1,
        )

        # the rest goes out and arrives: the job is fulfilled, once
        again = {"warehouse": CENTRAL}
        second = (await api.post(f"{job_path}/shipments", json=again, headers=OFFICER)).json()
        assert quantities(second["lines"]) == {"sand": 1.1}
        done = await api.post(
            f"/shipments/{second['id']}/receipt",
            json={"lines": [{"item": "sand", "received": 1.1}]},
            headers=RT,
        )
        assert done.status_code == 200, done.text
        await probe.wait_for(lambda: len(probe.of_type("material.fulfilled")) == 1, what="done")
        assert quantities(data(probe, "material.fulfilled")[0]["lines"]) == {
            "cement": 493,
            "sand": 41.1,
            "gravel": 43.3,
        }
        assert (await api.get(job_path, headers=RT)).json()["status"] == "fulfilled"

        # 20 + 30 received, 41.1 + 1.1 sent: 7.8 m³ of sand left, nothing reserved
        levels = await api.get("/stock", params={"item": "sand"}, headers=OFFICER)
        central = next(b for b in levels.json()["items"] if b["warehouse"] == CENTRAL)
        assert (central["on_hand"], central["reserved"]) == (7.8, 0)

        await asyncio.sleep(0.5)  # a duplicate announcement would have arrived by now
        assert [m.routing_key for m in probe.messages] == [
            "material.reserved",
            "material.shortage",
            "material.reserved",
            "material.dispatched",
            "material.delivered",
            "material.reserved",
            "material.dispatched",
            "material.delivered",
            "material.fulfilled",
        ]
        assert all(
            json.loads(m.body)["data"]["proposal_id"] == str(approved.proposal_id)
            for m in probe.messages
        )
        assert uuid.UUID(sent["id"]) != uuid.UUID(second["id"])
