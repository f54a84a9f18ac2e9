"""Receiving stock from a supplier: over HTTP (a warehouse officer) or as `stock.received`
(the city's procurement or warehouse system). Both count once per receipt id."""

from __future__ import annotations

from dataclasses import dataclass

from services.materials.domain.job import MaterialJob
from services.materials.domain.stock import Allocation, LedgerEntry, rounded
from services.materials.service.stockroom import Stockroom
from shared.errors import Unprocessable


@dataclass(frozen=True)
class IncomingLine:
    item: str
    quantity: float
    unit: str | None = None  # when given, it must be the item's unit


@dataclass(frozen=True)
class StockReceiptOutcome:
    receipt_id: str
    entries: list[LedgerEntry]
    topped_up: list[MaterialJob]


async def receive_stock(
    room: Stockroom,
    *,
    receipt_id: str,
    warehouse: str,
    supplier: str,
    lines: list[IncomingLine],
    source: str,
    note: str = "",
) -> StockReceiptOutcome:
    """Put received stock on the books, then serve the jobs waiting for it."""
    catalogue = room.catalogue
    name = catalogue.warehouse(warehouse)
    quantities = _checked(room, lines)
    await room.stock.add_receipt(
        receipt_id,
        {
            "warehouse": name,
            "supplier": supplier,
            "lines": [{"item": i, "quantity": q} for i, q in quantities.items()],
            "received_by": room.by,
            "source": source,
            "note": note,
            "at": room.now,
        },
    )
    entries = [
        await room.move(
            room.movement(
                "receipt",
                Allocation(name, item, quantity),
                reason=f"from {supplier}",
                note=note,
                receipt_id=receipt_id,
            )
        )
        for item, quantity in quantities.items()
    ]
    topped_up = await room.top_up_waiting(set(quantities))
    return StockReceiptOutcome(receipt_id=receipt_id, entries=entries, topped_up=topped_up)


def _checked(room: Stockroom, lines: list[IncomingLine]) -> dict[str, float]:
    """Item → quantity received, each checked against the catalogue; repeated items add up."""
    quantities: dict[str, float] = {}
    for line in lines:
        quantity = room.catalogue.quantity(line.item, line.quantity, line.unit)
        if quantity <= 0:
            raise Unprocessable(f"{line.item}: a received quantity must be more than 0")
        quantities[line.item] = rounded(quantities.get(line.item, 0.0) + quantity)
    return quantities
