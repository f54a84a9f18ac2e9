"""Idempotency-Key on the proposals API against real MongoDB: a retry returns the first
result and acts once; the key is scoped to the person and the route; a reused key with
another body is refused; keys expire."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio

from shared.runtime import ServiceRuntime
from shared.storage import answers
from tests.support.infrastructure import Infrastructure
from tests.support.people import (
    CITY_OFFICER,
    KELURAHAN_OFFICER,
    OTHER_RT_HEAD,
    RT_HEAD,
    auth,
    road_proposal,
)
from tests.support.proposals import proposals_api

Service = tuple[ServiceRuntime, httpx.AsyncClient]


@pytest_asyncio.fixture(loop_scope="session")
async def service(infra: Infrastructure, namespace: str) -> AsyncIterator[Service]:
    async with proposals_api(infra, namespace) as ready:
        yield ready.runtime, ready.api


def keyed(actor: Any, key: str) -> dict[str, str]:
    return {**auth(actor), "Idempotency-Key": key}


async def outbox_count(runtime: ServiceRuntime, event_type: str) -> int:
    return await runtime.db["outbox"].count_documents({"type": event_type})


async def test_a_retried_submission_returns_the_first_result_and_creates_one_proposal(
    service: Service,
) -> None:
    runtime, api = service
    key = str(uuid.uuid4())
    first = await api.post("/proposals", json=road_proposal(), headers=keyed(RT_HEAD, key))
    retry = await api.post("/proposals", json=road_proposal(), headers=keyed(RT_HEAD, key))
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replay"] == "true"
    assert "Idempotent-Replay" not in first.headers
    assert await runtime.db["proposals"].count_documents({}) == 1
    assert await outbox_count(runtime, "proposal.submitted") == 1


async def test_the_same_json_in_another_order_or_spacing_is_the_same_request(
    service: Service,
) -> None:
    runtime, api = service
    key = str(uuid.uuid4())
    body = road_proposal()
    await api.post("/proposals", json=body, headers=keyed(RT_HEAD, key))
    reordered = dict(reversed(list(body.items())))
    retry = await api.post(
        "/proposals",
        content=json.dumps(reordered, indent=2).encode(),
        headers={**keyed(RT_HEAD, key), "content-type": "application/json"},
    )
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replay"] == "true"
    assert await runtime.db["proposals"].count_documents({}) == 1


async def test_the_same_key_with_another_body_is_422_and_acts_not(service: Service) -> None:
    runtime, api = service
    key = str(uuid.uuid4())
    await api.post("/proposals", json=road_proposal(), headers=keyed(RT_HEAD, key))
    other = await api.post(
        "/proposals",
        json=road_proposal(title="Rabat beton Gang Melati"),
        headers=keyed(RT_HEAD, key),
    )
    assert other.status_code == 422
    assert "already used for a different request" in other.json()["detail"]
    assert "new key" in other.json()["detail"]
    assert await runtime.db["proposals"].count_documents({}) == 1


async def test_a_key_is_scoped_to_the_person(service: Service) -> None:
    runtime, api = service
    key = "same-key-for-two-people"
    mine = await api.post("/proposals", json=road_proposal(), headers=keyed(RT_HEAD, key))
    area = {"kecamatan": "Telanaipura", "kelurahan": "Simpang IV Sipin", "rt": "004"}
    theirs = await api.post(
        "/proposals", json=road_proposal(area=area), headers=keyed(OTHER_RT_HEAD, key)
    )
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "Idempotent-Replay" not in theirs.headers
    assert mine.json()["proposal"]["id"] != theirs.json()["proposal"]["id"]
    assert await runtime.db["proposals"].count_documents({}) == 2


async def test_a_key_is_scoped_to_the_route(service: Service) -> None:
    _, api = service
    key = str(uuid.uuid4())
    first = (await api.post("/proposals", json=road_proposal(), headers=auth(RT_HEAD))).json()
    second = (await api.post("/proposals", json=road_proposal(), headers=auth(RT_HEAD))).json()
    for created in (first, second):
        verified = await api.post(
            f"/proposals/{created['proposal']['id']}/verify",
            json={},
            headers=keyed(KELURAHAN_OFFICER, key),
        )
        assert verified.status_code == 200
        assert "Idempotent-Replay" not in verified.headers
        assert verified.json()["proposal"]["state"] == "verified"


async def test_a_retried_transition_answers_as_the_first_time_instead_of_409(
    service: Service,
) -> None:
    runtime, api = service
    proposal_id = (
        await api.post("/proposals", json=road_proposal(), headers=auth(RT_HEAD))
    ).json()["proposal"]["id"]
    key = str(uuid.uuid4())
    path = f"/proposals/{proposal_id}/verify"
    first = await api.post(
        path, json={"reason": "checked on site"}, headers=keyed(KELURAHAN_OFFICER, key)
    )
    retry = await api.post(
        path, json={"reason": "checked on site"}, headers=keyed(KELURAHAN_OFFICER, key)
    )
    assert (first.status_code, retry.status_code) == (200, 200)
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replay"] == "true"
    assert await outbox_count(runtime, "proposal.verified") == 1
    without_key = await api.post(
        path, json={"reason": "checked on site"}, headers=auth(KELURAHAN_OFFICER)
    )
    assert without_key.status_code == 409  # without a key a second verify is a second request


async def test_a_refused_command_stores_nothing_so_its_retry_runs_again(service: Service) -> None:
    runtime, api = service
    created = await api.post("/proposals", json=road_proposal(), headers=auth(RT_HEAD))
    path = f"/proposals/{created.json()['proposal']['id']}/approve"
    key = str(uuid.uuid4())
    approval = {"budget_idr": 100_000_000, "fiscal_year": 2026}
    refused = await api.post(path, json=approval, headers=keyed(CITY_OFFICER, key))
    assert refused.status_code == 409  # not reviewed yet
    assert await runtime.db[answers.COLLECTION].count_documents({}) == 0
    retry = await api.post(path, json=approval, headers=keyed(CITY_OFFICER, key))
    assert retry.status_code == 409
    assert "Idempotent-Replay" not in retry.headers


async def test_concurrent_retries_with_one_key_act_once(service: Service) -> None:
    runtime, api = service
    key = str(uuid.uuid4())
    answers = await asyncio.gather(
        *(
            api.post("/proposals", json=road_proposal(), headers=keyed(RT_HEAD, key))
            for _ in range(6)
        )
    )
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["proposal"]["id"] for a in answers}) == 1
    assert sum(a.headers.get("Idempotent-Replay") == "true" for a in answers) == 5
    assert await runtime.db["proposals"].count_documents({}) == 1
    assert await outbox_count(runtime, "proposal.submitted") == 1


async def test_a_bad_key_is_422(service: Service) -> None:
    _, api = service
    for bad in ("x" * 256, "   "):
        response = await api.post("/proposals", json=road_proposal(), headers=keyed(RT_HEAD, bad))
        assert response.status_code == 422
        assert "Idempotency-Key header must be 1 to 255 printable characters" in response.text


async def test_keys_expire_after_a_day(service: Service) -> None:
    runtime, _ = service
    indexes = await runtime.db[answers.COLLECTION].index_information()
    ttl = [i for i in indexes.values() if "expireAfterSeconds" in i]
    assert [(i["key"], i["expireAfterSeconds"]) for i in ttl] == [([("created_at", 1)], 24 * 3600)]


async def test_the_stored_record_is_scoped_and_holds_the_response(service: Service) -> None:
    runtime, api = service
    key = str(uuid.uuid4())
    created = await api.post("/proposals", json=road_proposal(), headers=keyed(RT_HEAD, key))
    (record,) = await runtime.db[answers.COLLECTION].find({}).to_list()
    assert record["actor_id"] == RT_HEAD.id
    assert record["route"] == "POST /proposals"
    assert record["status_code"] == 201
    assert created.json()["proposal"]["id"] in record["body"]
