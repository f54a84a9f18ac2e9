"""The HTTP edge every service shares (shared/web): bodies bounded as they stream in,
JSON refused when it holds what no model should see, short error answers, bounded
paging, rate limits per caller, and an OpenAPI document that says all of it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from shared.web.pages import MAX_PAGE
from tests.support.infrastructure import Infrastructure
from tests.support.people import OTHER_RT_HEAD, RT_HEAD, auth, road_proposal
from tests.support.runtime import running_service

LIMIT = 64 * 1024


@asynccontextmanager
async def client_of(app: FastAPI, ip: str = "127.0.0.1") -> AsyncIterator[AsyncClient]:
    """A client of `app` in-process, seen as coming from `ip`."""
    transport = ASGITransport(app=app, client=(ip, 40000))
    async with AsyncClient(transport=transport, base_url="http://service") as client:
        yield client


@asynccontextmanager
async def proposals(
    infra: Infrastructure, namespace: str, **overrides: object
) -> AsyncIterator[FastAPI]:
    async with running_service(
        "proposals", infra, namespace, max_body_bytes=LIMIT, **overrides
    ) as (_, app):
        yield app


async def test_a_body_over_the_limit_is_refused_as_it_streams(
    infra: Infrastructure, namespace: str
) -> None:
    async with proposals(infra, namespace) as app, client_of(app) as api:
        five_mb = b'{"title": "' + b"x" * 5_000_000 + b'"}'
        declared = await api.post(
            "/proposals",
            content=five_mb,
            headers={**auth(RT_HEAD), "Content-Type": "application/json"},
        )
        assert declared.status_code == 413, (declared.headers, declared.text)
        assert declared.headers["content-type"] == "application/json", declared.text
        assert declared.json() == {
            "detail": f"the request body is larger than this service takes ({LIMIT} bytes)"
        }

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(100):  # 100 x 64 KiB, no Content-Length
                yield b" " * LIMIT

        chunked = await api.post(
            "/proposals",
            content=chunks(),
            headers={**auth(RT_HEAD), "Content-Type": "application/json"},
        )
        assert chunked.status_code == 413
        assert "larger than this service takes" in chunked.json()["detail"]

        # A body that is not JSON, to a route that takes none, is bounded as well.
        plain = await api.post(
            "/proposals/00000000-0000-0000-0000-000000000000/verify",
            content=b"x" * (LIMIT + 1),
            headers={**auth(RT_HEAD), "Content-Type": "text/plain"},
        )
        assert plain.status_code == 413
        assert "larger than this service takes" in plain.json()["detail"]

        plain_chunked = await api.post(
            "/proposals/00000000-0000-0000-0000-000000000000/verify",
            content=chunks(),
            headers={**auth(RT_HEAD), "Content-Type": "text/plain"},
        )
        assert plain_chunked.status_code == 413, plain_chunked.text
        assert "larger than this service takes" in plain_chunked.json()["detail"]

        within = await api.post("/proposals", json=road_proposal(), headers=auth(RT_HEAD))
        assert within.status_code == 201, within.text


async def test_an_invalid_body_is_answered_briefly_and_always_encodable(
    infra: Infrastructure, namespace: str
) -> None:
    async with proposals(infra, namespace) as app, client_of(app) as api:
        long_title = road_proposal(title="t" * 60_000)
        answer = await api.post("/proposals", json=long_title, headers=auth(RT_HEAD))
        assert answer.status_code == 422
        assert len(answer.content) < 2_000, len(answer.content)
        (problem,) = answer.json()["errors"]
        assert problem["loc"] == ["body", "title"]
        assert problem["input"].startswith("ttt") and len(problem["input"]) <= 100

        # An unknown field with a long name: the name is where the problem is, shortened.
        odd = json.dumps({**road_proposal(), "k" * 5_000: 1}).encode()
        answer = await api.post(
            "/proposals", content=odd, headers={**auth(RT_HEAD), "Content-Type": "application/json"}
        )
        assert answer.status_code == 422
        assert len(answer.content) < 2_000
        assert answer.json()["errors"][0]["type"] == "extra_forbidden"


async def test_json_that_no_model_should_see_is_refused_at_parse_time(
    infra: Infrastructure, namespace: str
) -> None:
    body = json.dumps(road_proposal(households_served=62))
    cases = {
        "NaN": body.replace('"households_served": 62', '"households_served": NaN'),
        "Infinity": body.replace('"households_served": 62', '"households_served": Infinity'),
        "-Infinity": body.replace('"households_served": 62', '"households_served": -Infinity'),
        "lone surrogate": body.replace("Rabat beton", "Rabat \\ud800 beton"),
    }
    async with proposals(infra, namespace) as app, client_of(app) as api:
        headers = {**auth(RT_HEAD), "Content-Type": "application/json"}
        for name, text in cases.items():
            answer = await api.post("/proposals", content=text.encode(), headers=headers)
            assert answer.status_code == 422, (name, answer.text)
            assert answer.json()["errors"][0]["type"] == "json_invalid", name
            assert "the request is not valid — body:" in answer.json()["detail"], name
        answer = await api.post("/proposals", content=b'{"title": "\xff\xfe"}', headers=headers)
        assert answer.status_code == 422
        assert "not UTF-8" in answer.json()["detail"]
        # A surrogate pair is one character, and welcome.
        pair = body.replace("Rabat beton", "Rabat \\ud83d\\ude00 beton")
        answer = await api.post("/proposals", content=pair.encode(), headers=headers)
        assert answer.status_code == 201, answer.text


async def test_a_page_past_the_deepest_is_refused_with_a_message(
    infra: Infrastructure, namespace: str
) -> None:
    async with proposals(infra, namespace) as app, client_of(app) as api:
        for page in (MAX_PAGE + 1, 10**19, 10**30):
            answer = await api.get("/public/proposals", params={"page": page})
            assert answer.status_code == 422, (page, answer.text)
            assert answer.json()["errors"][0]["loc"] == ["query", "page"]
        deepest = await api.get("/public/proposals", params={"page": MAX_PAGE, "page_size": 200})
        assert deepest.status_code == 200, deepest.text
        assert deepest.json()["items"] == []


async def test_a_caller_past_its_limit_waits_and_others_do_not(
    infra: Infrastructure, namespace: str
) -> None:
    limits = {
        "rate_limits_enabled": True,
        "rate_limit_writes": "3/minute",
        "rate_limit_public": "2/minute",
    }
    async with (
        proposals(infra, namespace, **limits) as app,
        client_of(app, "203.0.113.7") as first,
        client_of(app, "203.0.113.8") as second,
    ):
        # Public reads: counted per address.
        for _ in range(2):
            assert (await first.get("/public/proposals")).status_code == 200
        refused = await first.get("/public/proposals")
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert "too many public requests" in refused.json()["detail"]
        assert (await second.get("/public/proposals")).status_code == 200
        # Probes are never counted.
        for _ in range(5):
            assert (await first.get("/health")).status_code == 200

        # Writes: counted per token subject, whatever the address.
        for _ in range(3):
            answer = await first.post("/proposals", json=road_proposal(), headers=auth(RT_HEAD))
            assert answer.status_code == 201, answer.text
        refused = await second.post("/proposals", json=road_proposal(), headers=auth(RT_HEAD))
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        other = road_proposal(
            area={"kecamatan": "Telanaipura", "kelurahan": "Simpang IV Sipin", "rt": "004"}
        )
        answer = await first.post("/proposals", json=other, headers=auth(OTHER_RT_HEAD))
        assert answer.status_code == 201, answer.text
        # Reads with a token are not limited.
        for _ in range(5):
            assert (await first.get("/proposals", headers=auth(RT_HEAD))).status_code == 200


async def test_forwarded_for_counts_only_from_a_trusted_proxy(
    infra: Infrastructure, namespace: str
) -> None:
    limits = {
        "rate_limits_enabled": True,
        "rate_limit_public": "1/minute",
        "trusted_proxies": ("10.1.0.0/16",),
    }
    async with (
        proposals(infra, namespace, **limits) as app,
        client_of(app, "10.1.2.3") as proxy,
        client_of(app, "198.51.100.5") as stranger,
    ):
        for ip in ("192.0.2.1", "192.0.2.2"):
            answer = await proxy.get("/public/proposals", headers={"X-Forwarded-For": ip})
            assert answer.status_code == 200, ip
        again = await proxy.get("/public/proposals", headers={"X-Forwarded-For": "192.0.2.1"})
        assert again.status_code == 429
        # From anyone else the header is ignored: the socket's address is counted.
        first = await stranger.get("/public/proposals", headers={"X-Forwarded-For": "192.0.2.3"})
        assert first.status_code == 200
        spoofed = await stranger.get("/public/proposals", headers={"X-Forwarded-For": "192.0.2.4"})
        assert spoofed.status_code == 429


async def test_the_openapi_document_states_the_error_model_and_each_status(
    infra: Infrastructure, namespace: str
) -> None:
    async with proposals(infra, namespace, rate_limits_enabled=True) as app, client_of(app) as api:
        document = (await api.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert set(schemas["ErrorBody"]["properties"]) == {"detail", "errors"}
    assert "HTTPValidationError" not in schemas

    def statuses(path: str, method: str) -> set[str]:
        responses = document["paths"][path][method]["responses"]
        for code, response in responses.items():
            if code.startswith(("4", "5")):
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorBody"), (path, method, code)
        return set(responses)

    assert statuses("/proposals", "post") >= {"401", "403", "409", "413", "422", "429", "503"}
    assert statuses("/proposals/{proposal_id}", "get") >= {"401", "403", "404", "422", "503"}
    assert "429" not in statuses("/proposals/{proposal_id}", "get")
    assert statuses("/public/proposals", "get") >= {"422", "429", "503"}
    assert "401" not in statuses("/public/proposals", "get")
    assert statuses("/health", "get") == {"200"}


async def test_limits_off_documents_no_429(infra: Infrastructure, namespace: str) -> None:
    async with proposals(infra, namespace) as app, client_of(app) as api:
        document = (await api.get("/openapi.json")).json()
        assert "429" not in document["paths"]["/proposals"]["post"]["responses"]
        # and nothing is counted
        for _ in range(5):
            assert (await api.get("/public/proposals")).status_code == 200
