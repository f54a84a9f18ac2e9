"""A kecamatan's budget kept in slots, against real MongoDB: an approval held open on the
budget (a process killed mid-transaction) does not stop the others, many approvals at
once fill the ceiling exactly and no further, and budgets stored as one document before
slots keep their figures."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from services.proposals.adapters import budgets
from services.proposals.adapters.budgets import BudgetRepository
from services.proposals.domain.budget import budget_key
from shared.slots import SlotTurns
from shared.storage.mongo import Database, Document
from tests.integration.test_proposals_budgets import (
    MILLION,
    TELANAIPURA_2026,
    approve,
    budget_of,
    client_of,
    endorsed,
    set_ceiling,
)
from tests.support.infrastructure import Infrastructure
from tests.support.people import CITY_OFFICER, auth
from tests.support.runtime import running_service


async def _slots(db: Database) -> list[Document]:
    return [s async for s in db[budgets.SLOTS].find({"budget": budget_key("Telanaipura", 2026)})]


async def test_an_approval_left_open_on_the_budget_does_not_hold_up_the_next(
    infra: Infrastructure, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a one-second time limit: an approval waiting behind the open one would answer 503
    async with (
        running_service("proposals", infra, namespace, transaction_time_limit_seconds=1.0) as (
            runtime,
            app,
        ),
        client_of(app) as api,
    ):
        await set_ceiling(api, 400 * MILLION)
        waiting = [await endorsed(api) for _ in range(3)]
        # left open by another replica on the slot this process's turns come to first
        monkeypatch.setattr(budgets, "TURNS", SlotTurns(budgets.DEFAULT_SLOTS, first=0))
        async with runtime.mongo_client.start_session() as orphan:
            await orphan.start_transaction()
            held = BudgetRepository(runtime.db, orphan, start=0)
            budget = await held.find("Telanaipura", 2026)
            assert budget is not None
            await held.reserve(budget, 10 * MILLION)
            answers = [await approve(api, p, 10 * MILLION) for p in waiting]
            await orphan.abort_transaction()
        assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
        assert (await budget_of(api))["reserved_idr"] == 30 * MILLION


async def test_many_approvals_at_once_fill_the_ceiling_exactly_and_no_further(
    infra: Infrastructure, namespace: str
) -> None:
    jobs, cost, fits = 24, 7 * MILLION, 20
    async with (
        running_service("proposals", infra, namespace) as (runtime, app),
        client_of(app) as api,
    ):
        # 140 million over 16 slots: 8.75 million each, so every job spans two slots
        await set_ceiling(api, fits * cost)
        proposals = [await endorsed(api) for _ in range(jobs)]
        answers = await asyncio.gather(*(approve(api, p, cost) for p in proposals))
        codes = sorted(a.status_code for a in answers)
        assert codes == [200] * fits + [409] * (jobs - fits), [a.text for a in answers]
        budget = await budget_of(api)
        assert (budget["reserved_idr"], budget["left_idr"]) == (fits * cost, 0)
        slots = await _slots(runtime.db)
        assert len(slots) == budgets.DEFAULT_SLOTS
        assert all(0 <= s["reserved_idr"] <= s["ceiling_idr"] for s in slots)
        assert sum(s["ceiling_idr"] for s in slots) == fits * cost
        # a cancelled job's cost is free again, and lowering the ceiling by it takes it
        # from the slots that have it, never below what the other jobs hold
        approved = next(p for p, a in zip(proposals, answers, strict=True) if a.is_success)
        cancelled = await api.post(
            f"/proposals/{approved}/cancel",
            json={"reason": "the province paves this alley"},
            headers=auth(CITY_OFFICER),
        )
        assert cancelled.status_code == 200, cancelled.text
        lowered = await set_ceiling(api, (fits - 1) * cost)
        assert (lowered["reserved_idr"], lowered["left_idr"]) == ((fits - 1) * cost, 0)
        too_low = await api.put(
            TELANAIPURA_2026, json={"ceiling_idr": cost}, headers=auth(CITY_OFFICER)
        )
        assert too_low.status_code == 409, too_low.text


async def test_a_budget_stored_as_one_document_gets_its_slots_with_the_same_figures(
    infra: Infrastructure, namespace: str
) -> None:
    async with (
        running_service("proposals", infra, namespace) as (runtime, app),
        client_of(app) as api,
    ):
        at = datetime(2026, 1, 5, tzinfo=UTC)
        await runtime.db[budgets.COLLECTION].insert_one(
            {
                "_id": budget_key("Telanaipura", 2026),
                "kecamatan": "Telanaipura",
                "fiscal_year": 2026,
                "ceiling_idr": 300 * MILLION,
                "reserved_idr": 120 * MILLION,
                "allocations": [
                    {"ceiling_idr": 300 * MILLION, "by": "x", "source": "http", "at": at}
                ],
                "ceiling_set_at": at,
            }
        )
        # every replica runs it at start: twice changes nothing more than once
        await budgets.split_into_slots(runtime.db)
        await budgets.split_into_slots(runtime.db)
        budget = await budget_of(api)
        assert (budget["ceiling_idr"], budget["reserved_idr"]) == (300 * MILLION, 120 * MILLION)
        assert len(await _slots(runtime.db)) == budgets.DEFAULT_SLOTS
        assert (await approve(api, await endorsed(api), 180 * MILLION)).status_code == 200
        assert (await approve(api, await endorsed(api), 1)).status_code == 409
