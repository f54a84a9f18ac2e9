"""A service started before its MongoDB or RabbitMQ answers: it says what it waits for,
stays not ready (its routes answer 503), and becomes ready by itself once the
dependency answers, without a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from pymongo import AsyncMongoClient

from deploy.local import run
from shared.contracts import new_envelope
from tests.support.events import proposal_approved
from tests.support.infrastructure import Infrastructure
from tests.support.probe import eventually_async, until_async
from tests.support.processes import ServiceProcess, start_service, wait_ready
from tests.support.proxy import Forwarder
from tests.support.runtime import publish_envelope


async def _waits_for(materials: ServiceProcess, dependency: str) -> None:
    """Alive, not ready, routes refused with a reason, and the log says why."""
    await until_async(
        lambda: asyncio.to_thread(materials.log.read_text),
        lambda log: f"waiting for {dependency}" in log,
        what=f"a log line about {dependency}",
    )
    async with httpx.AsyncClient(base_url=materials.url, timeout=5) as http:
        assert (await http.get("/health")).status_code == 200
        ready = await http.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["started"] is False
        refused = await http.get("/stock")
        assert refused.status_code == 503
        assert "starting" in refused.json()["detail"]
        assert refused.headers["Retry-After"]


async def _works(
    materials: ServiceProcess, infra: Infrastructure, namespace: str, url: str
) -> None:
    """Ready without a restart, and consuming."""
    pid = materials.process.pid
    await asyncio.to_thread(wait_ready, materials, 90.0)
    assert materials.process.poll() is None and materials.process.pid == pid
    approved = proposal_approved()
    await publish_envelope(
        infra, namespace, new_envelope(approved, producer="proposals", correlation_id="late")
    )
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        url, uuidRepresentation="standard"
    )
    try:
        jobs = client[f"{namespace}_materials"]["jobs"]
        try:
            await eventually_async(
                lambda: jobs.count_documents({"proposal_id": approved.proposal_id}),
                1,
                within=30,
                what="the job",
            )
        except AssertionError as failure:
            raise AssertionError(f"{failure}\n{materials.log_tail(60)}") from None
    finally:
        await client.close()


async def test_started_before_mongodb_becomes_ready_when_it_answers(
    infra: Infrastructure, namespace: str, tmp_path: Path
) -> None:
    port = run.free_port()
    url = run.connection_url(port)
    materials = start_service("materials", infra, namespace, tmp_path, MONGODB_URL=url)
    database = None
    try:
        await _waits_for(materials, "MongoDB")
        database = await asyncio.to_thread(run.start_mongod, tmp_path / "db", port)
        await _works(materials, infra, namespace, url)
    finally:
        materials.stop()
        if database is not None:
            database.stop()


async def test_started_before_rabbitmq_becomes_ready_when_it_answers(
    infra: Infrastructure, namespace: str, tmp_path: Path
) -> None:
    broker = urlsplit(infra.amqp_url)
    async with Forwarder((broker.hostname or "127.0.0.1", broker.port or 5672)) as proxy:
        late_url = proxy.url_for(infra.amqp_url)
        materials = start_service("materials", infra, namespace, tmp_path, AMQP_URL=late_url)
        try:
            await _waits_for(materials, "RabbitMQ")
            await proxy.open()
            await _works(materials, infra, namespace, infra.mongodb_url)
        finally:
            materials.stop()
