"""Shipments and ledger entries have the API's own shapes (entrypoints), mapped field by
field from the domain's: renaming a field of the domain changes the mapping, not the API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
from fastapi import FastAPI

from services.materials.adapters import repository, stock
from services.materials.domain import job
from services.materials.domain import stock as stock_domain
from services.materials.domain.job import Shipment
from services.materials.domain.stock import LedgerEntry
from services.materials.entrypoints.http import (
    JobView,
    LedgerPage,
    ShipmentPage,
    StockReceiptView,
    build_router,
)
from services.materials.entrypoints.shapes import LedgerEntryBody, ShipmentBody
from shared.contracts.types import MaterialLine, ReceivedLine
from tests.support.shapes import away_from_defaults, imports_of

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=1)


def full_shipment() -> Shipment:
    made = Shipment(
        id=uuid.UUID(int=1),
        proposal_id=uuid.UUID(int=2),
        warehouse="Gudang Kota",
        lines=[MaterialLine(item="cement", unit="bag", quantity=40.0)],
        note="truck B 1234",
        dispatched_by="gudang-ani",
        dispatched_at=NOW,
        status="received",
        received_lines=[
            ReceivedLine(
                item="cement",
                unit="bag",
                sent=40.0,
                received=38.0,
                discrepancy_reason="damaged",
            )
        ],
        received_by="rt-head-budi",
        received_at=LATER,
    )
    away_from_defaults(made)
    return made


def full_entry() -> LedgerEntry:
    made = LedgerEntry(
        id=uuid.UUID(int=3),
        kind="adjustment",
        warehouse="Gudang Kota",
        item="cement",
        unit="bag",
        quantity=-2.0,
        on_hand_change=0.0,
        reserved_change=0.0,
        reason="damaged",
        note="two bags torn",
        proposal_id=uuid.UUID(int=2),
        shipment_id=uuid.UUID(int=1),
        receipt_id="SJ-0042",
        by="rt-head-budi",
        at=LATER,
    )
    away_from_defaults(made)
    return made


def test_the_api_shows_its_own_types_not_the_domains() -> None:
    for api_type in (ShipmentBody, LedgerEntryBody):
        assert not issubclass(api_type, Shipment | LedgerEntry)
    assert JobView.model_fields["shipments"].annotation == list[ShipmentBody]
    assert ShipmentPage.model_fields["items"].annotation == list[ShipmentBody]
    assert LedgerPage.model_fields["items"].annotation == list[LedgerEntryBody]
    assert StockReceiptView.model_fields["entries"].annotation == list[LedgerEntryBody]

    app = FastAPI()
    app.include_router(build_router())
    paths: dict[str, Any] = app.openapi()["paths"]
    for path, method, status, shown in (
        ("/jobs/{proposal_id}/shipments", "post", "201", ShipmentBody),
        ("/shipments/{shipment_id}", "get", "200", ShipmentBody),
        ("/shipments/{shipment_id}/receipt", "post", "200", ShipmentBody),
        ("/stock/adjustments", "post", "201", LedgerEntryBody),
    ):
        answer = paths[path][method]["responses"][status]["content"]["application/json"]
        assert answer["schema"]["$ref"] == f"#/components/schemas/{shown.__name__}"


@pytest.mark.parametrize(
    ("shown", "domain"),
    [
        (lambda: ShipmentBody.of(full_shipment()), full_shipment),
        (lambda: LedgerEntryBody.of(full_entry()), full_entry),
    ],
    ids=["shipment", "ledger entry"],
)
def test_an_answer_is_what_the_api_answered_when_it_showed_the_domains_model(
    shown: Any, domain: Any
) -> None:
    assert shown().model_dump(mode="json") == domain().model_dump(mode="json")


@pytest.mark.parametrize("inner", [repository, stock, job, stock_domain], ids=lambda m: m.__name__)
def test_the_inner_layers_know_nothing_of_the_api(inner: ModuleType) -> None:
    imported = imports_of(inner)
    assert not {n for n in imported if n.startswith("services.materials.entrypoints")}
