"""Transactions of one process take turns on slots: a free slot for each while there is
one, and the one after waits for a turn instead of meeting another at its slot."""

from __future__ import annotations

import asyncio

from shared.slots import SlotTurns


async def test_transactions_at_once_each_get_a_slot_of_their_own_while_there_are_free_ones() -> (
    None
):
    turns = SlotTurns(4)
    held: list[int] = []
    release = asyncio.Event()

    async def transaction() -> None:
        async with turns.turn() as slot:
            held.append(slot)
            await release.wait()

    running = [asyncio.create_task(transaction()) for _ in range(4)]
    await asyncio.sleep(0)
    assert sorted(held) == [0, 1, 2, 3]
    release.set()
    await asyncio.gather(*running)


async def test_one_more_than_the_slots_waits_for_a_turn_and_then_gets_one() -> None:
    turns = SlotTurns(2)
    order: list[str] = []
    first_done = asyncio.Event()

    async def transaction(name: str, until: asyncio.Event | None) -> None:
        async with turns.turn():
            order.append(f"{name} in")
            if until is not None:
                await until.wait()
            order.append(f"{name} out")

    a = asyncio.create_task(transaction("a", first_done))
    b = asyncio.create_task(transaction("b", first_done))
    await asyncio.sleep(0)
    c = asyncio.create_task(transaction("c", None))
    await asyncio.sleep(0.01)
    assert "c in" not in order  # both slots held: c waits
    first_done.set()
    await asyncio.gather(a, b, c)
    assert order.index("c in") > min(order.index("a out"), order.index("b out"))
