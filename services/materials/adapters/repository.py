"""Material jobs and shipments in MongoDB, inside the unit of work's transaction."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import OperationFailure

from services.materials.domain.job import JobStatus, MaterialJob, Shipment, no_job, no_shipment
from shared.errors import Conflict
from shared.logs import get_logger
from shared.storage.documents import from_document, to_document
from shared.storage.mongo import Database

log = get_logger(__name__)

JOBS = "jobs"
SHIPMENTS = "shipments"
# One marker document per proposal that an approval, a rejection or a cancellation has
# reached: each of them writes it first (`mark`), so that two of them handled at once
# conflict and one is retried after the other. A rejection or cancellation also sets
# `closed_at` (`close`): an approval that arrives after its cancellation (they travel on
# different queues) then reserves nothing (`is_closed`).
MARKERS = "proposal_markers"
# The same collection's name up to 0.3.0, renamed at start-up (`rename_former_markers`).
FORMER_MARKERS = "closed_proposals"
_UNAUTHORIZED, _NAMESPACE_NOT_FOUND, _NAMESPACE_EXISTS = 13, 26, 48


class RenameRefused(RuntimeError):
    """MongoDB refuses this service's user the renaming of the markers' collection."""


async def rename_former_markers(db: Database) -> None:
    """Rename `closed_proposals` to `proposal_markers` if only the former exists.

    Before `create_indexes`, which would create the new collection. renameCollection is
    atomic within a database and keeps the documents and the indexes; once done, a start
    finds `closed_proposals` gone and does nothing. Replicas starting at once may all
    try: the first renames, the others find the source gone (NamespaceNotFound) or the
    target there (NamespaceExists), which is the same outcome.
    """
    names = {FORMER_MARKERS, MARKERS}
    found = set(await db.list_collection_names(filter={"name": {"$in": sorted(names)}}))
    if FORMER_MARKERS not in found:
        return
    if MARKERS in found:
        # made again by a replica of 0.3.0 or earlier that ran beside this version
        log.warning(
            f"{FORMER_MARKERS} exists beside {MARKERS} and is not read: a replica of an "
            "earlier version wrote to it after the rename. Merge its documents into "
            f"{MARKERS} (by _id: add up `handled`, keep `closed_at` and `event_type`), "
            "then drop it",
            database=db.name,
        )
        return
    try:
        await db[FORMER_MARKERS].rename(MARKERS)
    except OperationFailure as error:
        if error.code in (_NAMESPACE_NOT_FOUND, _NAMESPACE_EXISTS):
            return  # another replica renamed it meanwhile
        if error.code == _UNAUTHORIZED:
            raise RenameRefused(
                f"renaming {FORMER_MARKERS} to {MARKERS} in {db.name} is refused: the "
                f"service's role needs find and dropCollection on {FORMER_MARKERS}, or an "
                f"administrator renames it once (db.{FORMER_MARKERS}.renameCollection("
                f"'{MARKERS}')); the service then starts by itself"
            ) from error
        raise
    log.info(f"renamed {FORMER_MARKERS} to {MARKERS}", database=db.name)


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
    await db[MARKERS].create_indexes([IndexModel([("closed_at", ASCENDING)])])


class MaterialsRepository:
    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        self._jobs = db[JOBS]
        self._shipments = db[SHIPMENTS]
        self._markers = db[MARKERS]
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
        """Write the proposal's marker document (in `proposal_markers`).

        Every handler of a proposal's approval, rejection or cancellation writes it first,
        before reading anything else about the proposal: two of them running at once then
        write the same document, so one transaction conflicts and is retried against what
        the other committed (otherwise an approval that read "not closed, no job" and a
        cancellation that read "no job" would both commit, leaving stock reserved for a
        cancelled job)."""
        await self._markers.update_one(
            {"_id": str(proposal_id)},
            {"$inc": {"handled": 1}},
            upsert=True,
            session=self._session,
        )

    async def close(self, proposal_id: uuid.UUID, event_type: str, at: datetime) -> None:
        """Remember that the proposal was rejected or cancelled (idempotent)."""
        await self.mark(proposal_id)
        await self._markers.update_one(
            {"_id": str(proposal_id), "closed_at": {"$exists": False}},
            {"$set": {"event_type": event_type, "closed_at": at}},
            session=self._session,
        )

    async def is_closed(self, proposal_id: uuid.UUID) -> bool:
        found = await self._markers.find_one(
            {"_id": str(proposal_id), "closed_at": {"$exists": True}}, session=self._session
        )
        return found is not None
