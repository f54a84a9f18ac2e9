"""HTTP API of the materials service: warehouse officers keep stock and ship, RT heads
confirm what arrived, everyone concerned reads a job's materials.

Every state-changing route takes an `Idempotency-Key` header (see
`shared.web.idempotency`): a retry with the same key answers with the first result.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.materials.adapters.repository import MaterialsRepository
from services.materials.adapters.stock import StockRepository
from services.materials.domain.catalogue import StockItem, Warehouse
from services.materials.domain.job import (
    OVER_SHIPMENT_TOLERANCE,
    STOCK_READERS,
    JobStatus,
    MaterialJob,
    Shipment,
    ShipmentLine,
    ShipmentReceiptLine,
    ShipmentStatus,
    no_job,
    no_shipment,
)
from services.materials.domain.stock import CountReason, LedgerKind
from services.materials.entrypoints.shapes import LedgerEntryBody, ShipmentBody
from services.materials.service.commands import MaterialCommands
from services.materials.service.stock_receipts import IncomingLine, StockReceiptOutcome
from services.materials.service.stock_transaction import Reference
from shared.clock import Timestamp
from shared.contracts.types import Area, Name, Text
from shared.errors import Forbidden
from shared.identity import Actor
from shared.slots import Level
from shared.storage.mongo import Document
from shared.web.app import CorrelationId, ServiceDatabase, app_state
from shared.web.auth import CurrentActor
from shared.web.idempotency import IdempotencyKey, respond
from shared.web.pages import Page, PageWanted, Paging, paging_up_to

KEYED: dict[int | str, dict[str, Any]] = {
    status.HTTP_422_UNPROCESSABLE_CONTENT: {
        "description": "invalid input, or an Idempotency-Key reused for another request"
    }
}
# Jobs, shipments and the ledger: up to 500 a page (50 unless asked; the ledger 100).
MAX_LIST_PAGE_SIZE = 500
ListPaging = Annotated[Paging, Depends(paging_up_to(MAX_LIST_PAGE_SIZE))]
LedgerPaging = Annotated[Paging, Depends(paging_up_to(MAX_LIST_PAGE_SIZE, default_size=100))]
Quantity = Annotated[float, Field(gt=0, le=1_000_000, allow_inf_nan=False)]


def _require_stock_reader(actor: Actor) -> None:
    if actor.role not in STOCK_READERS:
        allowed = ", ".join(sorted(r.value for r in STOCK_READERS))
        raise Forbidden(f"stock levels, the ledger and shipment lists are for {allowed}")


# --------------------------------------------------------------------------------------
# requests
# --------------------------------------------------------------------------------------


class DispatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    warehouse: Name
    lines: list[ShipmentLine] | None = Field(
        default=None, description="omit to send everything reserved for the job at the warehouse"
    )
    note: Text = Field(default="", description="vehicle, driver, expected arrival")


class ShipmentReceiptRequest(BaseModel):
    """The RT head's confirmation of what a shipment brought (POST /shipments/{id}/receipt)."""

    model_config = ConfigDict(extra="forbid")
    lines: Annotated[list[ShipmentReceiptLine], Field(min_length=1)]


class StockLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item: Name
    quantity: Quantity


class StockReceiptRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    receipt_id: Name | None = Field(
        default=None,
        description="the delivery note's number; a receipt id is counted once "
        "(sending it again is refused), omit it to get a fresh one",
    )
    warehouse: Name
    supplier: Name
    lines: Annotated[list[StockLine], Field(min_length=1, max_length=50)]
    note: Text = ""


class AdjustmentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    warehouse: Name
    item: Name
    quantity: Annotated[float, Field(ge=-1_000_000, le=1_000_000, allow_inf_nan=False)] = Field(
        description="the difference counted: positive when more was found, negative when less"
    )
    reason: CountReason
    note: Text = ""


# --------------------------------------------------------------------------------------
# views
# --------------------------------------------------------------------------------------


class JobLineView(BaseModel):
    item: str
    unit: str
    required: float = Field(description="the bill of materials, waste included")
    reserved: float = Field(description="held for the job at a warehouse, not yet sent")
    reserved_at: dict[str, float] = Field(description="warehouse → reserved there")
    sent: float = Field(description="dispatched, over all shipments")
    in_transit: float
    received: float
    outstanding: float = Field(description="still owed to the site: required - received")
    short: float = Field(description="still to reserve when stock arrives")


class JobView(BaseModel):
    proposal_id: uuid.UUID
    status: JobStatus
    norm: str
    work_volume_m3: float
    approved_at: Timestamp
    fulfilled: bool
    lines: list[JobLineView]
    shipments: list[ShipmentBody]


class JobSummary(BaseModel):
    proposal_id: uuid.UUID
    status: JobStatus
    area: Area
    approved_at: Timestamp
    short: dict[str, float]


class JobPage(Page[JobSummary]):
    pass


class BalanceView(BaseModel):
    warehouse: str
    item: str
    unit: str
    on_hand: float
    reserved: float
    available: float


class BalancePage(Page[BalanceView]):
    pass


class LedgerPage(Page[LedgerEntryBody]):
    pass


class ShipmentPage(Page[ShipmentBody]):
    pass


class CatalogueView(BaseModel):
    warehouses: list[Warehouse]
    items: list[StockItem]


class StockReceiptView(BaseModel):
    receipt_id: str
    entries: list[LedgerEntryBody]
    jobs_topped_up: list[uuid.UUID] = Field(
        description="waiting jobs that got some of this stock, oldest approval first"
    )


def _view(job: MaterialJob, shipments: list[Shipment]) -> JobView:
    short = job.shortfall()
    return JobView(
        proposal_id=job.proposal_id,
        status=job.status,
        norm=job.norm,
        work_volume_m3=job.work_volume_m3,
        approved_at=job.approved_at,
        fulfilled=job.fulfilled,
        shipments=[ShipmentBody.of(shipment) for shipment in shipments],
        lines=[
            JobLineView(
                item=line.item,
                unit=line.unit,
                required=line.required,
                reserved=line.reserved,
                reserved_at=line.reserved_at,
                sent=line.dispatched,
                in_transit=job.in_transit.get(line.item, 0.0),
                received=line.received,
                outstanding=line.outstanding,
                short=short.get(line.item, 0.0),
            )
            for line in job.lines
        ],
    )


def _balance(document: Document) -> BalanceView:
    level = Level(on_hand=float(document["on_hand"]), reserved=float(document["reserved"]))
    return BalanceView(
        warehouse=str(document["warehouse"]),
        item=str(document["item"]),
        unit=str(document["unit"]),
        on_hand=level.on_hand,
        reserved=level.reserved,
        available=level.available,
    )


def _receipt_view(outcome: StockReceiptOutcome) -> StockReceiptView:
    return StockReceiptView(
        receipt_id=outcome.receipt_id,
        entries=[LedgerEntryBody.of(entry) for entry in outcome.entries],
        jobs_topped_up=[job.proposal_id for job in outcome.topped_up],
    )


Commands = Annotated[MaterialCommands, app_state("commands")]
References = Annotated[Reference, app_state("reference")]


def build_router(over_shipment_tolerance: float = OVER_SHIPMENT_TOLERANCE) -> APIRouter:
    router = APIRouter()
    _job_routes(router)
    _shipment_routes(router, over_shipment_tolerance)
    _stock_routes(router)
    return router


def _job_routes(router: APIRouter) -> None:
    @router.get("/jobs", tags=["jobs"], summary="Jobs, newest approval first; ?status=waiting")
    async def list_jobs(
        db: ServiceDatabase,
        actor: CurrentActor,
        paging: ListPaging,
        status: JobStatus | None = None,
    ) -> JobPage:
        _require_stock_reader(actor)
        jobs, total = await MaterialsRepository(db).list_jobs(
            status, skip=paging.skip, limit=paging.page_size
        )
        items = [
            JobSummary(
                proposal_id=job.proposal_id,
                status=job.status,
                area=job.area,
                approved_at=job.approved_at,
                short=job.shortfall(),
            )
            for job in jobs
        ]
        return JobPage(items=items, total=total, page=paging.page, page_size=paging.page_size)

    @router.get(
        "/jobs/{proposal_id}",
        tags=["jobs"],
        summary="A job's bill of materials: reserved / sent / received / outstanding per line",
    )
    async def get_job(proposal_id: uuid.UUID, db: ServiceDatabase, actor: CurrentActor) -> JobView:
        repository = MaterialsRepository(db)
        job = await repository.get_job(proposal_id)
        job.check_readable_by(actor, no_job(proposal_id))
        return _view(job, await repository.shipments_of(proposal_id))

    @router.post(
        "/jobs/{proposal_id}/shipments",
        tags=["shipments"],
        status_code=status.HTTP_201_CREATED,
        response_model=ShipmentBody,
        responses=KEYED,
        summary="A warehouse officer dispatches a shipment to the site",
    )
    async def dispatch(
        proposal_id: uuid.UUID,
        body: DispatchRequest,
        commands: Commands,
        actor: CurrentActor,
        correlation_id: CorrelationId,
        key: IdempotencyKey,
    ) -> JSONResponse:
        return await respond(
            key,
            status_code=status.HTTP_201_CREATED,
            render=ShipmentBody.of,
            call=lambda record_answer: commands.dispatch(
                proposal_id,
                actor,
                correlation_id,
                warehouse=body.warehouse,
                lines=body.lines,
                note=body.note,
                record_answer=record_answer,
            ),
        )


def _shipment_routes(router: APIRouter, over_shipment_tolerance: float) -> None:
    @router.get("/shipments", tags=["shipments"], summary="Shipments, e.g. ?status=in_transit")
    async def list_shipments(
        db: ServiceDatabase,
        reference: References,
        actor: CurrentActor,
        paging: ListPaging,
        status: ShipmentStatus | None = None,
        warehouse: str | None = None,
        proposal_id: uuid.UUID | None = None,
    ) -> ShipmentPage:
        _require_stock_reader(actor)
        name = reference.catalogue.warehouse(warehouse) if warehouse else None
        items, total = await MaterialsRepository(db).list_shipments(
            status=status,
            warehouse=name,
            proposal_id=proposal_id,
            skip=paging.skip,
            limit=paging.page_size,
        )
        return ShipmentPage(
            items=[ShipmentBody.of(shipment) for shipment in items],
            total=total,
            page=paging.page,
            page_size=paging.page_size,
        )

    @router.get("/shipments/{shipment_id}", tags=["shipments"], summary="One shipment")
    async def get_shipment(
        shipment_id: uuid.UUID, db: ServiceDatabase, actor: CurrentActor
    ) -> ShipmentBody:
        repository = MaterialsRepository(db)
        shipment = await repository.get_shipment(shipment_id)
        if actor.role not in STOCK_READERS:
            job = await repository.get_job(shipment.proposal_id)
            job.check_readable_by(actor, no_shipment(shipment_id))
        return ShipmentBody.of(shipment)

    @router.post(
        "/shipments/{shipment_id}/receipt",
        tags=["shipments"],
        response_model=ShipmentBody,
        responses=KEYED,
        summary="The RT head confirms what arrived, line by line",
        description=(
            "A line that differs from what was sent needs a discrepancy_reason. The "
            "difference is recorded as an adjustment entry with that reason and moves no "
            "warehouse stock: goods short-shipped are not put back on the shelf, and at "
            f"most {over_shipment_tolerance * 100:g} % more than was sent can be confirmed "
            "(over_shipped, BERDAYA_OVER_SHIPMENT_TOLERANCE). A warehouse "
            "officer counts and corrects the level (POST /stock/adjustments); what is "
            "still owed is reserved again for the job (or waits for stock)."
        ),
    )
    async def confirm_receipt(
        shipment_id: uuid.UUID,
        body: ShipmentReceiptRequest,
        commands: Commands,
        actor: CurrentActor,
        correlation_id: CorrelationId,
        key: IdempotencyKey,
    ) -> JSONResponse:
        return await respond(
            key,
            status_code=status.HTTP_200_OK,
            render=ShipmentBody.of,
            call=lambda record_answer: commands.confirm_shipment_receipt(
                shipment_id, actor, correlation_id, body.lines, record_answer=record_answer
            ),
        )


def _stock_routes(router: APIRouter) -> None:
    @router.get("/catalogue", tags=["stock"], summary="Warehouses and stocked items")
    async def catalogue(reference: References, _: CurrentActor) -> CatalogueView:
        return CatalogueView(
            warehouses=list(reference.catalogue.warehouses),
            items=list(reference.catalogue.items.values()),
        )

    @router.get("/stock", tags=["stock"], summary="Stock per warehouse: on hand, reserved, free")
    async def stock(
        db: ServiceDatabase,
        reference: References,
        actor: CurrentActor,
        paging: PageWanted,
        warehouse: str | None = None,
        item: str | None = None,
    ) -> BalancePage:
        _require_stock_reader(actor)
        catalogue = reference.catalogue
        name = catalogue.warehouse(warehouse) if warehouse else None
        code = catalogue.item(item).code if item else None
        # At most a balance per warehouse and catalogue item: read whole, then paged.
        documents = await StockRepository(db).balances(name, code)
        return BalancePage(
            items=[_balance(d) for d in paging.of(documents)],
            total=len(documents),
            page=paging.page,
            page_size=paging.page_size,
        )

    @router.get("/stock/ledger", tags=["stock"], summary="Stock movements, newest first")
    async def ledger(
        db: ServiceDatabase,
        reference: References,
        actor: CurrentActor,
        paging: LedgerPaging,
        warehouse: str | None = None,
        item: str | None = None,
        kind: LedgerKind | None = None,
        proposal_id: uuid.UUID | None = None,
        shipment_id: uuid.UUID | None = None,
    ) -> LedgerPage:
        _require_stock_reader(actor)
        catalogue = reference.catalogue
        entries, total = await StockRepository(db).entries(
            warehouse=catalogue.warehouse(warehouse) if warehouse else None,
            item=catalogue.item(item).code if item else None,
            kind=kind,
            proposal_id=proposal_id,
            shipment_id=shipment_id,
            skip=paging.skip,
            limit=paging.page_size,
        )
        return LedgerPage(
            items=[LedgerEntryBody.of(entry) for entry in entries],
            total=total,
            page=paging.page,
            page_size=paging.page_size,
        )

    @router.post(
        "/stock/receipts",
        tags=["stock"],
        status_code=status.HTTP_201_CREATED,
        response_model=StockReceiptView,
        responses=KEYED,
        summary="A warehouse officer receives stock from a supplier",
    )
    async def receive(
        body: StockReceiptRequest,
        commands: Commands,
        actor: CurrentActor,
        correlation_id: CorrelationId,
        key: IdempotencyKey,
    ) -> JSONResponse:
        return await respond(
            key,
            status_code=status.HTTP_201_CREATED,
            render=_receipt_view,
            call=lambda record_answer: commands.receive_stock(
                actor,
                correlation_id,
                receipt_id=body.receipt_id,
                warehouse=body.warehouse,
                supplier=body.supplier,
                lines=[IncomingLine(item=ln.item, quantity=ln.quantity) for ln in body.lines],
                note=body.note,
                record_answer=record_answer,
            ),
        )

    @router.post(
        "/stock/adjustments",
        tags=["stock"],
        status_code=status.HTTP_201_CREATED,
        response_model=LedgerEntryBody,
        responses=KEYED,
        summary="A warehouse officer corrects a level after counting, with a reason",
    )
    async def adjust(
        body: AdjustmentRequest,
        commands: Commands,
        actor: CurrentActor,
        correlation_id: CorrelationId,
        key: IdempotencyKey,
    ) -> JSONResponse:
        return await respond(
            key,
            status_code=status.HTTP_201_CREATED,
            render=LedgerEntryBody.of,
            call=lambda record_answer: commands.adjust_stock(
                actor,
                correlation_id,
                warehouse=body.warehouse,
                item=body.item,
                quantity=body.quantity,
                reason=body.reason,
                note=body.note,
                record_answer=record_answer,
            ),
        )
