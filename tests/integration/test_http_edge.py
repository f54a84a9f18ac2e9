"""The HTTP edge every service shares (shared/web): bodies bounded as they stream in,
JSON refused when it holds what no model should see, short error answers, bounded
paging, rate limits per caller, and an OpenAPI document that says all of it."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response

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
async def serving(
    service: str, infra: Infrastructure, namespace: str, **overrides: object
) -> AsyncIterator[FastAPI]:
    bounded = {"max_body_bytes": LIMIT, **overrides}
    async with running_service(service, infra, namespace, **bounded) as (_, app):
        yield app


def proposals(
    infra: Infrastructure, namespace: str, **overrides: object
) -> AbstractAsyncContextManager[FastAPI]:
    return serving("proposals", infra, namespace, **overrides)


@dataclass(frozen=True)
class Wrong:
    """A request the service answers with an error, and the operation documenting it."""

    status: int
    method: str
    documented: str  # the path as the OpenAPI document has it
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None


@dataclass(frozen=True)
class Edge:
    """What the shared edge tests send to one service that answers anyone."""

    service: str
    public_read: str  # needs no token: counted per address when limits are on
    takes_a_body: str  # a POST that reads its body
    headers: dict[str, str]  # for `takes_a_body`
    wrong: tuple[Wrong, ...]  # besides 429, which every public read may answer


OVER_THE_LIMIT = b"x" * (LIMIT + 1)


async def chunks_over_the_limit() -> AsyncIterator[bytes]:
    for _ in range(100):  # 100 x 64 KiB, no Content-Length
        yield b" " * LIMIT


EDGES = [
    Edge(
        "proposals",
        public_read="/public/proposals",
        takes_a_body="/proposals",
        headers=auth(RT_HEAD),
        wrong=(
            Wrong(
                404, "get", "/public/proposals/{proposal_id}", f"/public/proposals/{uuid.uuid4()}"
            ),
            Wrong(422, "get", "/public/proposals", "/public/proposals?page=0"),
            Wrong(413, "post", "/proposals", "/proposals", auth(RT_HEAD), OVER_THE_LIMIT),
        ),
    ),
    Edge(
        "transparency",
        public_read="/",
        # the one route of the public page that takes a body (operators only)
        takes_a_body="/admin/dead-letters/replay",
        headers={},
        wrong=(
            Wrong(404, "get", "/kecamatan/{name}", "/kecamatan/Atlantis"),
            Wrong(404, "get", "/usulan/{proposal_id}", f"/usulan/{uuid.uuid4()}"),
            Wrong(422, "get", "/", "/?year=1999"),
            Wrong(422, "get", "/kecamatan/{name}", "/kecamatan/" + "k" * 121),
            Wrong(422, "get", "/data/proposals.csv", "/data/proposals.csv?kecamatan=" + "k" * 121),
            Wrong(413, "get", "/", "/", content=OVER_THE_LIMIT),
            Wrong(413, "get", "/data/figures.csv", "/data/figures.csv", content=OVER_THE_LIMIT),
            Wrong(413, "get", "/live", "/live", content=OVER_THE_LIMIT),
        ),
    ),
]
EACH_EDGE = pytest.mark.parametrize("edge", EDGES, ids=[edge.service for edge in EDGES])


@EACH_EDGE
async def test_a_body_over_the_limit_is_refused_as_it_streams(
    infra: Infrastructure, namespace: str, edge: Edge
) -> None:
    too_large = {"detail": f"the request body is larger than this service takes ({LIMIT} bytes)"}
    async with serving(edge.service, infra, namespace) as app, client_of(app) as api:
        five_mb = b'{"title": "' + b"x" * 5_000_000 + b'"}'
        declared = await api.post(
            edge.takes_a_body,
            content=five_mb,
            headers={**edge.headers, "Content-Type": "application/json"},
        )
        assert declared.status_code == 413, (declared.headers, declared.text)
        assert declared.headers["content-type"] == "application/json", declared.text
        assert declared.json() == too_large

        chunked = await api.post(
            edge.takes_a_body,
            content=chunks_over_the_limit(),
            headers={**edge.headers, "Content-Type": "application/json"},
        )
        assert chunked.status_code == 413
        assert "larger than this service takes" in chunked.json()["detail"]

        # A read declaring a body over the bound is refused too, before any route runs;
        # one within it is answered.
        read = await api.request("GET", edge.public_read, content=OVER_THE_LIMIT)
        assert read.status_code == 413, read.text
        assert read.headers["content-type"] == "application/json"
        assert read.json() == too_large
        within = await api.request("GET", edge.public_read, content=b"x" * LIMIT)
        assert within.status_code == 200, within.text


async def test_a_body_that_is_not_json_is_bounded_as_well(
    infra: Infrastructure, namespace: str
) -> None:
    async with proposals(infra, namespace) as app, client_of(app) as api:
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
            content=chunks_over_the_limit(),
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


@EACH_EDGE
async def test_a_public_reader_past_its_limit_waits_and_others_do_not(
    infra: Infrastructure, namespace: str, edge: Edge
) -> None:
    async with (
        serving(edge.service, infra, namespace, **PUBLIC_LIMIT) as app,
        client_of(app, "203.0.113.7") as first,
        client_of(app, "203.0.113.8") as second,
    ):
        # Public reads: counted per address.
        for _ in range(2):
            assert (await first.get(edge.public_read)).status_code == 200
        refused = await first.get(edge.public_read)
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/json"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert "too many public requests" in refused.json()["detail"]
        assert (await second.get(edge.public_read)).status_code == 200
        # Probes are never counted.
        for _ in range(5):
            assert (await first.get("/health")).status_code == 200


async def test_a_writer_past_its_limit_waits_whatever_its_address(
    infra: Infrastructure, namespace: str
) -> None:
    limits = {"rate_limits_enabled": True, "rate_limit_writes": "3/minute"}
    async with (
        proposals(infra, namespace, **limits) as app,
        client_of(app, "203.0.113.7") as first,
        client_of(app, "203.0.113.8") as second,
    ):
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


PUBLIC_LIMIT = {"rate_limits_enabled": True, "rate_limit_public": "2/minute"}


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
    # a probe is never limited nor 503, but a request declaring a huge body is refused
    assert statuses("/health", "get") == {"200", "413"}


async def test_limits_off_documents_no_429(infra: Infrastructure, namespace: str) -> None:
    async with proposals(infra, namespace) as app, client_of(app) as api:
        document = (await api.get("/openapi.json")).json()
        assert "429" not in document["paths"]["/proposals"]["post"]["responses"]
        # and nothing is counted
        for _ in range(5):
            assert (await api.get("/public/proposals")).status_code == 200


@EACH_EDGE
async def test_each_error_answered_is_the_documented_error_model(
    infra: Infrastructure, namespace: str, edge: Edge
) -> None:
    """Real error answers, each stated by the document for its operation and shaped as
    the document's ErrorBody says."""
    answers: list[tuple[Wrong, Response]] = []
    async with serving(edge.service, infra, namespace, **PUBLIC_LIMIT) as app:
        async with client_of(app) as api:
            document = (await api.get("/openapi.json")).json()
        # Each from an address of its own: only the last is to be past the limit.
        for number, wrong in enumerate(edge.wrong, start=10):
            async with client_of(app, f"203.0.113.{number}") as api:
                answer = await api.request(
                    wrong.method, wrong.url, headers=wrong.headers, content=wrong.content
                )
            answers.append((wrong, answer))
        async with client_of(app, "203.0.113.9") as limited:
            for _ in range(3):  # the limit is 2 a minute
                refused = await limited.get(edge.public_read)
    answers.append((Wrong(429, "get", edge.public_read, edge.public_read), refused))
    for wrong, answer in answers:
        assert answer.status_code == wrong.status, (wrong, answer.text)
        assert_documented_error(document, wrong, answer)


def assert_documented_error(document: dict[str, Any], wrong: Wrong, answer: Response) -> None:
    responses = document["paths"][wrong.documented][wrong.method]["responses"]
    stated = responses.get(str(wrong.status))
    assert stated is not None, f"{wrong.method} {wrong.documented} never says {wrong.status}"
    assert stated["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
    }, wrong
    assert answer.headers["content-type"] == "application/json", wrong
    error_body = {"$ref": "#/components/schemas/ErrorBody", "components": document["components"]}
    jsonschema.validate(answer.json(), error_body)
    properties = document["components"]["schemas"]["ErrorBody"]["properties"]
    assert set(answer.json()) <= set(properties), wrong


async def test_the_public_page_documents_what_each_route_answers(
    infra: Infrastructure, namespace: str
) -> None:
    served = {
        "/": "text/html",
        "/kecamatan/{name}": "text/html",
        "/data/figures.json": "application/json",
        "/data/figures.csv": "text/csv",
        "/data/proposals.json": "application/json",
        "/data/proposals.csv": "text/csv",
    }
    overrides = {**PUBLIC_LIMIT, "rate_limit_public": "100/minute"}
    async with serving("transparency", infra, namespace, **overrides) as app, client_of(app) as api:
        document = (await api.get("/openapi.json")).json()
        answers = {path: await api.get(path.replace("{name}", "Telanaipura")) for path in served}
    paths = document["paths"]
    for path, media_type in served.items():
        assert answers[path].status_code == 200, (path, answers[path].text)
        assert answers[path].headers["content-type"].split(";")[0] == media_type, path
        responses = paths[path]["get"]["responses"]
        assert set(responses["200"]["content"]) == {media_type}, path
        assert {"413", "422", "429", "503"} <= set(responses), path
    assert set(paths["/live"]["get"]["responses"]["200"]["content"]) == {"text/event-stream"}
    assert {"413", "429", "503"} <= set(paths["/live"]["get"]["responses"])
    for path in ("/kecamatan/{name}", "/usulan/{proposal_id}"):
        assert {"404", "413", "422", "429", "503"} <= set(paths[path]["get"]["responses"])
