"""Budget ceilings against real MongoDB and RabbitMQ: approvals reserve, cancellations
release, parallel approvals on two replicas never overspend, and `budget.allocated` from
the city's finance system sets the ceiling (or is dead-lettered with the reason)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest_asyncio
from fastapi import FastAPI

from services.proposals.domain.budget import budget_key
from shared.contracts import Envelope, new_envelope
from shared.runtime import ServiceRuntime
from tests.support.events import budget_allocated
from tests.support.infrastructure import Infrastructure
from tests.support.people import (
    ACTS,
    CITY_OFFICER,
    KECAMATAN_OFFICER,
    RT_HEAD,
    auth,
    road_proposal,
)
from tests.support.probe import EventProbe, dead_letters_eventually, until_async
from tests.support.runtime import publish_envelope, running_service

MILLION = 1_000_000
TELANAIPURA_2026 = "/budgets/Telanaipura/2026"


@pytest_asyncio.fixture(loop_scope="session")
async def service(
    infra: Infrastructure, namespace: str
) -> AsyncIterator[tuple[ServiceRuntime, httpx.AsyncClient]]:
    async with (
        running_service("proposals", infra, namespace) as (runtime, app),
        client_of(app) as client,
    ):
        yield runtime, client


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://proposals")


async def endorsed(api: httpx.AsyncClient, **changes: Any) -> str:
    created = await api.post("/proposals", json=road_proposal(**changes), headers=auth(RT_HEAD))
    assert created.status_code == 201, created.text
    proposal_id: str = created.json()["proposal"]["id"]
    for path in ("verify", "endorse"):
        response = await api.post(
            f"/proposals/{proposal_id}/{path}", json={}, headers=auth(ACTS[path])
        )
        assert response.status_code == 200, response.text
    return proposal_id


async def approve(api: httpx.AsyncClient, proposal_id: str, budget: int) -> httpx.Response:
    return await api.post(
        f"/proposals/{proposal_id}/approve",
        json={"budget_idr": budget, "fiscal_year": 2026},
        headers=auth(CITY_OFFICER),
    )


async def set_ceiling(api: httpx.AsyncClient, ceiling: int, path: str = TELANAIPURA_2026) -> Any:
    response = await api.put(path, json={"ceiling_idr": ceiling}, headers=auth(CITY_OFFICER))
    assert response.status_code == 200, response.text
    return response.json()


async def budget_of(api: httpx.AsyncClient, kecamatan: str = "Telanaipura") -> dict[str, Any]:
    budgets = (await api.get("/budgets", params={"year": 2026})).json()
    found: dict[str, Any] = next(b for b in budgets if b["kecamatan"] == kecamatan)
    return found


async def test_approval_without_a_ceiling_is_409_saying_so(
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    _, api = service
    proposal_id = await endorsed(api)
    response = await approve(api, proposal_id, 150 * MILLION)
    assert response.status_code == 409
    assert "no budget ceiling is set for Telanaipura in 2026" in response.json()["detail"]
    state = (await api.get(f"/proposals/{proposal_id}", headers=auth(CITY_OFFICER))).json()
    assert state["proposal"]["state"] == "endorsed"


async def test_a_city_officer_sets_a_ceiling_and_approval_reserves_against_it(
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    _, api = service
    assert await set_ceiling(api, 500 * MILLION) == {
        "kecamatan": "Telanaipura",
        "fiscal_year": 2026,
        "ceiling_idr": 500 * MILLION,
        "reserved_idr": 0,
        "left_idr": 500 * MILLION,
    }
    response = await approve(api, await endorsed(api), 150 * MILLION)
    assert response.status_code == 200, response.text
    assert response.json()["proposal"]["budget_idr"] == 150 * MILLION
    budget = await budget_of(api)
    assert (budget["reserved_idr"], budget["left_idr"]) == (150 * MILLION, 350 * MILLION)


async def test_an_approval_over_what_is_left_is_409_saying_how_much_is_left(
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    _, api = service
    await set_ceiling(api, 200 * MILLION)
    assert (await approve(api, await endorsed(api), 150 * MILLION)).status_code == 200
    second = await endorsed(api)
    refused = await approve(api, second, 150 * MILLION)
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        "the Telanaipura budget for 2026 has Rp 50.000.000 left of Rp 200.000.000; "
        "this job needs Rp 150.000.000"
    )
    view = (await api.get(f"/proposals/{second}", headers=auth(CITY_OFFICER))).json()
    assert (view["proposal"]["state"], view["proposal"]["budget_idr"]) == ("endorsed", None)
    assert (await budget_of(api))["reserved_idr"] == 150 * MILLION


async def test_only_a_city_officer_sets_a_ceiling_of_a_real_kecamatan(
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    _, api = service
    as_camat = await api.put(
        TELANAIPURA_2026, json={"ceiling_idr": MILLION}, headers=auth(KECAMATAN_OFFICER)
    )
    assert as_camat.status_code == 403
    assert "only a city officer" in as_camat.json()["detail"]
    unknown = await api.put(
        "/budgets/Atlantis/2026", json={"ceiling_idr": MILLION}, headers=auth(CITY_OFFICER)
    )
    assert unknown.status_code == 422
    assert "unknown kecamatan 'Atlantis'" in unknown.json()["detail"]
    assert (await api.get("/budgets", params={"year": 2026})).json() == []


async def test_a_ceiling_below_what_is_reserved_is_409(
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    _, api = service
    await set_ceiling(api, 300 * MILLION)
    assert (await approve(api, await endorsed(api), 200 * MILLION)).status_code == 200
    lowered = await api.put(
        TELANAIPURA_2026, json={"ceiling_idr": 150 * MILLION}, headers=auth(CITY_OFFICER)
    )
    assert lowered.status_code == 409
    assert "approved jobs already hold Rp 200.000.000" in lowered.json()["detail"]
    assert (await set_ceiling(api, 200 * MILLION))["left_idr"] == 0


async def test_parallel_approvals_on_two_replicas_never_overspend(
    infra: Infrastructure, namespace: str
) -> None:
    jobs, cost, fits = 8, 100 * MILLION, 3
    async with (
        running_service("proposals", infra, namespace) as (runtime, first_app),
        running_service("proposals", infra, namespace) as (_, second_app),
        client_of(first_app) as first,
        client_of(second_app) as second,
        EventProbe(infra.amqp_url, namespace, ["proposal.approved"]) as probe,
    ):
        await set_ceiling(first, fits * cost + cost // 2)  # room for 3.5 jobs
        proposals = [await endorsed(first) for _ in range(jobs)]
        answers = await asyncio.gather(
            *(
                approve(first if i % 2 else second, proposal_id, cost)
                for i, proposal_id in enumerate(proposals)
            )
        )
        codes = sorted(a.status_code for a in answers)
        assert codes == [200] * fits + [409] * (jobs - fits)
        assert all("left of Rp 350.000.000" in a.json()["detail"] for a in answers if a.is_error)
        budget = await budget_of(second)
        assert (budget["reserved_idr"], budget["left_idr"]) == (fits * cost, cost // 2)
        approved = (
            await first.get("/proposals", params={"state": "approved"}, headers=auth(CITY_OFFICER))
        ).json()
        assert approved["total"] == fits
        # one event per approval written (refused ones wrote none), and all three published
        assert await runtime.db["outbox"].count_documents({"type": "proposal.approved"}) == fits
        await probe.wait_for(lambda: len(probe.messages) == fits, what="three approvals")


async def test_cancelling_an_approved_job_releases_its_reservation(
    service: tuple[ServiceRuntime, httpx.AsyncClient], infra: Infrastructure, namespace: str
) -> None:
    _, api = service
    await set_ceiling(api, 200 * MILLION)
    first = await endorsed(api)
    assert (await approve(api, first, 150 * MILLION)).status_code == 200
    waiting = await endorsed(api)
    assert (await approve(api, waiting, 150 * MILLION)).status_code == 409

    async with EventProbe(infra.amqp_url, namespace, ["proposal.cancelled"]) as probe:
        no_reason = await api.post(
            f"/proposals/{first}/cancel", json={"reason": " "}, headers=auth(CITY_OFFICER)
        )
        assert no_reason.status_code == 422
        reason = "The province widens this lane next year."
        cancelled = await api.post(
            f"/proposals/{first}/cancel", json={"reason": reason}, headers=auth(CITY_OFFICER)
        )
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["proposal"]["state"] == "cancelled"
        await probe.wait_for(lambda: len(probe.messages) == 1, what="proposal.cancelled")
    event = json.loads(probe.messages[0].body)["data"]
    assert (event["proposal_id"], event["reason"], event["cancelled_by"]) == (
        first,
        reason,
        CITY_OFFICER.id,
    )
    assert (await budget_of(api))["reserved_idr"] == 0
    assert (await approve(api, waiting, 150 * MILLION)).status_code == 200


async def test_only_the_city_cancels_and_only_an_approved_job(
    service: tuple[ServiceRuntime, httpx.AsyncClient],
) -> None:
    _, api = service
    await set_ceiling(api, 200 * MILLION)
    proposal_id = await endorsed(api)
    as_camat = await api.post(
        f"/proposals/{proposal_id}/cancel", json={"reason": "no"}, headers=auth(KECAMATAN_OFFICER)
    )
    assert as_camat.status_code == 409  # not approved yet: the state answers first
    assert "allowed now: approve, reject, return, withdraw" in as_camat.json()["detail"]
    assert (await approve(api, proposal_id, 150 * MILLION)).status_code == 200
    as_camat = await api.post(
        f"/proposals/{proposal_id}/cancel", json={"reason": "no"}, headers=auth(KECAMATAN_OFFICER)
    )
    assert as_camat.status_code == 403
    assert (await budget_of(api))["reserved_idr"] == 150 * MILLION


async def test_budget_allocated_from_the_finance_system_sets_then_raises_the_ceiling(
    service: tuple[ServiceRuntime, httpx.AsyncClient], infra: Infrastructure, namespace: str
) -> None:
    runtime, api = service
    for ceiling in (400 * MILLION, 900 * MILLION):
        event = budget_allocated(ceiling_idr=ceiling, reference=f"DPA-{ceiling}")
        envelope = new_envelope(event, producer="city-finance", correlation_id="pagu-2026")
        await publish_envelope(infra, namespace, envelope)
        await until_async(
            lambda: budget_of_or_none(api),
            ceiling_is(ceiling),
            what=f"ceiling {ceiling}",
        )
    stored = await runtime.db["budgets"].find_one({"_id": "Telanaipura:2026"})
    assert stored is not None
    assert [(a["source"], a["reference"]) for a in stored["allocations"]] == [
        ("city-finance", f"DPA-{400 * MILLION}"),
        ("city-finance", f"DPA-{900 * MILLION}"),
    ]
    assert (await approve(api, await endorsed(api), 150 * MILLION)).status_code == 200


def ceiling_is(ceiling: int) -> Callable[[dict[str, Any] | None], bool]:
    return lambda found: found is not None and found["ceiling_idr"] == ceiling


async def budget_of_or_none(api: httpx.AsyncClient) -> dict[str, Any] | None:
    budgets = (await api.get("/budgets", params={"year": 2026})).json()
    return next((b for b in budgets if b["kecamatan"] == "Telanaipura"), None)


async def test_a_redelivered_budget_allocated_has_one_effect(
    service: tuple[ServiceRuntime, httpx.AsyncClient], infra: Infrastructure, namespace: str
) -> None:
    runtime, api = service
    envelope = new_envelope(
        budget_allocated(ceiling_idr=400 * MILLION), producer="city-finance", correlation_id="c"
    )
    await publish_envelope(infra, namespace, envelope)
    await publish_envelope(infra, namespace, envelope)
    marker = new_envelope(
        budget_allocated(kecamatan="Jelutung", ceiling_idr=MILLION),
        producer="city-finance",
        correlation_id="c",
    )
    await publish_envelope(infra, namespace, marker)
    await until_async(
        lambda: budget_of_or_none_in(api, "Jelutung"), lambda found: found is not None
    )
    # the queue is consumed in order by one consumer: both copies were handled by now
    stored = await runtime.db["budgets"].find_one({"_id": "Telanaipura:2026"})
    assert stored is not None and len(stored["allocations"]) == 1
    assert await runtime.db["inbox"].count_documents({"type": "budget.allocated"}) == 2


async def budget_of_or_none_in(api: httpx.AsyncClient, kecamatan: str) -> dict[str, Any] | None:
    budgets = (await api.get("/budgets", params={"year": 2026})).json()
    return next((b for b in budgets if b["kecamatan"] == kecamatan), None)


async def test_budget_allocated_below_what_is_reserved_is_dead_lettered_with_the_reason(
    service: tuple[ServiceRuntime, httpx.AsyncClient], infra: Infrastructure, namespace: str
) -> None:
    runtime, api = service
    await set_ceiling(api, 300 * MILLION)
    assert (await approve(api, await endorsed(api), 200 * MILLION)).status_code == 200
    too_low = new_envelope(
        budget_allocated(ceiling_idr=100 * MILLION), producer="city-finance", correlation_id="c"
    )
    unknown = new_envelope(
        budget_allocated(kecamatan="Atlantis"), producer="city-finance", correlation_id="c"
    )
    await publish_envelope(infra, namespace, too_low)
    await publish_envelope(infra, namespace, unknown)
    letters = {d.message_id: d for d in await dead_letters_eventually(runtime, 2)}
    assert letters[str(too_low.event_id)].reason.startswith("refused: the Telanaipura budget")
    assert "approved jobs already hold Rp 200.000.000" in letters[str(too_low.event_id)].reason
    assert "unknown kecamatan 'Atlantis'" in letters[str(unknown.event_id)].reason
    assert all(d.attempts == 1 for d in letters.values())
    assert (await budget_of(api))["ceiling_idr"] == 300 * MILLION


def allocated_at(ceiling: int, at: datetime, kecamatan: str = "Telanaipura") -> Envelope:
    event = budget_allocated(kecamatan=kecamatan, ceiling_idr=ceiling, reference=f"DPA-{ceiling}")
    envelope = new_envelope(event, producer="city-finance", correlation_id="pagu-2026")
    return envelope.model_copy(update={"occurred_at": at})


async def test_an_older_budget_allocated_delivered_late_does_not_overwrite_a_newer_ceiling(
    service: tuple[ServiceRuntime, httpx.AsyncClient], infra: Infrastructure, namespace: str
) -> None:
    runtime, api = service
    first_sent = datetime.now(UTC) - timedelta(hours=1)
    correction = allocated_at(900 * MILLION, first_sent + timedelta(minutes=10))
    original = allocated_at(400 * MILLION, first_sent)  # requeued behind the correction
    marker = allocated_at(MILLION, first_sent, kecamatan="Jelutung")
    for envelope in (correction, original, marker):
        await publish_envelope(infra, namespace, envelope)
    await until_async(
        lambda: budget_of_or_none_in(api, "Jelutung"), lambda found: found is not None
    )
    # one consumer takes the queue in order: the late original was handled by now
    assert (await budget_of(api))["ceiling_idr"] == 900 * MILLION
    stored = await runtime.db["budgets"].find_one({"_id": "Telanaipura:2026"})
    assert stored is not None
    assert [a["reference"] for a in stored["allocations"]] == [f"DPA-{900 * MILLION}"]
    assert stored["ceiling_set_at"] == correction.occurred_at.replace(
        microsecond=correction.occurred_at.microsecond // 1000 * 1000
    )
    # handled (the inbox record commits only with a handler that succeeded), nothing changed
    inbox = runtime.db["inbox"]
    assert await inbox.count_documents({"event_id": str(original.event_id)}) == 1


async def test_a_city_officer_sets_the_ceiling_whatever_the_finance_system_sent(
    service: tuple[ServiceRuntime, httpx.AsyncClient], infra: Infrastructure, namespace: str
) -> None:
    runtime, api = service
    later = datetime.now(UTC) + timedelta(hours=1)  # a finance clock running ahead
    await publish_envelope(infra, namespace, allocated_at(900 * MILLION, later))
    await until_async(lambda: budget_of_or_none(api), ceiling_is(900 * MILLION))
    assert (await set_ceiling(api, 500 * MILLION))["ceiling_idr"] == 500 * MILLION
    stored = await runtime.db["budgets"].find_one({"_id": "Telanaipura:2026"})
    assert stored is not None and stored["ceiling_set_at"] < later
    # and an allocation older than the officer's is the one ignored now
    stale = allocated_at(700 * MILLION, stored["ceiling_set_at"] - timedelta(minutes=1))
    marker = allocated_at(MILLION, later, kecamatan="Jelutung")
    await publish_envelope(infra, namespace, stale)
    await publish_envelope(infra, namespace, marker)
    await until_async(
        lambda: budget_of_or_none_in(api, "Jelutung"), lambda found: found is not None
    )
    assert (await budget_of(api))["ceiling_idr"] == 500 * MILLION


async def test_a_command_that_keeps_conflicting_answers_503_within_its_time_limit(
    infra: Infrastructure, namespace: str
) -> None:
    # another transaction holds the budget document the whole time: every attempt of
    # the ceiling's transaction meets a write conflict, retried until its time is out
    async with (
        running_service("proposals", infra, namespace, transaction_time_limit_seconds=1.0) as (
            runtime,
            app,
        ),
        client_of(app) as api,
    ):
        await set_ceiling(api, 400 * MILLION)
        key = {"Idempotency-Key": "ceiling-under-contention"}
        async with runtime.mongo_client.start_session() as holder:
            await holder.start_transaction()
            await runtime.db["budgets"].update_one(
                {"_id": budget_key("Telanaipura", 2026)}, {"$inc": {"held": 1}}, session=holder
            )
            refused = await api.put(
                TELANAIPURA_2026,
                json={"ceiling_idr": 500 * MILLION},
                headers={**auth(CITY_OFFICER), **key},
            )
            await holder.abort_transaction()
        again = await api.put(
            TELANAIPURA_2026,
            json={"ceiling_idr": 500 * MILLION},
            headers={**auth(CITY_OFFICER), **key},
        )

    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == "1"
    assert "send the same request again" in refused.json()["detail"]
    assert again.status_code == 200, again.text
    assert again.json()["ceiling_idr"] == 500 * MILLION
