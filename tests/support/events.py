"""Ready-made event payloads for tests."""

from __future__ import annotations

import uuid

from shared.contracts import events as ev
from shared.contracts.types import Area, Dimensions, Location, MaterialLine, SwadayaPledge

AREA = Area(kecamatan="Telanaipura", kelurahan="Simpang IV Sipin", rt="003")


def proposal_approved(**overrides: object) -> ev.ProposalApprovedV1:
    values: dict[str, object] = {
        "proposal_id": uuid.uuid4(),
        "area": AREA,
        "proposer_id": "rt-head-budi",
        "title": "Rabat beton Gang Mawar",
        "work_type": "concrete_road",
        "dimensions": Dimensions(length_m=150, width_m=4, thickness_m=0.12),
        "concrete_grade": "K-175",
        "location": Location(lat=-1.61, lng=103.59, description="Gang Mawar"),
        "budget_idr": 150_000_000,
        "fiscal_year": 2026,
        "swadaya": SwadayaPledge(volunteers=40, labour_days=120),
        "approved_by": "city-officer-sari",
        **overrides,
    }
    return ev.ProposalApprovedV1.model_validate(values)


def work_started(**overrides: object) -> ev.WorkStartedV1:
    values: dict[str, object] = {
        "proposal_id": uuid.uuid4(),
        "area": AREA,
        "proposer_id": "rt-head-budi",
        "started_by": "rt-head-budi",
        **overrides,
    }
    return ev.WorkStartedV1.model_validate(values)


def proposal_cancelled(proposal_id: uuid.UUID, **overrides: object) -> ev.ProposalCancelledV1:
    values: dict[str, object] = {
        "proposal_id": proposal_id,
        "area": AREA,
        "proposer_id": "rt-head-budi",
        "cancelled_by": "city-officer-sari",
        "reason": "The lane will be widened by the province next year.",
        **overrides,
    }
    return ev.ProposalCancelledV1.model_validate(values)


def proposal_rejected(proposal_id: uuid.UUID, **overrides: object) -> ev.ProposalRejectedV1:
    values: dict[str, object] = {
        "proposal_id": proposal_id,
        "area": AREA,
        "proposer_id": "rt-head-budi",
        "rejected_by": "city-officer-sari",
        "reason": "The lane is a private road.",
        **overrides,
    }
    return ev.ProposalRejectedV1.model_validate(values)


def stock_received(
    lines: dict[str, float], warehouse: str = "Gudang Kota Jambi", **overrides: object
) -> ev.StockReceivedV1:
    """What the city's procurement system sends; `lines` is item → quantity."""
    units = {"cement": "bag", "sand": "m3", "gravel": "m3", "split_stone": "m3"}
    values: dict[str, object] = {
        "receipt_id": f"GR-{uuid.uuid4().hex[:8]}",
        "warehouse": warehouse,
        "supplier": "PT Semen Padang",
        "lines": tuple(
            MaterialLine(item=item, unit=units[item], quantity=float(quantity))
            for item, quantity in lines.items()
        ),
        "received_by": "city-warehouse-system",
        **overrides,
    }
    return ev.StockReceivedV1.model_validate(values)


def budget_allocated(**overrides: object) -> ev.BudgetAllocatedV1:
    """What the city's finance system sends when it sets a kecamatan's ceiling."""
    values: dict[str, object] = {
        "kecamatan": "Telanaipura",
        "fiscal_year": 2026,
        "ceiling_idr": 1_000_000_000,
        "allocated_by": "bpkad-finance-system",
        "reference": f"DPA-{uuid.uuid4().hex[:8]}",
        **overrides,
    }
    return ev.BudgetAllocatedV1.model_validate(values)


def material_dispatched(
    proposal_id: uuid.UUID, shipment_id: uuid.UUID, **overrides: object
) -> ev.MaterialDispatchedV1:
    values: dict[str, object] = {
        "proposal_id": proposal_id,
        "area": AREA,
        "proposer_id": "rt-head-budi",
        "shipment_id": shipment_id,
        "warehouse": "Gudang Kota Jambi",
        "lines": ({"item": "cement", "unit": "bag", "quantity": 493.0},),
        "note": "truck BH 1234 XY",
        **overrides,
    }
    return ev.MaterialDispatchedV1.model_validate(values)


def material_delivered(
    proposal_id: uuid.UUID, shipment_id: uuid.UUID, **overrides: object
) -> ev.MaterialDeliveredV1:
    values: dict[str, object] = {
        "proposal_id": proposal_id,
        "area": AREA,
        "proposer_id": "rt-head-budi",
        "shipment_id": shipment_id,
        "confirmed_by": "rt-head-budi",
        "lines": (
            {
                "item": "cement",
                "unit": "bag",
                "sent": 493.0,
                "received": 490.0,
                "discrepancy_reason": "damaged",
            },
        ),
        **overrides,
    }
    return ev.MaterialDeliveredV1.model_validate(values)


def material_fulfilled(proposal_id: uuid.UUID, **overrides: object) -> ev.MaterialFulfilledV1:
    values: dict[str, object] = {
        "proposal_id": proposal_id,
        "area": AREA,
        "proposer_id": "rt-head-budi",
        "lines": ({"item": "cement", "unit": "bag", "quantity": 493.0},),
        **overrides,
    }
    return ev.MaterialFulfilledV1.model_validate(values)
