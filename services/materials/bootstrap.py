"""Wires the materials service: settings → runtime → use cases → HTTP and consumers."""

from __future__ import annotations

from functools import partial
from typing import Final

from fastapi import FastAPI
from faststream import FastStream

from services.materials.adapters import repository, stock
from services.materials.domain.bill_of_materials import load_norm_book
from services.materials.domain.catalogue import load_catalogue
from services.materials.entrypoints.http import build_router
from services.materials.service.commands import MaterialCommands
from services.materials.service.handlers import EventHandlers
from services.materials.service.stock_transaction import Reference
from services.materials.settings import MaterialsSettings
from shared.contracts import events as ev
from shared.runtime import ServiceRuntime, build_runtime, documented_app
from shared.settings import ServiceSettings
from shared.web.app import create_app

SERVICE: Final = "materials"
SETTINGS: Final = MaterialsSettings
# Every collection this service keeps besides the runtime's outbox and inbox: its
# MongoDB role names exactly these (shared/storage/access.py).
COLLECTIONS: Final = (
    repository.JOBS,
    repository.SHIPMENTS,
    repository.MARKERS,
    stock.BALANCES,
    stock.GATES,
    stock.LEDGER,
    stock.RECEIPTS,
)
# Kept under another name before: renamed at start-up (its role may do just that).
FORMER_COLLECTIONS: Final = (repository.FORMER_MARKERS,)
DESCRIPTION: Final = """\
Bills of materials, stock, reservations, shipments and receipts for approved jobs.

* On `proposal.approved` the bill of materials is computed (SNI norms, `norms.toml`) and
  whatever stock exists is reserved, from one or several warehouses: `material.reserved`
  says how much of each line is taken care of — reserved, on its way or arrived —
  (`complete` once all of it; it is sent even when nothing could be reserved yet), and
  `material.shortage` lists what is still missing. A job that is short waits; stock that
  arrives later (a receipt here, or `stock.received` from the city's procurement or
  warehouse system) goes to the waiting jobs, oldest approval first, and each job that
  gets some is announced again with `material.reserved`.
* `proposal.rejected` / `proposal.cancelled` release the job's reservations
  (`material.released`) to the jobs still waiting.
* Every stock movement is an entry in the ledger (`GET /stock/ledger`): receipt,
  reservation, release, dispatch, adjustment (with its reason).

**Who does what.** Warehouse officers are city-wide — their token carries no warehouse
claim — and receive, adjust and dispatch at any warehouse of the catalogue. The RT head of
the job's RT confirms what arrived; a line that differs from what was sent needs a reason
(lost, damaged, short_shipped, over_shipped) and is recorded as an adjustment entry that
moves no stock: the RT head's word never puts goods back on a shelf, and at most {tolerance} more
than was sent can be confirmed. A warehouse officer counts and corrects the level
(`POST /stock/adjustments`); what is still owed is reserved again (or waits for stock).
Stock levels, the ledger and shipment lists are for warehouse officers, city officers and
supervisors; a job's own materials and shipments also for the RT head and officers of
the job's area. Every state-changing route takes an `Idempotency-Key` header.
"""


def build(given: ServiceSettings | None = None) -> tuple[ServiceRuntime, FastAPI]:
    settings = MaterialsSettings.extending(given) if given else MaterialsSettings()
    tolerance = settings.over_shipment_tolerance
    book = load_norm_book()
    reference = Reference(book=book, catalogue=load_catalogue(book))
    runtime = build_runtime(
        settings,
        SERVICE,
        [
            repository.rename_former_markers,  # before create_indexes makes the new one
            repository.create_indexes,
            stock.create_indexes,
            partial(stock.seed_balances, catalogue=reference.catalogue, slots=settings.stock_slots),
        ],
    )
    handlers = EventHandlers(reference)
    runtime.consumers.on(ev.ProposalApprovedV2, handlers.on_proposal_approved)
    runtime.consumers.on(ev.ProposalRejectedV2, handlers.on_proposal_rejected)
    runtime.consumers.on(ev.ProposalCancelledV2, handlers.on_proposal_cancelled)
    runtime.consumers.on(ev.StockReceivedV1, handlers.on_stock_received)
    app = create_app(
        runtime,
        title="Berdaya materials",
        description=DESCRIPTION.format(tolerance=f"{tolerance * 100:g} %"),
        routers=[build_router(tolerance)],
    )
    app.state.reference = reference
    app.state.commands = MaterialCommands(
        runtime.transactions, reference, over_shipment_tolerance=tolerance
    )
    return runtime, app


def asyncapi_app() -> FastStream:
    """For `faststream docs gen --factory services.materials.bootstrap:asyncapi_app`."""
    return documented_app(SERVICE, build)
