"""Reservations against real MongoDB (and RabbitMQ where events travel): an approval
reserves what exists, a shortage waits for stock, racing approvals never overspend,
cancellations give stock back."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from services.materials.adapters.stock import StockRepository
from shared.contracts import ReceivedEvent, new_envelope
from shared.contracts.events import ProposalApprovedV2, ProposalCancelledV2
from shared.contracts.types import Contract, Dimensions
from shared.slots import Level
from shared.storage.unit_of_work import UnitOfWork
from tests.support.events import (
    proposal_approved,
    proposal_cancelled,
    proposal_rejected,
    stock_received,
)
from tests.support.infrastructure import Infrastructure
from tests.support.materials import (
    CENTRAL,
    ROAD_BILL,
    SOUTH,
    MaterialsApi,
    assert_levels_match_the_ledger,
    emitted,
    handle,
    job_lines,
    levels,
    receive_stock,
)
from tests.support.probe import EventProbe, eventually_async
from tests.support.runtime import publish_envelope, running_service

Handler = Callable[[ReceivedEvent[Any], UnitOfWork], Awaitable[None]]
D = TypeVar("D", ProposalApprovedV2, ProposalCancelledV2)

# --------------------------------------------------------------------------------------------
# approval
# --------------------------------------------------------------------------------------------


async def test_approval_with_enough_stock_reserves_the_whole_bill(materials: MaterialsApi) -> None:
    assert (
        await receive_stock(materials.api, {"cement": 600, "sand": 50, "gravel": 50})
    ).is_success
    approved = proposal_approved()
    await handle(materials.runtime, materials.handlers, approved)

    job = await materials.job(approved.proposal_id)
    assert job["status"] == "reserved"
    assert await materials.reserved(approved.proposal_id) == ROAD_BILL
    [reserved] = await emitted(materials.runtime, "material.reserved")
    assert reserved["complete"] is True
    assert {ln["item"]: ln["quantity"] for ln in reserved["lines"]} == ROAD_BILL
    assert await emitted(materials.runtime, "material.shortage") == []
    assert (await levels(materials.runtime))[(CENTRAL, "cement")] == Level(600, 493)
    await assert_levels_match_the_ledger(materials.runtime)


async def test_approval_short_of_stock_reserves_what_exists_and_reports_the_rest(
    materials: MaterialsApi,
) -> None:
    await receive_stock(materials.api, {"cement": 300, "sand": 41.1})
    await receive_stock(materials.api, {"cement": 100}, warehouse=SOUTH)
    approved = proposal_approved()
    await handle(materials.runtime, materials.handlers, approved)

    job = await materials.job(approved.proposal_id)
    lines = job_lines(job)
    assert job["status"] == "waiting"
    assert lines["cement"]["reserved_at"] == {CENTRAL: 300, SOUTH: 100}
    assert (lines["cement"]["short"], lines["sand"]["short"], lines["gravel"]["short"]) == (
        93,
        0,
        43.3,
    )
    [reserved] = await emitted(materials.runtime, "material.reserved")
    assert reserved["complete"] is False
    assert {ln["item"]: ln["quantity"] for ln in reserved["lines"]} == {
        "cement": 400,
        "sand": 41.1,
        "gravel": 0,
    }
    [shortage] = await emitted(materials.runtime, "material.shortage")
    assert {ln["item"]: ln["quantity"] for ln in shortage["missing"]} == {
        "cement": 93,
        "gravel": 43.3,
    }
    await assert_levels_match_the_ledger(materials.runtime)


async def test_arriving_stock_completes_waiting_jobs_oldest_first_never_beyond_the_bill(
    materials: MaterialsApi,
) -> None:
    older, newer = proposal_approved(), proposal_approved()
    await handle(materials.runtime, materials.handlers, older)
    await handle(materials.runtime, materials.handlers, newer)

    # the city's system reports 600 bags: the older job gets its 493, the newer the rest
    await handle(
        materials.runtime, materials.handlers, stock_received({"cement": 600}), "city-warehouse"
    )
    assert (await materials.reserved(older.proposal_id))["cement"] == 493
    assert (await materials.reserved(newer.proposal_id))["cement"] == 107

    # an officer receives the aggregates and more cement than anyone needs
    response = await receive_stock(materials.api, {"cement": 1000, "sand": 100, "gravel": 100})
    assert response.status_code == 201, response.text
    assert response.json()["jobs_topped_up"] == [str(older.proposal_id), str(newer.proposal_id)]
    for approved in (older, newer):
        assert await materials.reserved(approved.proposal_id) == ROAD_BILL
        assert (await materials.job(approved.proposal_id))["status"] == "reserved"
    assert (await levels(materials.runtime))[(CENTRAL, "cement")] == Level(1600, 986)

    announced = [
        (data["proposal_id"], data["complete"])
        for data in await emitted(materials.runtime, "material.reserved")
    ]
    older_id, newer_id = str(older.proposal_id), str(newer.proposal_id)
    assert announced == [
        (older_id, False),  # the approvals, nothing in stock
        (newer_id, False),
        (older_id, False),  # 600 bags of cement
        (newer_id, False),
        (older_id, True),  # the officer's receipt completes both, oldest first
        (newer_id, True),
    ]
    await assert_levels_match_the_ledger(materials.runtime)


async def test_a_job_that_cannot_be_computed_is_announced_unplannable_and_reserves_nothing(
    materials: MaterialsApi,
) -> None:
    await receive_stock(materials.api, {"cement": 600})
    drain_without_depth = proposal_approved(
        work_type="drain",
        concrete_grade=None,
        dimensions=Dimensions(length_m=100, width_m=0.4, thickness_m=0.2),
    )
    await handle(materials.runtime, materials.handlers, drain_without_depth)
    [refusal] = await emitted(materials.runtime, "material.unplannable")
    assert "depth_m" in refusal["reason"]
    assert (refusal["work_type"], refusal["allowed_grades"]) == ("drain", [])
    assert await emitted(materials.runtime, "material.reserved") == []
    assert (await levels(materials.runtime))[(CENTRAL, "cement")] == Level(600, 0)


# --------------------------------------------------------------------------------------------
# racing approvals
# --------------------------------------------------------------------------------------------

RACERS = 4


async def test_approvals_racing_for_the_last_stock_never_reserve_more_than_exists(
    materials: MaterialsApi,
) -> None:
    # enough for two roads and a bit; four approvals want it at the very same moment
    stock = {"cement": 1000.0, "sand": 100.0, "gravel": 100.0}
    await receive_stock(materials.api, stock)
    events = [
        ReceivedEvent(
            envelope=new_envelope(data, producer="proposals", correlation_id=f"race-{i}"),
            data=data,
        )
        for i, data in enumerate(proposal_approved() for _ in range(RACERS))
    ]
    attempts: Counter[int] = Counter()
    everyone_has_read = asyncio.Barrier(RACERS)

    async def approve(racer: int) -> None:
        async def work(uow: UnitOfWork) -> None:
            attempts[racer] += 1
            if attempts[racer] == 1:
                # every transaction reads the level before any of them writes it
                await StockRepository(uow.db, uow.session).available(stock)
                async with asyncio.timeout(30):
                    await everyone_has_read.wait()
            await materials.handlers.on_proposal_approved(events[racer], uow)

        await materials.runtime.transactions.run(work, correlation_id=f"race-{racer}")

    await asyncio.gather(*(approve(racer) for racer in range(RACERS)))

    assert sum(attempts.values()) > RACERS, "no transaction had to retry: there was no race"
    reserved: Counter[str] = Counter()
    for event in events:
        assert isinstance(event.data, ProposalApprovedV2)
        job = await materials.reserved(event.data.proposal_id)
        assert all(job[item] <= ROAD_BILL[item] for item in ROAD_BILL)
        reserved.update(job)
    # all the stock is reserved, exactly once, and not one bag more
    assert {item: round(q, 6) for item, q in reserved.items()} == stock
    for item, quantity in stock.items():
        assert (await levels(materials.runtime))[(CENTRAL, item)] == Level(quantity, quantity)
    await assert_levels_match_the_ledger(materials.runtime)


async def test_two_replicas_taking_approvals_from_the_broker_never_overspend(
    infra: Infrastructure, namespace: str, materials: MaterialsApi
) -> None:
    await receive_stock(materials.api, {"cement": 700, "sand": 60, "gravel": 60})
    approvals = [proposal_approved() for _ in range(6)]
    async with running_service("materials", infra, namespace):  # a second replica
        await asyncio.gather(
            *(
                publish_envelope(
                    infra, namespace, new_envelope(a, producer="proposals", correlation_id="r")
                )
                for a in approvals
            )
        )
        await eventually_async(
            lambda: materials.runtime.db["jobs"].count_documents({}), 6, what="six jobs"
        )
    total: Counter[str] = Counter()
    for approved in approvals:
        total.update(await materials.reserved(approved.proposal_id))
    assert {item: round(q, 6) for item, q in total.items()} == {
        "cement": 700,
        "sand": 60,
        "gravel": 60,
    }
    await assert_levels_match_the_ledger(materials.runtime)


# --------------------------------------------------------------------------------------------
# a receipt meeting a job that waits for it
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("first", ["approval", "receipt"])
async def test_a_receipt_and_an_approval_short_of_it_at_once_never_miss_each_other(
    materials: MaterialsApi, first: str
) -> None:
    """The job's transaction finds no stock; the receipt's transaction finds no waiting
    job: each ran before the other committed. Unless they meet on a document (the job
    writes a gate of what it lacks: `StockRepository.wait_for`), both commit and
    the job waits for stock that sits on the shelf. With that gate, the second one
    conflicts, is retried after the first commits, and sees it."""
    approved = proposal_approved()
    received = stock_received(ROAD_BILL)
    work: dict[str, tuple[Contract, Handler]] = {
        "approval": (approved, materials.handlers.on_proposal_approved),
        "receipt": (received, materials.handlers.on_stock_received),
    }
    first_done, release_first, second_tried = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def run_first(uow: UnitOfWork) -> None:
        data, handler = work[first]
        await handler(_received(data), uow)
        first_done.set()
        await release_first.wait()  # hold the transaction open, uncommitted

    async def run_second(uow: UnitOfWork) -> None:
        [(data, handler)] = [w for name, w in work.items() if name != first]
        try:
            await handler(_received(data), uow)
        finally:
            second_tried.set()  # its first attempt ran (to the end, or to a conflict)

    transactions = materials.runtime.transactions
    running_first = asyncio.create_task(transactions.run(run_first, correlation_id="first"))
    await asyncio.wait_for(first_done.wait(), 10)
    running_second = asyncio.create_task(transactions.run(run_second, correlation_id="second"))
    await asyncio.wait_for(second_tried.wait(), 10)
    release_first.set()
    await asyncio.wait_for(asyncio.gather(running_first, running_second), 30)

    assert (await materials.job(approved.proposal_id))["status"] == "reserved"
    assert await materials.reserved(approved.proposal_id) == ROAD_BILL
    await assert_levels_match_the_ledger(materials.runtime)


def _received(data: Contract) -> ReceivedEvent[Any]:
    envelope = new_envelope(data, producer="proposals", correlation_id="race")
    return ReceivedEvent(envelope=envelope, data=data)


# --------------------------------------------------------------------------------------------
# exactly once
# --------------------------------------------------------------------------------------------


async def test_a_redelivered_approval_never_reserves_twice(
    infra: Infrastructure, namespace: str, materials: MaterialsApi
) -> None:
    await receive_stock(materials.api, {"cement": 2000, "sand": 200, "gravel": 200})
    approved = proposal_approved()
    first = new_envelope(approved, producer="proposals", correlation_id="again")
    # the same event three times, and the same approval under a new event id
    again = new_envelope(approved, producer="proposals", correlation_id="again")
    for envelope in (first, first, first, again):
        await publish_envelope(infra, namespace, envelope)
    stock = StockRepository(materials.runtime.db)

    async def handled() -> int:
        return await materials.runtime.db["inbox"].count_documents({})

    await eventually_async(handled, 2, what="both event ids handled")
    entries, _ = await stock.entries(kind="reservation", proposal_id=approved.proposal_id)
    assert sorted((e.item, e.quantity) for e in entries) == sorted(ROAD_BILL.items())
    assert (await levels(materials.runtime))[(CENTRAL, "cement")] == Level(2000, 493)
    assert len(await emitted(materials.runtime, "material.reserved")) == 1


# --------------------------------------------------------------------------------------------
# release
# --------------------------------------------------------------------------------------------


async def test_cancellation_releases_the_reservation_to_the_jobs_still_waiting(
    materials: MaterialsApi,
) -> None:
    await receive_stock(materials.api, {"cement": 493, "sand": 41.1, "gravel": 43.3})
    first, second = proposal_approved(), proposal_approved()
    await handle(materials.runtime, materials.handlers, first)
    await handle(materials.runtime, materials.handlers, second)
    assert (await materials.job(second.proposal_id))["status"] == "waiting"

    await handle(materials.runtime, materials.handlers, proposal_cancelled(first.proposal_id))

    assert (await materials.job(first.proposal_id))["status"] == "cancelled"
    assert await materials.reserved(first.proposal_id) == {"cement": 0, "sand": 0, "gravel": 0}
    assert await materials.reserved(second.proposal_id) == ROAD_BILL
    [released] = await emitted(materials.runtime, "material.released")
    assert released["proposal_id"] == str(first.proposal_id)
    assert {ln["item"]: ln["quantity"] for ln in released["lines"]} == ROAD_BILL
    assert "widened by the province" in released["reason"]
    releases, _ = await StockRepository(materials.runtime.db).entries(kind="release")
    assert {(e.item, e.quantity, e.reason) for e in releases} == {
        (item, -q, "proposal.cancelled") for item, q in ROAD_BILL.items()
    }
    await assert_levels_match_the_ledger(materials.runtime)


async def test_rejection_of_a_job_releases_its_reservation(materials: MaterialsApi) -> None:
    await receive_stock(materials.api, {"cement": 600})
    approved = proposal_approved()
    await handle(materials.runtime, materials.handlers, approved)
    await handle(materials.runtime, materials.handlers, proposal_rejected(approved.proposal_id))
    assert (await levels(materials.runtime))[(CENTRAL, "cement")] == Level(600, 0)
    assert (await materials.job(approved.proposal_id))["status"] == "cancelled"


async def test_a_cancellation_that_overtakes_its_approval_reserves_nothing(
    materials: MaterialsApi,
) -> None:
    await receive_stock(materials.api, {"cement": 600})
    approved = proposal_approved()
    await handle(materials.runtime, materials.handlers, proposal_cancelled(approved.proposal_id))
    await handle(materials.runtime, materials.handlers, approved)
    assert (await materials.job(approved.proposal_id))["status"] == "cancelled"
    assert (await levels(materials.runtime))[(CENTRAL, "cement")] == Level(600, 0)
    assert await emitted(materials.runtime, "material.reserved") == []


async def test_rejected_and_cancelled_events_travel_through_the_broker(
    infra: Infrastructure, namespace: str, materials: MaterialsApi
) -> None:
    await receive_stock(materials.api, {"cement": 1000})
    one, two = proposal_approved(), proposal_approved()
    for approved in (one, two):
        await handle(materials.runtime, materials.handlers, approved)
    async with EventProbe(infra.amqp_url, namespace, ["material.released"]) as probe:
        for data in (proposal_rejected(one.proposal_id), proposal_cancelled(two.proposal_id)):
            await publish_envelope(
                infra, namespace, new_envelope(data, producer="proposals", correlation_id="c")
            )
        await probe.wait_for(lambda: len(probe.messages) == 2, what="two material.released")
    assert (await levels(materials.runtime))[(CENTRAL, "cement")] == Level(1000, 0)


async def test_an_approval_and_a_cancellation_handled_at_once_leave_nothing_reserved(
    materials: MaterialsApi,
) -> None:
    """The approval's transaction has reserved and inserted the job but not committed yet
    when the cancellation runs. Both write the proposal's marker document first, so the
    cancellation conflicts, is retried after the approval commits, and releases the job."""
    assert (await receive_stock(materials.api, ROAD_BILL)).is_success
    approved = proposal_approved()
    cancelled = proposal_cancelled(approved.proposal_id)
    runtime, handlers = materials.runtime, materials.handlers

    def received(data: D) -> ReceivedEvent[D]:
        return ReceivedEvent(
            envelope=new_envelope(data, producer="proposals", correlation_id="t"), data=data
        )

    approval_done, release_approval = asyncio.Event(), asyncio.Event()
    cancellation_tried = asyncio.Event()

    async def approve(uow: UnitOfWork) -> None:
        await handlers.on_proposal_approved(received(approved), uow)
        approval_done.set()
        await release_approval.wait()  # hold the transaction open, uncommitted

    async def cancel(uow: UnitOfWork) -> None:
        try:
            await handlers.on_proposal_cancelled(received(cancelled), uow)
        finally:
            cancellation_tried.set()  # its first attempt ran (to the end, or to a conflict)

    approving = asyncio.create_task(runtime.transactions.run(approve, correlation_id="a"))
    await asyncio.wait_for(approval_done.wait(), 10)
    cancelling = asyncio.create_task(runtime.transactions.run(cancel, correlation_id="c"))
    await asyncio.wait_for(cancellation_tried.wait(), 10)
    release_approval.set()
    await asyncio.wait_for(asyncio.gather(approving, cancelling), 30)

    job = await materials.job(approved.proposal_id)
    assert job["status"] == "cancelled"
    assert await materials.reserved(approved.proposal_id) == dict.fromkeys(ROAD_BILL, 0)
    assert (await levels(materials.runtime))[(CENTRAL, "cement")] == Level(493, 0)
    await assert_levels_match_the_ledger(materials.runtime)
