"""The proposals' marker documents, kept in `closed_proposals` up to 0.3.0, are in
`proposal_markers` now: a start of the materials service renames the collection, with
its documents and indexes, against real MongoDB and RabbitMQ; later starts leave it be."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from services.materials.adapters.repository import (
    FORMER_MARKERS,
    MARKERS,
    MaterialsRepository,
    rename_former_markers,
)
from shared.settings import database_name
from shared.slots import Level
from shared.storage.mongo import Database
from tests.support.events import proposal_approved
from tests.support.infrastructure import Infrastructure
from tests.support.materials import CENTRAL, emitted, handle, levels, materials_api, receive_stock

CANCELLED_AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


@pytest_asyncio.fixture(loop_scope="session")
async def db(infra: Infrastructure, namespace: str) -> AsyncIterator[Database]:
    """The materials database of this test's namespace, before the service starts."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        infra.mongodb_url, uuidRepresentation="standard", tz_aware=True
    )
    try:
        yield client[database_name(namespace, "materials")]
    finally:
        await client.close()


async def left_by_0_3(db: Database) -> tuple[uuid.UUID, list[dict[str, Any]]]:
    """`closed_proposals` as 0.3.0 leaves it: a marker an approval wrote, one of a
    cancelled proposal, and the index on `closed_at`. Returns the cancelled one's id."""
    approved, cancelled = uuid.uuid4(), uuid.uuid4()
    documents = [
        {"_id": str(approved), "handled": 1},
        {
            "_id": str(cancelled),
            "handled": 1,
            "event_type": "proposal.cancelled",
            "closed_at": CANCELLED_AT,
        },
    ]
    await db[FORMER_MARKERS].insert_many(documents)
    await db[FORMER_MARKERS].create_index("closed_at")
    return cancelled, documents


async def markers(db: Database) -> list[dict[str, Any]]:
    return await db[MARKERS].find().sort("_id", 1).to_list()


async def collection_id(db: Database, name: str) -> Any:
    """The collection's uuid: the same after a rename, a new one if it was made anew."""
    found = await db.list_collections(filter={"name": name})
    infos = await found.to_list()
    assert len(infos) == 1, f"{name}: {infos}"
    return infos[0]["info"]["uuid"]


async def test_a_start_renames_closed_proposals_with_its_documents_and_a_second_leaves_it(
    infra: Infrastructure, namespace: str, db: Database
) -> None:
    cancelled, documents = await left_by_0_3(db)
    former_id = await collection_id(db, FORMER_MARKERS)

    async with materials_api(infra, namespace) as materials:
        assert FORMER_MARKERS not in await db.list_collection_names()
        assert await markers(db) == sorted(documents, key=lambda d: d["_id"])
        assert await collection_id(db, MARKERS) == former_id  # renamed, not copied
        assert "closed_at_1" in await db[MARKERS].index_information()
        # what was renamed is read: a cancellation recorded under 0.3.0 still stops
        # its late approval from reserving anything
        assert await MaterialsRepository(db).is_closed(cancelled)
        await receive_stock(materials.api, {"cement": 600})
        await handle(
            materials.runtime, materials.handlers, proposal_approved(proposal_id=cancelled)
        )
        assert (await materials.job(cancelled))["status"] == "cancelled"
        assert (await levels(materials.runtime))[(CENTRAL, "cement")] == Level(600, 0)
        assert await emitted(materials.runtime, "material.reserved") == []
        after_first = await markers(db)

    async with materials_api(infra, namespace):  # the second start: nothing to do
        assert FORMER_MARKERS not in await db.list_collection_names()
        assert await collection_id(db, MARKERS) == former_id
        assert await markers(db) == after_first


async def test_replicas_renaming_at_once_all_start_and_rename_it_once(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, documents = await left_by_0_3(db)
    former_id = await collection_id(db, FORMER_MARKERS)
    replicas = 4
    # every replica looks before any renames: all find only the former name
    all_looked = asyncio.Barrier(replicas)
    look = AsyncDatabase.list_collection_names

    async def look_then_wait(self: Database, *args: Any, **kwargs: Any) -> list[str]:
        found = await look(self, *args, **kwargs)
        await all_looked.wait()
        return found

    renames: list[int | None] = []  # None: renamed, else MongoDB's error code
    rename = AsyncCollection.rename

    async def counted(self: AsyncCollection[Any], *args: Any, **kwargs: Any) -> Any:
        try:
            answer = await rename(self, *args, **kwargs)
        except OperationFailure as error:
            renames.append(error.code)
            raise
        renames.append(None)
        return answer

    monkeypatch.setattr(AsyncDatabase, "list_collection_names", look_then_wait)
    monkeypatch.setattr(AsyncCollection, "rename", counted)
    await asyncio.gather(*(rename_former_markers(db) for _ in range(replicas)))
    monkeypatch.undo()

    # one renamed; the others found the former name gone (NamespaceNotFound) and started
    assert sorted(renames, key=str) == [26] * (replicas - 1) + [None]
    assert set(await db.list_collection_names()) == {MARKERS}
    assert await collection_id(db, MARKERS) == former_id
    assert await markers(db) == sorted(documents, key=lambda d: d["_id"])


async def test_a_new_deployment_has_nothing_to_rename(db: Database) -> None:
    await rename_former_markers(db)
    assert await db.list_collection_names() == []


async def test_both_collections_present_are_left_as_they_are(db: Database) -> None:
    """`closed_proposals` beside `proposal_markers`: written by a replica of 0.3.0 that
    ran beside this version after the rename. Nothing is overwritten or dropped (the log
    says what to do) and the service starts."""
    _, former = await left_by_0_3(db)
    await db[MARKERS].insert_one({"_id": "newer", "handled": 1})
    await rename_former_markers(db)
    assert await db[FORMER_MARKERS].find().sort("_id", 1).to_list() == sorted(
        former, key=lambda d: d["_id"]
    )
    assert await markers(db) == [{"_id": "newer", "handled": 1}]
