"""The HTTP metrics middleware on a small app, in memory (no server, no network):
counted by route template, method and status class; errors counted as 5xx; the access
log only when asked for."""

from __future__ import annotations

import uuid

import httpx
import pytest
import structlog
from fastapi import FastAPI, HTTPException
from prometheus_client import REGISTRY
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from shared.web.http_metrics import HttpMetrics, method_label, status_class


def small_app(service: str, *, access_log_enabled: bool = False) -> FastAPI:
    app = FastAPI()

    @app.get("/jobs/{job_id}")
    async def job(job_id: str) -> dict[str, str]:
        if job_id == "missing":
            raise HTTPException(404, "no such job")
        return {"id": job_id}

    @app.post("/jobs/{job_id}/fail")
    async def fail(job_id: str) -> None:
        raise RuntimeError(f"{job_id} broke")

    app.add_middleware(HttpMetrics, service=service, access_log_enabled=access_log_enabled)
    return app


def count(service: str, method: str, route: str, status: str) -> float:
    labels = {"service": service, "method": method, "route": route, "status_class": status}
    return REGISTRY.get_sample_value("berdaya_http_requests_total", labels) or 0.0


def client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://unit")


def test_status_classes_and_methods() -> None:
    assert [status_class(s) for s in (200, 201, 304, 404, 429, 503)] == [
        "2xx",
        "2xx",
        "3xx",
        "4xx",
        "4xx",
        "5xx",
    ]
    assert method_label("PATCH") == "PATCH"
    assert method_label("BREW") == "OTHER"  # the client's to invent, not a new series


async def test_requests_are_counted_by_route_template_not_path() -> None:
    service = f"unit-{uuid.uuid4().hex[:8]}"
    async with client(small_app(service)) as http:
        for job_id in ("a1", "b2", "missing"):
            await http.get(f"/jobs/{job_id}")
        await http.get("/elsewhere/c3")
        await http.request("BREW", "/jobs/a1")
    assert count(service, "GET", "/jobs/{job_id}", "2xx") == 2
    assert count(service, "GET", "/jobs/{job_id}", "4xx") == 1
    assert count(service, "GET", "unmatched", "4xx") == 1
    assert count(service, "OTHER", "/jobs/{job_id}", "4xx") == 1  # 405
    assert count(service, "GET", "/jobs/a1", "2xx") == 0
    seconds = {
        "service": service,
        "method": "GET",
        "route": "/jobs/{job_id}",
        "status_class": "2xx",
    }
    assert REGISTRY.get_sample_value("berdaya_http_request_seconds_count", seconds) == 2


async def test_an_exception_is_counted_as_a_server_error() -> None:
    service = f"unit-{uuid.uuid4().hex[:8]}"
    app = small_app(service)
    # answered 500 by the outermost middleware, after ours saw the exception go by
    async with client(app) as http:
        response = await http.post("/jobs/a1/fail")
    assert response.status_code == 500
    assert count(service, "POST", "/jobs/{job_id}/fail", "5xx") == 1


async def test_the_route_is_found_for_an_answer_given_before_routing() -> None:
    """A middleware outside the router answers (the start gate's 503): still counted
    under the route the request was for."""
    service = f"unit-{uuid.uuid4().hex[:8]}"
    app = small_app(service)

    async def start_gate(scope: Scope, receive: Receive, send: Send) -> None:
        await JSONResponse({"detail": "starting"}, status_code=503)(scope, receive, send)

    metrics = HttpMetrics(start_gate, service=service, access_log_enabled=False)
    scope: Scope = {"type": "http", "method": "GET", "path": "/jobs/z9", "app": app}
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    await metrics(scope, receive, send)
    assert sent[0]["status"] == 503
    assert count(service, "GET", "/jobs/{job_id}", "5xx") == 1


@pytest.mark.parametrize("enabled", [False, True])
async def test_the_access_log_is_a_switch(enabled: bool) -> None:
    service = f"unit-{uuid.uuid4().hex[:8]}"
    async with client(small_app(service, access_log_enabled=enabled)) as http:
        with structlog.testing.capture_logs() as logs:
            await http.get("/jobs/b2?token=secret")
    lines = [line for line in logs if line["event"] == "http request"]
    if not enabled:
        assert lines == []
        return
    [line] = lines
    assert {k: line[k] for k in ("method", "route", "path", "status")} == {
        "method": "GET",
        "route": "/jobs/{job_id}",
        "path": "/jobs/b2",
        "status": 200,
    }
    assert "secret" not in str(line)
