"""deploy/compose.yaml really runs: up with three materials replicas, every service
ready, the README's flow through the published ports, down without leftovers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import aio_pika
import httpx
import pytest

from deploy.broker.definitions import ADMIN, VHOST, dev_password
from deploy.local.run import free_port
from shared.messaging.topology import Topology
from tests.support.containers import REPO, wait_until
from tests.support.flow import road_journey

COMPOSE_FILE = REPO / "deploy" / "compose.yaml"
STANDINS = REPO / "deploy" / "standins.env"
PODMAN_COMPOSE = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin" / "podman-compose"
REPLICAS = 3


class Compose:
    def __init__(self) -> None:
        # a project and ports of its own: a developer's `make compose-up` may be running
        self.project = f"berdaya-test-{uuid.uuid4().hex[:6]}"
        self.ports = {
            name: str(free_port())
            for name in (
                "PROPOSALS_PORT",
                "NOTIFICATIONS_PORT",
                "TRANSPARENCY_PORT",
                "RABBITMQ_PORT",
                "RABBITMQ_MANAGEMENT_PORT",
                "SMTP_WEB_PORT",
            )
        }

    def run(self, *args: str, timeout: float = 300) -> str:
        env = {**os.environ, **self.ports, "MATERIALS_REPLICAS": str(REPLICAS)}
        command = [str(PODMAN_COMPOSE), "-p", self.project]
        if STANDINS.exists() and os.environ.get("BERDAYA_IMAGE"):
            command += ["--env-file", str(STANDINS)]
        done = subprocess.run(
            [*command, "-f", str(COMPOSE_FILE), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, f"podman-compose {' '.join(args)}:\n{done.stderr[-3000:]}"
        return done.stdout

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[f'{name.upper()}_PORT']}"

    def replica_url(self, service: str, index: int) -> str:
        # each materials replica publishes on a free host port of its own
        where = subprocess.run(
            ["podman", "port", f"{self.project}_{service}_{index}", "8000"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return f"http://{where.splitlines()[0]}"

    def containers(self) -> list[str]:
        listed = subprocess.run(
            ["podman", "ps", "-a", "--format", "{{.Names}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        return [name for name in listed if name.startswith(f"{self.project}_")]


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ready", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def compose() -> Iterator[Compose]:
    stack = Compose()
    try:
        stack.run("up", "-d")
        yield stack
    finally:
        stack.run("down", "-v", "-t", "30")


async def _consumers(amqp_url: str, queue: str) -> int:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        assert declared.declaration_result.consumer_count is not None
        return declared.declaration_result.consumer_count


async def test_compose_runs_the_system_with_three_materials_replicas(compose: Compose) -> None:
    materials = [compose.replica_url("materials", n) for n in range(1, REPLICAS + 1)]
    others = [compose.url(s) for s in ("proposals", "notifications", "transparency")]
    for url in [*others, *materials]:
        await asyncio.to_thread(wait_until, partial(_ready, url), f"{url} ready")
    await asyncio.to_thread(
        road_journey, compose.url("proposals"), materials[0], compose.url("notifications")
    )
    # the three replicas are competing consumers of the same queues
    admin = (
        f"amqp://{ADMIN}:{dev_password(ADMIN)}@127.0.0.1:{compose.ports['RABBITMQ_PORT']}/{VHOST}"
    )
    queue = Topology(VHOST).queue_name("materials", "proposal.approved")
    assert await _consumers(admin, queue) == REPLICAS
    assert len([c for c in compose.containers() if "_materials_" in c]) == REPLICAS
