"""What a committed transaction sets off: the relay only when it emitted events, a
unit of work's own callbacks only once it committed (never for an aborted attempt)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from shared.storage import mongo
from shared.storage.unit_of_work import Transactions, UnitOfWork
from tests.support.events import work_started
from tests.support.infrastructure import Infrastructure


class Refused(Exception):
    pass


async def test_the_relay_is_woken_by_commits_that_emitted_and_only_by_them(
    infra: Infrastructure,
) -> None:
    client = mongo.connect(infra.mongodb_url, "unit-of-work-test")
    db = client[f"uow_{uuid.uuid4().hex[:12]}"]
    relay_woken: list[str] = []
    transactions = Transactions(
        client, db, "proposals", after_emitting=lambda: relay_woken.append("woken")
    )

    async def emits(uow: UnitOfWork) -> None:
        await uow.emit(work_started())

    async def writes_only(uow: UnitOfWork) -> None:
        await uow.db["things"].insert_one({"_id": uuid.uuid4().hex}, session=uow.session)

    async def emits_then_refuses(uow: UnitOfWork) -> None:
        await uow.emit(work_started())
        raise Refused

    try:
        await transactions.run(writes_only, correlation_id="c1")
        assert relay_woken == []
        await transactions.run(emits, correlation_id="c2")
        assert relay_woken == ["woken"]
        with pytest.raises(Refused):
            await transactions.run(emits_then_refuses, correlation_id="c3")
        assert relay_woken == ["woken"]  # rolled back: nothing to publish
    finally:
        await client.drop_database(db.name)
        await client.close()


async def test_a_units_callbacks_run_once_after_its_commit_and_not_for_aborted_attempts(
    infra: Infrastructure,
) -> None:
    client = mongo.connect(infra.mongodb_url, "unit-of-work-test")
    db = client[f"uow_{uuid.uuid4().hex[:12]}"]
    await db["hot"].insert_one({"_id": "hot", "writes": 0})
    transactions = Transactions(client, db, "materials")
    called: list[int] = []
    holder_wrote = asyncio.Event()
    loser_tried = asyncio.Event()

    async def increment(uow: UnitOfWork) -> None:
        await uow.db["hot"].update_one({"_id": "hot"}, {"$inc": {"writes": 1}}, session=uow.session)

    async def holder(uow: UnitOfWork) -> None:
        await increment(uow)
        holder_wrote.set()
        await asyncio.wait_for(loser_tried.wait(), timeout=10)  # keeps the document

    async def loser(uow: UnitOfWork) -> None:
        await holder_wrote.wait()
        attempt = uow.attempt
        uow.after_commit(lambda: called.append(attempt))
        try:
            await increment(uow)  # a write conflict on the first attempt
        finally:
            loser_tried.set()

    try:
        await asyncio.gather(
            transactions.run(holder, correlation_id="holder"),
            transactions.run(loser, correlation_id="loser"),
        )
        writes = (await db["hot"].find_one({"_id": "hot"}) or {})["writes"]
    finally:
        await client.drop_database(db.name)
        await client.close()

    assert writes == 2
    # the loser registered a callback on every attempt; only the committed one ran
    assert len(called) == 1 and called[0] >= 2
