"""The API's own shapes of a shipment and of a ledger entry, mapped field by field from
the domain's (which the adapters store): renaming a field of the domain changes the
mapping, not the API."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field

from services.materials.domain.job import Shipment, ShipmentStatus
from services.materials.domain.stock import LedgerEntry, LedgerKind
from shared.clock import Timestamp
from shared.contracts.types import MaterialLine, ReceivedLine


class ShipmentBody(BaseModel):
    id: uuid.UUID
    proposal_id: uuid.UUID
    warehouse: str
    lines: list[MaterialLine]
    note: str = ""
    dispatched_by: str
    dispatched_at: Timestamp
    status: ShipmentStatus = "in_transit"
    received_lines: list[ReceivedLine] = Field(default_factory=list)
    received_by: str | None = None
    received_at: Timestamp | None = None

    @classmethod
    def of(cls, shipment: Shipment) -> ShipmentBody:
        return cls(
            id=shipment.id,
            proposal_id=shipment.proposal_id,
            warehouse=shipment.warehouse,
            lines=shipment.lines,
            note=shipment.note,
            dispatched_by=shipment.dispatched_by,
            dispatched_at=shipment.dispatched_at,
            status=shipment.status,
            received_lines=shipment.received_lines,
            received_by=shipment.received_by,
            received_at=shipment.received_at,
        )


class LedgerEntryBody(BaseModel):
    """One stock movement at one warehouse, with who did it, when, why and for what."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: uuid.UUID
    kind: LedgerKind
    warehouse: str
    item: str
    unit: str
    quantity: float = Field(description="the movement, signed (+ into, - out of the books)")
    on_hand_change: float
    reserved_change: float
    reason: str = ""
    note: str = ""
    proposal_id: uuid.UUID | None = None
    shipment_id: uuid.UUID | None = None
    receipt_id: str | None = None
    by: str
    at: Timestamp

    @classmethod
    def of(cls, entry: LedgerEntry) -> LedgerEntryBody:
        return cls(
            id=entry.id,
            kind=entry.kind,
            warehouse=entry.warehouse,
            item=entry.item,
            unit=entry.unit,
            quantity=entry.quantity,
            on_hand_change=entry.on_hand_change,
            reserved_change=entry.reserved_change,
            reason=entry.reason,
            note=entry.note,
            proposal_id=entry.proposal_id,
            shipment_id=entry.shipment_id,
            receipt_id=entry.receipt_id,
            by=entry.by,
            at=entry.at,
        )
