"""The proposals API against real MongoDB and RabbitMQ: clear 4xx answers, events on commit."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from shared.identity import Actor
from tests.support.infrastructure import Infrastructure
from tests.support.people import (
    CITY_OFFICER,
    KECAMATAN_OFFICER,
    KELURAHAN_OFFICER,
    OTHER_KECAMATAN_OFFICER,
    RESIDENT,
    RT_HEAD,
    SUPERVISOR,
    auth,
    road_proposal,
)
from tests.support.probe import EventProbe
from tests.support.proposals import proposals_api


@pytest_asyncio.fixture(loop_scope="session")
async def api(infra: Infrastructure, namespace: str) -> AsyncIterator[httpx.AsyncClient]:
    async with proposals_api(infra, namespace) as ready:
        yield ready.api


async def submit(
    api: httpx.AsyncClient, actor: Actor = RT_HEAD, **changes: object
) -> httpx.Response:
    return await api.post("/proposals", json=road_proposal(**changes), headers=auth(actor))


async def test_submission_is_stored_and_announced(
    api: httpx.AsyncClient, infra: Infrastructure, namespace: str
) -> None:
    async with EventProbe(infra.amqp_url, namespace, ["proposal.submitted"]) as probe:
        response = await submit(api)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["proposal"]["state"] == "submitted"
        assert set(body["allowed_actions"]) >= {"verify", "return", "withdraw"}
        await probe.wait_for(lambda: len(probe.messages) == 1, what="proposal.submitted")
    event = json.loads(probe.messages[0].body)
    assert event["data"]["proposal_id"] == body["proposal"]["id"]
    assert event["correlation_id"] == response.headers["X-Correlation-ID"]

    fetched = await api.get(f"/proposals/{body['proposal']['id']}", headers=auth(RT_HEAD))
    assert fetched.json()["proposal"]["timeline"][0]["actor_id"] == RT_HEAD.id


async def test_a_request_without_a_token_is_401(api: httpx.AsyncClient) -> None:
    response = await api.post("/proposals", json=road_proposal())
    assert response.status_code == 401
    assert "bearer token" in response.json()["detail"]


async def test_an_unknown_area_is_422_naming_it(api: httpx.AsyncClient) -> None:
    response = await submit(
        api, area={"kecamatan": "Telanaipura", "kelurahan": "Nowhere", "rt": "003"}
    )
    assert response.status_code == 422
    assert "kelurahan 'Nowhere' is not in kecamatan Telanaipura" in response.json()["detail"]
    officer_area = {"kecamatan": "Telanaipura", "kelurahan": "Simpang IV Sipin", "rt": "099"}
    response = await submit(api, area=officer_area)
    assert response.status_code == 422
    assert "RT 099 does not exist" in response.json()["detail"]


async def test_a_road_with_impossible_dimensions_is_422(api: httpx.AsyncClient) -> None:
    response = await submit(api, dimensions={"length_m": 150, "width_m": 4, "thickness_m": 1.2})
    assert response.status_code == 422
    assert "0.08 to 0.30 m" in response.text


async def test_wrong_role_is_403_and_wrong_area_404(api: httpx.AsyncClient) -> None:
    proposal_id = (await submit(api)).json()["proposal"]["id"]
    as_city = await api.post(
        f"/proposals/{proposal_id}/verify", json={}, headers=auth(CITY_OFFICER)
    )
    assert as_city.status_code == 403
    assert "kelurahan_officer" in as_city.json()["detail"]
    elsewhere = await api.post(
        f"/proposals/{proposal_id}/return",
        json={"reason": "not ours"},
        headers=auth(OTHER_KECAMATAN_OFFICER),
    )
    assert elsewhere.status_code == 404


async def test_an_illegal_transition_is_409_naming_state_and_allowed_actions(
    api: httpx.AsyncClient,
) -> None:
    proposal_id = (await submit(api)).json()["proposal"]["id"]
    response = await api.post(
        f"/proposals/{proposal_id}/approve",
        json={"budget_idr": 100_000_000},
        headers=auth(CITY_OFFICER),
    )
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "submitted" in detail and "verify" in detail


async def test_return_needs_a_reason(api: httpx.AsyncClient) -> None:
    proposal_id = (await submit(api)).json()["proposal"]["id"]
    response = await api.post(
        f"/proposals/{proposal_id}/return", json={"reason": "  "}, headers=auth(KELURAHAN_OFFICER)
    )
    assert response.status_code == 422
    assert "reason" in response.json()["detail"]


async def test_an_unknown_proposal_is_404(api: httpx.AsyncClient) -> None:
    response = await api.get(
        "/proposals/00000000-0000-4000-8000-000000000000", headers=auth(RT_HEAD)
    )
    assert response.status_code == 404


async def test_health_and_readiness(api: httpx.AsyncClient) -> None:
    assert (await api.get("/health")).json()["status"] == "ok"
    ready = await api.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"started": True, "rabbitmq": True, "mongodb": True}
    metrics = await api.get("/metrics")
    assert "berdaya_events_consumed_total" in metrics.text


async def endorsed(api: httpx.AsyncClient) -> str:
    proposal_id: str = (await submit(api)).json()["proposal"]["id"]
    for path, actor in (("verify", KELURAHAN_OFFICER), ("endorse", KECAMATAN_OFFICER)):
        response = await api.post(f"/proposals/{proposal_id}/{path}", json={}, headers=auth(actor))
        assert response.status_code == 200, response.text
    return proposal_id


@pytest.mark.parametrize("path", ["approve", "reject"])
async def test_only_a_city_officer_approves_or_rejects(api: httpx.AsyncClient, path: str) -> None:
    proposal_id = await endorsed(api)
    body = {"budget_idr": 100_000_000} if path == "approve" else {"reason": "not needed"}
    for actor in (KECAMATAN_OFFICER, SUPERVISOR, RT_HEAD):
        response = await api.post(
            f"/proposals/{proposal_id}/{path}", json=body, headers=auth(actor)
        )
        assert response.status_code == 403
        assert response.json()["detail"] == f"only city_officer may {path} a proposal"


async def test_a_resident_cannot_submit_or_review(api: httpx.AsyncClient) -> None:
    refused = await submit(api, RESIDENT)
    assert refused.status_code == 403
    assert "only an RT head" in refused.json()["detail"]
    proposal_id = (await submit(api)).json()["proposal"]["id"]
    verify = await api.post(f"/proposals/{proposal_id}/verify", json={}, headers=auth(RESIDENT))
    assert verify.status_code == 404  # not published yet: a resident does not see it


async def test_a_rejection_needs_a_public_reason(api: httpx.AsyncClient) -> None:
    proposal_id = await endorsed(api)
    response = await api.post(
        f"/proposals/{proposal_id}/reject", json={}, headers=auth(CITY_OFFICER)
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "reject needs a reason the proposer can act on"


async def test_the_openapi_document_lists_every_action_and_the_idempotency_key(
    api: httpx.AsyncClient,
) -> None:
    document = (await api.get("/openapi.json")).json()
    paths = document["paths"]
    for action in ("verify", "endorse", "return", "reject", "resubmit", "withdraw", "cancel"):
        parameters = paths[f"/proposals/{{proposal_id}}/{action}"]["post"]["parameters"]
        assert "Idempotency-Key" in {p["name"] for p in parameters}
    assert "put" in paths["/budgets/{kecamatan}/{fiscal_year}"]
    assert {"/public/proposals", "/public/proposals.csv", "/public/kecamatan-totals"} <= set(paths)
