"""Receiving stock from a supplier: over HTTP (a warehouse officer) or as `stock.received`
(the city's procurement or warehouse system). Both count once per receipt id."""

from __future__ import annotations

from dataclasses import dataclass

from services.materials.domain.job import MaterialJob
from services.materials.domain.stock import LedgerEntry, StockQuantity
from services.materials.service.stock_transaction import StockTransaction
from shared.errors import Unprocessable
from shared.slots import rounded


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
    stock_tx: StockTransaction,
    *,
    receipt_id: str,
    warehouse: str,
    supplier: str,
    lines: list[IncomingLine],
    source: str,
    note: str = "",
) -> StockReceiptOutcome:
    """Put received stock on the books, then serve the jobs waiting for it."""
    catalogue = stock_tx.catalogue
    name = catalogue.warehouse(warehouse)
    quantities = _checked(stock_tx, lines)
    await stock_tx.stock.add_receipt(
        receipt_id,
        {
            "warehouse": name,
            "supplier": supplier,
            "lines": [{"item": i, "quantity": q} for i, q in quantities.items()],
            "received_by": stock_tx.by,
            "source": source,
            "note": note,
            "at": stock_tx.now,
        },
    )
    entries = await stock_tx.move_all(
        [
            stock_tx.movement(
                "receipt",
                StockQuantity(name, item, quantity),
                reason=f"from {supplier}",
                note=note,
                receipt_id=receipt_id,
            )
            for item, quantity in quantities.items()
        ]
    )
    topped_up = await stock_tx.top_up_waiting(set(quantities))
    return StockReceiptOutcome(receipt_id=receipt_id, entries=entries, topped_up=topped_up)


def _checked(stock_tx: StockTransaction, lines: list[IncomingLine]) -> dict[str, float]:
    """Item → quantity received, each checked against the catalogue; repeated items add up."""
    quantities: dict[str, float] = {}
    for line in lines:
        quantity = stock_tx.catalogue.quantity(line.item, line.quantity, line.unit)
        if quantity <= 0:
            raise Unprocessable(f"{line.item}: a received quantity must be more than 0")
        quantities[line.item] = rounded(quantities.get(line.item, 0.0) + quantity)
    return quantities
