"""HTTP API of the materials service: warehouse officers ship, RT heads confirm receipt."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, ConfigDict, Field

from services.materials.adapters.repository import MaterialsRepository
from services.materials.domain.job import MaterialJob, Receipt, Shipment, ShipmentLine
from services.materials.service.commands import MaterialCommands
from shared.web.app import CorrelationId
from shared.web.auth import CurrentActor


class DispatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    warehouse: Annotated[str, Field(min_length=1, max_length=120)]
    lines: list[ShipmentLine] | None = Field(
        default=None, description="omit to send everything still owed"
    )
    note: Annotated[str, Field(max_length=2000)] = Field(
        default="", description="vehicle, driver, expected arrival"
    )


class ReceiptRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lines: Annotated[list[Receipt], Field(min_length=1)]


class JobLineView(BaseModel):
    item: str
    unit: str
    required: float
    reserved: float
    in_transit: float
    received: float
    outstanding: float


class JobView(BaseModel):
    proposal_id: uuid.UUID
    norm: str
    work_volume_m3: float
    fulfilled: bool
    lines: list[JobLineView]
    shipments: list[Shipment]


def _view(job: MaterialJob, shipments: list[Shipment]) -> JobView:
    return JobView(
        proposal_id=job.proposal_id,
        norm=job.norm,
        work_volume_m3=job.work_volume_m3,
        fulfilled=job.fulfilled,
        shipments=shipments,
        lines=[
            JobLineView(
                item=line.item,
                unit=line.unit,
                required=line.required,
                reserved=line.reserved,
                in_transit=job.in_transit.get(line.item, 0.0),
                received=line.received,
                outstanding=line.outstanding,
            )
            for line in job.lines
        ],
    )


def _commands(request: Request) -> MaterialCommands:
    commands: MaterialCommands = request.app.state.commands
    return commands


def build_router() -> APIRouter:
    router = APIRouter(tags=["materials"])

    @router.get("/jobs/{proposal_id}", summary="A job's bill of materials and its shipments")
    async def get_job(proposal_id: uuid.UUID, request: Request, _: CurrentActor) -> JobView:
        repository = MaterialsRepository(request.app.state.runtime.db)
        job = await repository.get_job(proposal_id)
        return _view(job, await repository.shipments_of(proposal_id))

    @router.post(
        "/jobs/{proposal_id}/shipments",
        status_code=status.HTTP_201_CREATED,
        summary="A warehouse officer dispatches a shipment to the site",
    )
    async def dispatch(
        proposal_id: uuid.UUID,
        body: DispatchRequest,
        request: Request,
        actor: CurrentActor,
        correlation_id: CorrelationId,
    ) -> Shipment:
        return await _commands(request).dispatch(
            proposal_id,
            actor,
            correlation_id,
            warehouse=body.warehouse,
            lines=body.lines,
            note=body.note,
        )

    @router.get("/shipments/{shipment_id}", summary="One shipment")
    async def get_shipment(shipment_id: uuid.UUID, request: Request, _: CurrentActor) -> Shipment:
        return await MaterialsRepository(request.app.state.runtime.db).get_shipment(shipment_id)

    @router.post(
        "/shipments/{shipment_id}/receipt",
        summary="The RT head confirms what arrived, line by line",
    )
    async def confirm_receipt(
        shipment_id: uuid.UUID,
        body: ReceiptRequest,
        request: Request,
        actor: CurrentActor,
        correlation_id: CorrelationId,
    ) -> Shipment:
        return await _commands(request).confirm_receipt(
            shipment_id, actor, correlation_id, body.lines
        )

    return router
