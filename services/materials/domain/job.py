"""A job's materials: what the bill of materials asks for, what is reserved where, what was
sent, what arrived.

Pure rules, no I/O. Quantities are in each item's shipping unit (bags, m³). Per line:

* ``required``  — the bill of materials (waste included);
* ``reserved``  — held for this job at one or more warehouses, not yet sent;
* ``in transit``— on a truck (``MaterialJob.in_transit``);
* ``received``  — confirmed by the RT head;
* ``short``     — still to reserve: ``required - received - in transit - reserved``.

A job never holds more than its bill: reservations cover at most what is neither received
nor on its way. A delivery that arrives short re-opens the difference, which then needs a
reservation of its own before it can be sent again (the stock reserved before went out on
the truck).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from services.materials.domain.stock import DeliveryReason, StockQuantity, totals
from shared.clock import Timestamp
from shared.contracts.events import StepKeys
from shared.contracts.types import Area, MaterialLine, Name, ReceivedLine
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.identity import Actor, Role
from shared.slots import EPSILON, rounded

JobStatus = Literal["waiting", "reserved", "fulfilled", "cancelled"]
ShipmentStatus = Literal["in_transit", "received"]
# How much more than was sent an RT head may confirm as arrived (over_shipped), as a
# share of the line sent: the default of BERDAYA_OVER_SHIPMENT_TOLERANCE. Anything
# beyond is the warehouse's to count and adjust: an RT head's word alone never moves
# warehouse stock.
OVER_SHIPMENT_TOLERANCE = 0.05
# Who may read stock levels, the ledger, shipment lists and every job, city-wide: those
# who keep, oversee or audit the stock. A job is also open to the people of its area
# (as its proposal is); to anyone else it does not exist.
STOCK_READERS = frozenset({Role.WAREHOUSE_OFFICER, Role.CITY_OFFICER, Role.SUPERVISOR})


def no_job(proposal_id: uuid.UUID) -> NotFound:
    """The answer about a job that does not exist, or that the caller may not see: the
    same words, so that nobody outside its area learns that it exists."""
    return NotFound(f"no materials job for proposal {proposal_id} (is it approved?)")


def no_shipment(shipment_id: uuid.UUID) -> NotFound:
    """As `no_job`, for a shipment."""
    return NotFound(f"no shipment {shipment_id}")


class JobLine(BaseModel):
    item: str
    unit: str
    required: float
    reserved_at: dict[str, float] = Field(
        default_factory=dict, description="warehouse → quantity held for the job, not yet sent"
    )
    dispatched: float = Field(default=0, description="sent, over all shipments")
    received: float = 0

    @property
    def reserved(self) -> float:
        return rounded(sum(self.reserved_at.values()))

    @property
    def outstanding(self) -> float:
        """Still owed to the site."""
        return max(rounded(self.required - self.received), 0.0)


class ShipmentLine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    item: Name
    quantity: Annotated[float, Field(gt=0)]


class ShipmentReceiptLine(BaseModel):
    """One item of a shipment as the RT head confirms it arrived at the site (not stock
    received at a warehouse: that is `stock_receipts.receive_stock`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    item: Name
    received: Annotated[float, Field(ge=0)]
    discrepancy_reason: DeliveryReason | None = None


class Shipment(BaseModel):
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


class MaterialJob(BaseModel):
    """The materials side of one approved proposal."""

    proposal_id: uuid.UUID
    area: Area
    proposer_id: str
    work_volume_m3: float
    norm: str
    approved_at: Timestamp
    """When the city approved it: waiting jobs get arriving stock oldest first."""
    lines: list[JobLine]
    in_transit: dict[str, float] = Field(default_factory=dict)  # item → quantity on the road
    fulfilled: bool = False
    cancelled: bool = False
    revision: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> JobStatus:
        if self.cancelled:
            return "cancelled"
        if self.fulfilled:
            return "fulfilled"
        return "waiting" if self.shortfall() else "reserved"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def waiting(self) -> bool:
        """Stored, so that arriving stock finds the jobs waiting for it by an index."""
        return self.status == "waiting"

    def keys(self) -> StepKeys:
        """The keys of the job's events. A job exists only for an approved proposal, and
        an approved proposal stays public whatever happens to it."""
        return {
            "proposal_id": self.proposal_id,
            "area": self.area,
            "proposer_id": self.proposer_id,
            "public": True,
        }

    # ----------------------------------------------------------------------------------
    # who may see and act: checked before anything that tells the job's state
    # ----------------------------------------------------------------------------------

    def visible_to(self, actor: Actor) -> bool:
        """City-wide for stock readers, else within the actor's area."""
        return actor.role in STOCK_READERS or actor.covers(self.area)

    def check_readable_by(self, actor: Actor, unknown: NotFound) -> None:
        """Who may read the job's materials and shipments: `unknown` (the 404 of what
        the caller asked for) when they may not see it, 403 for a resident of its area."""
        if not self.visible_to(actor):
            raise unknown
        if actor.role is Role.RESIDENT:
            raise Forbidden("a job's materials are for the RT head and officers of its area")

    def check_receiver(self, actor: Actor, shipment_id: uuid.UUID) -> None:
        """Only the RT head of the job's RT confirms what arrived; someone who may not
        see the job gets the 404 of an unknown shipment, whatever its state."""
        if not self.visible_to(actor):
            raise no_shipment(shipment_id)
        if actor.role is not Role.RT_HEAD:
            raise Forbidden("only the RT head of the job's RT confirms what arrived")

    def line(self, item: str) -> JobLine:
        for line in self.lines:
            if line.item == item:
                return line
        raise Unprocessable(
            f"{item!r} is not on this job's bill of materials "
            f"({', '.join(line.item for line in self.lines)})"
        )

    # ----------------------------------------------------------------------------------
    # reservations
    # ----------------------------------------------------------------------------------

    def unsent(self, item: str) -> float:
        """Owed to the site and not on a truck: what reservations may cover."""
        line = self.line(item)
        return max(rounded(line.outstanding - self.in_transit.get(item, 0.0)), 0.0)

    def shortfall(self) -> dict[str, float]:
        """Item → quantity still to reserve (nothing for a cancelled or fulfilled job)."""
        if self.cancelled or self.fulfilled:
            return {}
        short = {line.item: rounded(self.unsent(line.item) - line.reserved) for line in self.lines}
        return {item: q for item, q in short.items() if q > EPSILON}

    def reserve(self, portions: Iterable[StockQuantity]) -> None:
        """Hold stock for the job; never beyond its bill."""
        portions = list(portions)
        short = self.shortfall()
        for item, quantity in totals(portions).items():
            room = short.get(item, 0.0)
            if quantity > room + EPSILON:
                raise Conflict(
                    f"cannot reserve {quantity:g} {self.line(item).unit} of {item} for job "
                    f"{self.proposal_id}: only {room:g} is still unreserved"
                )
        for a in portions:
            held = self.line(a.item).reserved_at
            held[a.warehouse] = rounded(held.get(a.warehouse, 0.0) + a.quantity)

    def release_all(self) -> list[StockQuantity]:
        """Give every reservation back; returns what was released."""
        released = [
            StockQuantity(warehouse, line.item, quantity)
            for line in self.lines
            for warehouse, quantity in line.reserved_at.items()
            if quantity > EPSILON
        ]
        for line in self.lines:
            line.reserved_at = {}
        return released

    def cancel(self) -> list[StockQuantity]:
        """The job will not be built: nothing more is reserved or sent."""
        self.cancelled = True
        return self.release_all()

    def surplus(self) -> list[StockQuantity]:
        """Reservations beyond what the site is still owed (after an over-delivery), taken
        off the job — most recent warehouse first — and returned for release."""
        released: list[StockQuantity] = []
        for line in self.lines:
            excess = rounded(line.reserved - self.unsent(line.item))
            for warehouse in reversed(list(line.reserved_at)):
                if excess <= EPSILON:
                    break
                take = min(excess, line.reserved_at[warehouse])
                released.append(StockQuantity(warehouse, line.item, rounded(take)))
                self._unhold(line, warehouse, take)
                excess = rounded(excess - take)
        return released

    def secured(self) -> tuple[MaterialLine, ...]:
        """Per line, how much of the bill is taken care of: arrived, on its way or reserved."""
        return tuple(
            MaterialLine(
                item=line.item,
                unit=line.unit,
                quantity=min(
                    line.required,
                    rounded(line.received + self.in_transit.get(line.item, 0.0) + line.reserved),
                ),
            )
            for line in self.lines
        )

    def missing(self) -> tuple[MaterialLine, ...]:
        short = self.shortfall()
        return tuple(
            MaterialLine(item=line.item, unit=line.unit, quantity=short[line.item])
            for line in self.lines
            if line.item in short
        )

    # ----------------------------------------------------------------------------------
    # shipments
    # ----------------------------------------------------------------------------------

    def dispatch(
        self,
        shipment_id: uuid.UUID,
        warehouse: str,
        requested: list[ShipmentLine] | None,
        dispatched_by: str,
        now: datetime,
        note: str = "",
    ) -> Shipment:
        """Put what is reserved at ``warehouse`` on a truck; without lines, all of it goes."""
        if self.cancelled:
            raise Conflict("this job was cancelled; nothing more is sent to it")
        if self.fulfilled:
            raise Conflict("every material of this job has arrived already")
        wanted = requested or [
            ShipmentLine(item=line.item, quantity=line.reserved_at[warehouse])
            for line in self.lines
            if line.reserved_at.get(warehouse, 0.0) > EPSILON
        ]
        if not wanted:
            raise Conflict(self._nothing_reserved_at(warehouse))
        quantities = totals(StockQuantity(warehouse, r.item, r.quantity) for r in wanted)
        for item, quantity in quantities.items():  # check every line before changing anything
            room = self.line(item).reserved_at.get(warehouse, 0.0)
            if quantity > room + EPSILON:
                raise Unprocessable(
                    f"cannot send {quantity:g} of {item} from {warehouse}: only {room:g} "
                    "is reserved there for this job"
                )
        lines = [
            MaterialLine(item=item, unit=self.line(item).unit, quantity=quantity)
            for item, quantity in quantities.items()
        ]
        for sent in lines:
            line = self.line(sent.item)
            self._unhold(line, warehouse, sent.quantity)
            line.dispatched = rounded(line.dispatched + sent.quantity)
            on_road = self.in_transit.get(sent.item, 0.0) + sent.quantity
            self.in_transit[sent.item] = rounded(on_road)
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
        self,
        shipment: Shipment,
        receipts: list[ShipmentReceiptLine],
        received_by: str,
        now: datetime,
        *,
        over_shipment_tolerance: float = OVER_SHIPMENT_TOLERANCE,
    ) -> list[ReceivedLine]:
        """The RT head confirms what arrived; a difference needs a reason and stays owed,
        and at most `over_shipment_tolerance` (a fraction) more than was sent is taken."""
        if shipment.status == "received":
            raise Conflict(
                f"shipment {shipment.id} was confirmed already "
                f"(by {shipment.received_by}); nothing was counted twice"
            )
        if shipment.proposal_id != self.proposal_id:
            raise Unprocessable(f"shipment {shipment.id} belongs to another job")
        by_item = {r.item: r for r in receipts}
        if len(by_item) != len(receipts):
            raise Unprocessable("each item may be confirmed once per receipt")
        unknown = set(by_item) - {line.item for line in shipment.lines}
        if unknown:
            raise Unprocessable(f"not on this shipment: {', '.join(sorted(unknown))}")
        result = [
            _received(sent, by_item.get(sent.item), over_shipment_tolerance)
            for sent in shipment.lines
        ]
        for line in result:  # all lines checked: now count them
            left = self.in_transit.get(line.item, 0.0) - line.sent
            self.in_transit[line.item] = max(rounded(left), 0.0)
            job_line = self.line(line.item)
            job_line.received = rounded(job_line.received + line.received)
        shipment.status = "received"
        shipment.received_lines = result
        shipment.received_by = received_by
        shipment.received_at = now
        return result

    def everything_arrived(self) -> bool:
        return all(line.outstanding <= EPSILON for line in self.lines)

    def fulfil(self) -> bool:
        """Mark the job fulfilled once everything arrived; True only the first time."""
        if self.fulfilled or self.cancelled or not self.everything_arrived():
            return False
        self.fulfilled = True
        return True

    def _unhold(self, line: JobLine, warehouse: str, quantity: float) -> None:
        left = rounded(line.reserved_at.get(warehouse, 0.0) - quantity)
        if left > EPSILON:
            line.reserved_at[warehouse] = left
        else:
            line.reserved_at.pop(warehouse, None)

    def _nothing_reserved_at(self, warehouse: str) -> str:
        elsewhere = sorted(
            {w for line in self.lines for w, q in line.reserved_at.items() if q > EPSILON}
        )
        message = f"nothing is reserved for this job at {warehouse}"
        if elsewhere:
            return f"{message}; its stock is reserved at {', '.join(elsewhere)}"
        short = self.shortfall()
        if short:
            waiting = ", ".join(f"{q:g} {self.line(i).unit} of {i}" for i, q in short.items())
            return f"{message}; it is waiting for stock: {waiting}"
        return f"{message}; the rest is on its way or has arrived"


def _received(
    sent: MaterialLine, receipt: ShipmentReceiptLine | None, tolerance: float
) -> ReceivedLine:
    """One confirmed line; a difference from what was sent needs a reason."""
    if receipt is None:
        raise Unprocessable(f"say how much {sent.item} arrived (0 if none)")
    differs = abs(receipt.received - sent.quantity) > EPSILON
    if differs and receipt.discrepancy_reason is None:
        raise Unprocessable(
            f"{sent.item}: {receipt.received:g} received but {sent.quantity:g} sent; "
            "give a discrepancy_reason (lost, damaged, short_shipped, over_shipped)"
        )
    if differs and (receipt.received > sent.quantity) != (
        receipt.discrepancy_reason == "over_shipped"
    ):
        raise Unprocessable(
            f"{sent.item}: {receipt.received:g} received and {sent.quantity:g} sent; "
            "over_shipped is the reason for receiving more than was sent, and only for that"
        )
    allowed = rounded(sent.quantity * (1 + tolerance))
    if receipt.received > allowed + EPSILON:
        raise Unprocessable(
            f"{sent.item}: {receipt.received:g} received but only {sent.quantity:g} sent; "
            f"at most {allowed:g} can be confirmed here. Contact the warehouse: a warehouse "
            "officer counts the difference and records it (POST /stock/adjustments)"
        )
    return ReceivedLine(
        item=sent.item,
        unit=sent.unit,
        sent=sent.quantity,
        received=receipt.received,
        discrepancy_reason=receipt.discrepancy_reason if differs else None,
    )
