"""Ready-made event payloads for tests."""

from __future__ import annotations

import uuid
from typing import TypeVar

from shared.contracts import contract_of
from shared.contracts import events as ev
from shared.contracts.publicity import published_after
from shared.contracts.types import Area, Dimensions, Location, MaterialLine, SwadayaPledge

AREA = Area(kecamatan="Telanaipura", kelurahan="Simpang IV Sipin", rt="003")
PROPOSER = "rt-head-budi"
CEMENT_FOR_THE_ROAD = ({"item": "cement", "unit": "bag", "quantity": 493.0},)
E = TypeVar("E", bound=ev.ProposalEvent)


def about_the_road(event: type[E], proposal_id: uuid.UUID, values: dict[str, object]) -> E:
    """`event` about RT 003's road proposal `proposal_id`, with `values` (which may
    replace its keys too); from v2 on, public as its producer would state it."""
    keys: dict[str, object] = {"proposal_id": proposal_id, "area": AREA, "proposer_id": PROPOSER}
    if issubclass(event, ev.ProposalStep):
        keys["public"] = published_after(contract_of(event).event_type)
    return event.model_validate({**keys, **values})


def proposal_approved(**overrides: object) -> ev.ProposalApprovedV2:
    values: dict[str, object] = {
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
    return about_the_road(ev.ProposalApprovedV2, uuid.uuid4(), values)


def work_started(**overrides: object) -> ev.WorkStartedV2:
    values: dict[str, object] = {"started_by": PROPOSER, **overrides}
    return about_the_road(ev.WorkStartedV2, uuid.uuid4(), values)


def proposal_cancelled(proposal_id: uuid.UUID, **overrides: object) -> ev.ProposalCancelledV2:
    values: dict[str, object] = {
        "cancelled_by": "city-officer-sari",
        "reason": "The lane will be widened by the province next year.",
        **overrides,
    }
    return about_the_road(ev.ProposalCancelledV2, proposal_id, values)


def proposal_rejected(proposal_id: uuid.UUID, **overrides: object) -> ev.ProposalRejectedV2:
    values: dict[str, object] = {
        "rejected_by": "city-officer-sari",
        "reason": "The lane is a private road.",
        **overrides,
    }
    return about_the_road(ev.ProposalRejectedV2, proposal_id, values)


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
) -> ev.MaterialDispatchedV2:
    values: dict[str, object] = {
        "shipment_id": shipment_id,
        "warehouse": "Gudang Kota Jambi",
        "lines": CEMENT_FOR_THE_ROAD,
        "note": "truck BH 1234 XY",
        **overrides,
    }
    return about_the_road(ev.MaterialDispatchedV2, proposal_id, values)


def material_delivered(
    proposal_id: uuid.UUID, shipment_id: uuid.UUID, **overrides: object
) -> ev.MaterialDeliveredV2:
    values: dict[str, object] = {
        "shipment_id": shipment_id,
        "confirmed_by": PROPOSER,
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
    return about_the_road(ev.MaterialDeliveredV2, proposal_id, values)


def material_fulfilled(proposal_id: uuid.UUID, **overrides: object) -> ev.MaterialFulfilledV2:
    values: dict[str, object] = {"lines": CEMENT_FOR_THE_ROAD, **overrides}
    return about_the_road(ev.MaterialFulfilledV2, proposal_id, values)
