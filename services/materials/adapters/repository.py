"""Material jobs and shipments in MongoDB, inside the unit of work's transaction."""

from __future__ import annotations

import uuid

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession

from services.materials.domain.job import MaterialJob, Shipment
from shared.errors import Conflict, NotFound
from shared.storage.documents import from_document, to_document
from shared.storage.mongo import Database

JOBS = "jobs"
SHIPMENTS = "shipments"


async def create_indexes(db: Database) -> None:
    await db[JOBS].create_indexes([IndexModel([("area.kecamatan", ASCENDING)])])
    await db[SHIPMENTS].create_indexes(
        [IndexModel([("proposal_id", ASCENDING)]), IndexModel([("status", ASCENDING)])]
    )


class MaterialsRepository:
    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        self._jobs = db[JOBS]
        self._shipments = db[SHIPMENTS]
        self._session = session

    async def get_job(self, proposal_id: uuid.UUID) -> MaterialJob:
        document = await self._jobs.find_one({"_id": str(proposal_id)}, session=self._session)
        if document is None:
            raise NotFound(f"no materials job for proposal {proposal_id} (is it approved?)")
        return from_document(MaterialJob, document)

    async def add_job(self, job: MaterialJob) -> None:
        await self._jobs.insert_one(to_document(job, job.proposal_id), session=self._session)

    async def save_job(self, job: MaterialJob) -> None:
        expected = job.revision
        job.revision = expected + 1
        result = await self._jobs.replace_one(
            {"_id": str(job.proposal_id), "revision": expected},
            to_document(job, job.proposal_id),
            session=self._session,
        )
        if result.matched_count != 1:
            raise Conflict(f"materials job {job.proposal_id} changed meanwhile; try again")

    async def get_shipment(self, shipment_id: uuid.UUID) -> Shipment:
        document = await self._shipments.find_one({"_id": str(shipment_id)}, session=self._session)
        if document is None:
            raise NotFound(f"no shipment {shipment_id}")
        return from_document(Shipment, document)

    async def add_shipment(self, shipment: Shipment) -> None:
        await self._shipments.insert_one(to_document(shipment, shipment.id), session=self._session)

    async def save_shipment(self, shipment: Shipment) -> None:
        await self._shipments.replace_one(
            {"_id": str(shipment.id)}, to_document(shipment, shipment.id), session=self._session
        )

    async def shipments_of(self, proposal_id: uuid.UUID) -> list[Shipment]:
        cursor = self._shipments.find({"proposal_id": proposal_id}, session=self._session)
        return [from_document(Shipment, d) async for d in cursor.sort("dispatched_at", ASCENDING)]
