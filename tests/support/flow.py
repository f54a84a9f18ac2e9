"""The README's flow, step by step, through the three services' HTTP APIs — wherever
they run: processes (tests/e2e) or containers (tests/containers)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.support.notifications import JOURNEY, RT_HEAD_ENTRY
from tests.support.people import (
    CITY_OFFICER,
    KECAMATAN_OFFICER,
    KELURAHAN_OFFICER,
    RT_HEAD,
    WAREHOUSE_OFFICER,
    auth,
    road_proposal,
)

# The road job's announced steps up to completion (the journey stops before validation).
EXPECTED_STEPS = JOURNEY[: JOURNEY.index("work.completed") + 1]


def until(fetch: Callable[[], Any], accept: Callable[[Any], bool], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = fetch()
        if accept(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting; last seen: {found}")
        time.sleep(0.2)


def road_journey(proposals_url: str, materials_url: str, notifications_url: str) -> str:
    """Stock received, a road proposed, reviewed, approved, its materials reserved,
    shipped and received, the work done; the RT head's feed holds each step once.
    Returns the proposal's id."""
    proposals = httpx.Client(base_url=proposals_url, timeout=10)
    materials = httpx.Client(base_url=materials_url, timeout=10)
    notifications = httpx.Client(base_url=notifications_url, timeout=10)

    # the RT head is in the notifications directory with an e-mail address
    registered = notifications.put(
        f"/people/{RT_HEAD.id}", json=RT_HEAD_ENTRY, headers=auth(CITY_OFFICER)
    )
    assert registered.status_code == 200, registered.text

    # the warehouse holds the road's materials before the city approves (approvals reserve)
    stock = [("cement", 493), ("sand", 41.1), ("gravel", 43.3)]
    received = materials.post(
        "/stock/receipts",
        json={
            "warehouse": "Gudang Kota Jambi",
            "supplier": "CV Bangun Jaya",
            "lines": [{"item": item, "quantity": quantity} for item, quantity in stock],
        },
        headers=auth(WAREHOUSE_OFFICER),
    )
    assert received.status_code == 201, received.text

    created = proposals.post("/proposals", json=road_proposal(), headers=auth(RT_HEAD))
    assert created.status_code == 201, created.text
    proposal_id = created.json()["proposal"]["id"]

    def act(path: str, actor: Any, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = proposals.post(
            f"/proposals/{proposal_id}/{path}", json=body or {}, headers=auth(actor)
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()["proposal"]
        return result

    act("verify", KELURAHAN_OFFICER)
    act("endorse", KECAMATAN_OFFICER)
    # the city sets Telanaipura's 2026 ceiling: an approval reserves its budget against it
    ceiling = proposals.put(
        "/budgets/Telanaipura/2026", json={"ceiling_idr": 500_000_000}, headers=auth(CITY_OFFICER)
    )
    assert ceiling.status_code == 200, ceiling.text
    approved = act("approve", CITY_OFFICER, {"budget_idr": 150_000_000, "fiscal_year": 2026})
    assert approved["state"] == "approved"

    # materials computed the bill from the SNI 7394:2008 K-175 norm (+5 % waste)
    job = until(
        lambda: materials.get(f"/jobs/{proposal_id}", headers=auth(RT_HEAD)),
        lambda r: r.status_code == 200,
    ).json()
    lines = {line["item"]: line for line in job["lines"]}
    assert job["work_volume_m3"] == pytest.approx(72.0)
    assert lines["cement"]["required"] == 493  # 470 bags of 50 kg before waste
    assert lines["sand"]["required"] == pytest.approx(41.1)
    assert lines["gravel"]["required"] == pytest.approx(43.3)
    assert "water" not in lines  # computed, not shipped

    shipment = materials.post(
        f"/jobs/{proposal_id}/shipments",
        json={"warehouse": "Gudang Kota Jambi", "note": "truck BH 1234 XY"},
        headers=auth(WAREHOUSE_OFFICER),
    )
    assert shipment.status_code == 201, shipment.text
    sent = shipment.json()
    receipt = materials.post(
        f"/shipments/{sent['id']}/receipt",
        json={"lines": [{"item": ln["item"], "received": ln["quantity"]} for ln in sent["lines"]]},
        headers=auth(RT_HEAD),
    )
    assert receipt.status_code == 200, receipt.text

    until(
        lambda: proposals.get(f"/proposals/{proposal_id}", headers=auth(RT_HEAD)).json(),
        lambda view: view["proposal"]["state"] == "materials_fulfilled",
    )
    act("work/start", RT_HEAD)
    act(
        "work/progress",
        RT_HEAD,
        {
            "percent": 100,  # completion needs 100 %
            "note": "150 m poured",
            "volunteers": 35,
            "labour_days": 70,
            "photos": ["https://photos.example.org/day-3.jpg"],
        },
    )
    done = act("work/complete", RT_HEAD)
    assert done["state"] == "completed"

    feed = until(
        lambda: notifications.get("/notifications", headers=auth(RT_HEAD)).json()["items"],
        lambda items: len(items) >= len(EXPECTED_STEPS),
    )
    time.sleep(1.0)  # any duplicate would arrive by now
    feed = notifications.get("/notifications", headers=auth(RT_HEAD)).json()["items"]
    assert sorted(item["event_type"] for item in feed) == sorted(EXPECTED_STEPS)
    assert all(item["proposal_id"] == proposal_id for item in feed)
    unread = notifications.get("/notifications/unread-count", headers=auth(RT_HEAD)).json()
    assert unread == {"unread": len(EXPECTED_STEPS)}

    return str(proposal_id)
