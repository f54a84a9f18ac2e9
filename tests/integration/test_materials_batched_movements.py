"""Several stock movements of one unit of work recorded at once, against real MongoDB:
movements of one level each see the ones before them, a refusal of any writes nothing,
and the round trips do not grow with the number of lines."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient, monitoring

from services.materials.adapters.stock import BALANCES, LEDGER, StockRepository
from services.materials.domain.stock import LedgerEntry, LedgerKind, Movement, entry
from shared.errors import Conflict
from shared.slots import Level
from shared.storage.mongo import Database, Document
from tests.support.infrastructure import Infrastructure
from tests.support.materials import (
    CENTRAL,
    SOUTH,
    MaterialsApi,
    assert_levels_match_the_ledger,
    levels,
    receive_stock,
)

ITEMS = ("cement", "sand", "gravel", "split_stone")
UNITS = {"cement": "bag", "sand": "m3", "gravel": "m3", "split_stone": "m3"}
# every level of the catalogue: 8 levels of 16 slots, more than the 101 documents of a
# first batch
EVERY_LEVEL = [(w, i) for w in (CENTRAL, SOUTH) for i in ITEMS]


class Commands(monitoring.CommandListener):
    """(command, collection) of every command sent to one database."""

    def __init__(self) -> None:
        self.database = ""
        self.sent: list[tuple[str, str]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.database_name == self.database:
            self.sent.append((event.command_name, str(event.command.get(event.command_name))))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest_asyncio.fixture(loop_scope="session")
async def counted(
    infra: Infrastructure, materials: MaterialsApi
) -> AsyncIterator[tuple[Database, Commands]]:
    """The materials database through a client that counts the commands it sends."""
    commands = Commands()
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        infra.mongodb_url,
        event_listeners=[commands],
        uuidRepresentation="standard",
        tz_aware=True,
    )
    commands.database = materials.runtime.db.name
    try:
        yield client[commands.database], commands
    finally:
        await client.close()


def moved(kind: LedgerKind, warehouse: str, item: str, quantity: float) -> LedgerEntry:
    movement = Movement(
        kind=kind,
        warehouse=warehouse,
        item=item,
        unit=UNITS[item],
        quantity=quantity,
        by="warehouse-officer-sari",
        at=datetime.now(UTC),
    )
    return entry(movement, uuid.uuid4())


async def recorded_in_a_transaction(
    db: Database, entries: Sequence[LedgerEntry], commands: Commands
) -> list[tuple[str, str]]:
    """The commands that recording ``entries`` together in a transaction sends."""
    async with db.client.start_session() as session:

        async def record(session: Any) -> None:
            commands.sent.clear()
            await StockRepository(db, session).record_all(entries)

        await session.with_transaction(record)
    return list(commands.sent)


async def test_two_movements_of_one_level_in_one_call_are_both_applied(
    materials: MaterialsApi,
) -> None:
    assert (await receive_stock(materials.api, {"cement": 100})).is_success
    await StockRepository(materials.runtime.db).record_all(
        [
            moved("reservation", CENTRAL, "cement", 60),
            moved("reservation", CENTRAL, "cement", 30),
            moved("release", CENTRAL, "cement", 20),
            moved("dispatch", CENTRAL, "cement", 70),
        ]
    )
    assert (await levels(materials.runtime))[(CENTRAL, "cement")] == Level(30, 0)
    slots = await materials.runtime.db[BALANCES].find({"item": "cement"}).to_list()
    assert all(0 <= s["reserved"] <= s["on_hand"] + 1e-9 for s in slots), "a slot oversold"
    await assert_levels_match_the_ledger(materials.runtime)


async def test_movements_one_of_which_cannot_be_taken_write_nothing(
    materials: MaterialsApi,
) -> None:
    assert (await receive_stock(materials.api, {"cement": 100, "sand": 10})).is_success
    db = materials.runtime.db
    balances_before = await db[BALANCES].find().sort("_id").to_list()
    ledger_before = await db[LEDGER].count_documents({})
    # outside a transaction: nothing to roll back, so nothing may have been written
    with pytest.raises(Conflict) as refused:
        await StockRepository(db).record_all(
            [
                moved("reservation", CENTRAL, "cement", 60),
                moved("reservation", CENTRAL, "sand", 11),
                moved("receipt", CENTRAL, "gravel", 5),
            ]
        )
    assert str(refused.value) == (
        f"{CENTRAL} cannot reserve 11 m3 of sand: it has 10 on hand, 0 of them reserved, "
        "10 available"
    )
    assert await db[BALANCES].find().sort("_id").to_list() == balances_before
    assert await db[LEDGER].count_documents({}) == ledger_before


async def test_recording_more_lines_takes_no_more_commands(
    materials: MaterialsApi, counted: tuple[Database, Commands]
) -> None:
    db, commands = counted
    one = await recorded_in_a_transaction(db, [moved("receipt", CENTRAL, "cement", 500)], commands)
    every = await recorded_in_a_transaction(
        db, [moved("receipt", w, i, 500) for w, i in EVERY_LEVEL], commands
    )
    assert (
        one
        == every
        == [
            ("find", BALANCES),
            ("update", BALANCES),
            ("update", "stock_gates"),
            ("insert", LEDGER),
        ]
    )
    # reservations take nothing from the gates; two lines of one level count as two
    reservations = [moved("reservation", w, i, 100) for w, i in EVERY_LEVEL] * 2
    assert await recorded_in_a_transaction(db, reservations, commands) == [
        ("find", BALANCES),
        ("update", BALANCES),
        ("insert", LEDGER),
    ]
    expected = dict.fromkeys(EVERY_LEVEL, Level(500, 200))
    expected[(CENTRAL, "cement")] = Level(1000, 200)  # received in both calls
    assert await levels(materials.runtime) == expected
    await assert_levels_match_the_ledger(materials.runtime)
