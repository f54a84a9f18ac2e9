"""Material jobs and shipments in MongoDB, inside the unit of work's transaction."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession

from services.materials.domain.job import JobStatus, MaterialJob, Shipment, no_job, no_shipment
from shared.errors import Conflict
from shared.storage.documents import from_document, to_document
from shared.storage.mongo import Database

JOBS = "jobs"
SHIPMENTS = "shipments"
# Proposals rejected or cancelled (`closed_at` set): an approval that arrives after its
# cancellation (they travel on different queues) must not reserve stock. Every approval,
# rejection and cancellation writes its proposal's document first (see `mark`).
CLOSED = "closed_proposals"


async def create_indexes(db: Database) -> None:
    await db[JOBS].create_indexes(
        [
            IndexModel([("area.kecamatan", ASCENDING)]),
            # arriving stock serves the waiting jobs, oldest approval first
            IndexModel([("waiting", ASCENDING), ("approved_at", ASCENDING)]),
            IndexModel([("status", ASCENDING), ("approved_at", DESCENDING)]),
        ]
    )
    await db[SHIPMENTS].create_indexes(
        [
            IndexModel([("proposal_id", ASCENDING)]),
            IndexModel([("status", ASCENDING), ("dispatched_at", ASCENDING)]),
        ]
    )
    # touched once so that the collection exists before the first transaction uses it
    await db[CLOSED].create_indexes([IndexModel([("closed_at", ASCENDING)])])


class MaterialsRepository:
    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        self._jobs = db[JOBS]
        self._shipments = db[SHIPMENTS]
        self._closed = db[CLOSED]
        self._session = session

    async def get_job(self, proposal_id: uuid.UUID) -> MaterialJob:
        job = await self.find_job(proposal_id)
        if job is None:
            raise no_job(proposal_id)
        return job

    async def find_job(self, proposal_id: uuid.UUID) -> MaterialJob | None:
        document = await self._jobs.find_one({"_id": str(proposal_id)}, session=self._session)
        return None if document is None else from_document(MaterialJob, document)

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

    async def waiting_jobs(self) -> AsyncIterator[MaterialJob]:
        """Jobs still short of stock, oldest approval first."""
        cursor = self._jobs.find({"waiting": True}, session=self._session)
        async for document in cursor.sort([("approved_at", ASCENDING), ("_id", ASCENDING)]):
            yield from_document(MaterialJob, document)

    async def list_jobs(
        self, status: JobStatus | None, *, skip: int, limit: int
    ) -> tuple[list[MaterialJob], int]:
        filters: dict[str, Any] = {} if status is None else {"status": status}
        total = await self._jobs.count_documents(filters, session=self._session)
        cursor = self._jobs.find(filters, session=self._session).sort("approved_at", DESCENDING)
        jobs = [from_document(MaterialJob, d) async for d in cursor.skip(skip).limit(limit)]
        return jobs, total

    async def get_shipment(self, shipment_id: uuid.UUID) -> Shipment:
        document = await self._shipments.find_one({"_id": str(shipment_id)}, session=self._session)
        if document is None:
            raise no_shipment(shipment_id)
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

    async def list_shipments(
        self,
        *,
        status: str | None,
        warehouse: str | None,
        proposal_id: uuid.UUID | None,
        skip: int,
        limit: int,
    ) -> tuple[list[Shipment], int]:
        filters: dict[str, Any] = {}
        if status is not None:
            filters["status"] = status
        if warehouse is not None:
            filters["warehouse"] = warehouse
        if proposal_id is not None:
            filters["proposal_id"] = proposal_id
        total = await self._shipments.count_documents(filters, session=self._session)
        cursor = self._shipments.find(filters, session=self._session).sort(
            "dispatched_at", ASCENDING
        )
        return [from_document(Shipment, d) async for d in cursor.skip(skip).limit(limit)], total

    async def mark(self, proposal_id: uuid.UUID) -> None:
        """Write the proposal's marker document (in `closed_proposals`).

        Every handler of a proposal's approval, rejection or cancellation writes it first,
        before reading anything else about the proposal: two of them running at once then
        write the same document, so one transaction conflicts and is retried against what
        the other committed (otherwise an approval that read "not closed, no job" and a
        cancellation that read "no job" would both commit, leaving stock reserved for a
        cancelled job)."""
        await self._closed.update_one(
            {"_id": str(proposal_id)},
            {"$inc": {"handled": 1}},
            upsert=True,
            session=self._session,
        )

    async def close(self, proposal_id: uuid.UUID, event_type: str, at: datetime) -> None:
        """Remember that the proposal was rejected or cancelled (idempotent)."""
        await self.mark(proposal_id)
        await self._closed.update_one(
            {"_id": str(proposal_id), "closed_at": {"$exists": False}},
            {"$set": {"event_type": event_type, "closed_at": at}},
            session=self._session,
        )

    async def is_closed(self, proposal_id: uuid.UUID) -> bool:
        found = await self._closed.find_one(
            {"_id": str(proposal_id), "closed_at": {"$exists": True}}, session=self._session
        )
        return found is not None
