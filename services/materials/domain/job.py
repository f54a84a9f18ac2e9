"""A job's materials: what the bill of materials asks for, what was sent, what arrived.

Pure rules, no I/O. Quantities are in each item's shipping unit (bags, m³).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.events import ProposalKeys
from shared.contracts.types import Area, MaterialLine, ReceivedLine
from shared.errors import Conflict, Unprocessable

EPSILON = 1e-9
DiscrepancyReason = Literal["lost", "damaged", "short_shipped", "over_shipped"]


class JobLine(BaseModel):
    item: str
    unit: str
    required: float
    reserved: float = 0
    received: float = 0

    @property
    def outstanding(self) -> float:
        """Still owed to the site."""
        return max(self.required - self.received, 0.0)


class ShipmentLine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    item: str
    quantity: Annotated[float, Field(gt=0)]


class Receipt(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    item: str
    received: Annotated[float, Field(ge=0)]
    discrepancy_reason: DiscrepancyReason | None = None


class Shipment(BaseModel):
    id: uuid.UUID
    proposal_id: uuid.UUID
    warehouse: str
    lines: list[MaterialLine]
    note: str = ""
    dispatched_by: str
    dispatched_at: datetime
    status: Literal["in_transit", "received"] = "in_transit"
    received_lines: list[ReceivedLine] = Field(default_factory=list)
    received_by: str | None = None
    received_at: datetime | None = None


class MaterialJob(BaseModel):
    """The materials side of one approved proposal."""

    proposal_id: uuid.UUID
    area: Area
    proposer_id: str
    work_volume_m3: float
    norm: str
    lines: list[JobLine]
    in_transit: dict[str, float] = Field(default_factory=dict)  # item → quantity on the road
    fulfilled: bool = False
    revision: int = 0

    def keys(self) -> ProposalKeys:
        return {"proposal_id": self.proposal_id, "area": self.area, "proposer_id": self.proposer_id}

    def line(self, item: str) -> JobLine:
        for line in self.lines:
            if line.item == item:
                return line
        raise Unprocessable(
            f"{item!r} is not on this job's bill of materials "
            f"({', '.join(line.item for line in self.lines)})"
        )

    def dispatchable(self, item: str) -> float:
        line = self.line(item)
        return max(line.outstanding - self.in_transit.get(item, 0.0), 0.0)

    def dispatch(
        self,
        shipment_id: uuid.UUID,
        warehouse: str,
        requested: list[ShipmentLine] | None,
        dispatched_by: str,
        now: datetime,
        note: str = "",
    ) -> Shipment:
        """Put materials on a truck; without lines, everything still owed goes."""
        if self.fulfilled:
            raise Conflict("every material of this job has arrived already")
        wanted = requested or [
            ShipmentLine(item=line.item, quantity=self.dispatchable(line.item))
            for line in self.lines
            if self.dispatchable(line.item) > EPSILON
        ]
        if not wanted:
            raise Conflict("nothing left to dispatch: the rest is already on its way")
        totals: dict[str, float] = {}
        for request in wanted:  # check every line before changing anything
            totals[request.item] = totals.get(request.item, 0.0) + request.quantity
        for item, quantity in totals.items():
            room = self.dispatchable(item)
            if quantity > room + EPSILON:
                raise Unprocessable(
                    f"cannot send {quantity:g} of {item}: only {room:g} "
                    "is still owed and not already on its way"
                )
        lines = [
            MaterialLine(item=item, unit=self.line(item).unit, quantity=quantity)
            for item, quantity in totals.items()
        ]
        for line in lines:
            self.in_transit[line.item] = self.in_transit.get(line.item, 0.0) + line.quantity
        return Shipment(
            id=shipment_id,
            proposal_id=self.proposal_id,
            warehouse=warehouse,
            lines=lines,
            note=note,
            dispatched_by=dispatched_by,
            dispatched_at=now,
        )

    def receive(
        self, shipment: Shipment, receipts: list[Receipt], received_by: str, now: datetime
    ) -> list[ReceivedLine]:
        """The RT head confirms what arrived; a difference needs a reason and stays owed."""
        if shipment.status == "received":
            raise Conflict(f"shipment {shipment.id} was confirmed already")
        if shipment.proposal_id != self.proposal_id:
            raise Unprocessable(f"shipment {shipment.id} belongs to another job")
        by_item = {r.item: r for r in receipts}
        if len(by_item) != len(receipts):
            raise Unprocessable("each item may be confirmed once per receipt")
        unknown = set(by_item) - {line.item for line in shipment.lines}
        if unknown:
            raise Unprocessable(f"not on this shipment: {', '.join(sorted(unknown))}")
        result = [_received(sent, by_item.get(sent.item)) for sent in shipment.lines]
        for line in result:  # all lines checked: now count them
            self.in_transit[line.item] = max(self.in_transit.get(line.item, 0.0) - line.sent, 0.0)
            self.line(line.item).received += line.received
        shipment.status = "received"
        shipment.received_lines = result
        shipment.received_by = received_by
        shipment.received_at = now
        return result

    def everything_arrived(self) -> bool:
        return all(line.outstanding <= EPSILON for line in self.lines)


def _received(sent: MaterialLine, receipt: Receipt | None) -> ReceivedLine:
    """One confirmed line; a difference from what was sent needs a reason."""
    if receipt is None:
        raise Unprocessable(f"say how much {sent.item} arrived (0 if none)")
    differs = abs(receipt.received - sent.quantity) > EPSILON
    if differs and receipt.discrepancy_reason is None:
        raise Unprocessable(
            f"{sent.item}: {receipt.received:g} received but {sent.quantity:g} sent; "
            "give a discrepancy_reason (lost, damaged, short_shipped, over_shipped)"
        )
    return ReceivedLine(
        item=sent.item,
        unit=sent.unit,
        sent=sent.quantity,
        received=receipt.received,
        discrepancy_reason=receipt.discrepancy_reason if differs else None,
    )
