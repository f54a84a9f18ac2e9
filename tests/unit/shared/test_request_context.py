"""The correlation id and the start gate every request passes through (in process, no
network)."""

from __future__ import annotations

import httpx
import structlog
from fastapi import FastAPI, Request

from shared.web.request_context import CORRELATION_HEADER, STARTING, Correlation, StartGate


def echoing_app() -> FastAPI:
    app = FastAPI()

    @app.get("/echo")
    async def echo(request: Request) -> dict[str, object]:
        return {
            "state": request.state.correlation_id,
            "logged": structlog.contextvars.get_contextvars().get("correlation_id"),
        }

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_a_callers_correlation_id_is_kept_in_state_logs_and_answer() -> None:
    app = echoing_app()
    app.add_middleware(Correlation)
    async with client(app) as http:
        answer = await http.get("/echo", headers={CORRELATION_HEADER: "story-42"})
    assert answer.json() == {"state": "story-42", "logged": "story-42"}
    assert answer.headers[CORRELATION_HEADER] == "story-42"


async def test_a_request_without_one_starts_a_story_and_a_long_one_is_cut() -> None:
    app = echoing_app()
    app.add_middleware(Correlation)
    async with client(app) as http:
        fresh = await http.get("/echo")
        long = await http.get("/echo", headers={CORRELATION_HEADER: "x" * 500})
    assert fresh.json()["state"] == fresh.headers[CORRELATION_HEADER]
    assert len(fresh.headers[CORRELATION_HEADER]) == 36  # a UUID
    assert long.headers[CORRELATION_HEADER] == "x" * 100


async def test_until_started_a_route_answers_503_but_health_answers() -> None:
    started = False
    app = echoing_app()
    app.add_middleware(
        StartGate, started=lambda: started, always_open=lambda path: path == "/health"
    )
    app.add_middleware(Correlation)
    async with client(app) as http:
        waiting = await http.get("/echo")
        health = await http.get("/health")
        started = True
        served = await http.get("/echo", headers={CORRELATION_HEADER: "s"})
    assert (waiting.status_code, waiting.headers["Retry-After"]) == (503, "5")
    assert waiting.json() == {"detail": STARTING}
    assert health.status_code == 200
    assert (served.status_code, served.json()["state"]) == (200, "s")
