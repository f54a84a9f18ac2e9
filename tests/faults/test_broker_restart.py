"""Restart RabbitMQ while proposals are being submitted: every proposal is announced
and reaches the RT head's feed exactly once, none lost in the outage."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from shared.web.pages import MAX_PAGE_SIZE
from tests.support.infrastructure import Infrastructure
from tests.support.people import RT_HEAD, auth, road_proposal
from tests.support.processes import ServiceProcess, start_service, wait_ready

BEFORE, DURING, AFTER = 10, 10, 10


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=150)


def stop_broker() -> None:
    """Stop the RabbitMQ application: every connection drops; durable quorum queues
    and their messages stay."""
    rabbitmqctl("stop_app")


def start_broker() -> None:
    rabbitmqctl("start_app")
    rabbitmqctl("await_startup", "--timeout", "120")


@pytest.fixture
def services(
    infra: Infrastructure, namespace: str, tmp_path: Path
) -> Iterator[dict[str, ServiceProcess]]:
    # never a skip: the faults tier runs against the local broker (see README, Tests)
    assert shutil.which("rabbitmqctl") is not None and infra.source == "running services", (
        "restarting the broker needs the local RabbitMQ and rabbitmqctl; run the faults "
        "tier without BERDAYA_TEST_INFRA=containers"
    )
    running = {
        name: start_service(name, infra, namespace, tmp_path)
        for name in ("proposals", "notifications")
    }
    try:
        for service in running.values():
            wait_ready(service)
        yield running
    finally:
        for service in running.values():
            service.stop()


def submit(client: httpx.Client, count: int, tag: str) -> list[str]:
    ids = []
    for i in range(count):
        response = client.post(
            "/proposals",
            json=road_proposal(
                title=f"Rabat beton {tag} {i}",
                # far enough apart that none is flagged as a duplicate of another
                location={"lat": -1.60 - i * 0.01, "lng": 103.55 + (ord(tag[0]) % 5) * 0.01},
            ),
            headers=auth(RT_HEAD),
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["proposal"]["id"])
    return ids


async def test_a_broker_restart_loses_no_event_and_doubles_none(
    services: dict[str, ServiceProcess], infra: Infrastructure, namespace: str
) -> None:
    proposals = httpx.Client(base_url=services["proposals"].url, timeout=30)
    notifications = httpx.Client(base_url=services["notifications"].url, timeout=30)

    outbox = AsyncMongoClient[dict[str, object]](infra.mongodb_url)[f"{namespace}_proposals"][
        "outbox"
    ]
    ids = submit(proposals, BEFORE, "awal")
    await asyncio.to_thread(stop_broker)
    try:
        # the broker is down: the proposals are accepted, their events wait
        ids += await asyncio.to_thread(submit, proposals, DURING, "tengah")
        assert await outbox.count_documents({"status": "pending"}) >= DURING
    finally:
        await asyncio.to_thread(start_broker)
    ids += await asyncio.to_thread(submit, proposals, AFTER, "akhir")

    def whole_feed() -> list[dict[str, Any]]:
        """Every page of the RT head's feed (a duplicate could sit on any of them)."""
        items: list[dict[str, Any]] = []
        for page in itertools.count(1):
            answer = notifications.get(
                "/notifications",
                params={"page": page, "page_size": MAX_PAGE_SIZE},
                headers=auth(RT_HEAD),
            ).json()
            items += answer["items"]
            if len(items) >= answer["total"] or not answer["items"]:
                return items
        raise AssertionError("unreachable")

    def submitted_in_feed() -> Counter[str]:
        feed = whole_feed()
        return Counter(i["proposal_id"] for i in feed if i["event_type"] == "proposal.submitted")

    deadline = time.monotonic() + 120
    while len(found := await asyncio.to_thread(submitted_in_feed)) < len(ids):
        assert time.monotonic() < deadline, f"only {len(found)} of {len(ids)} arrived"
        await asyncio.sleep(0.5)
    await asyncio.sleep(2.0)  # a duplicate would show up by now
    found = await asyncio.to_thread(submitted_in_feed)
    assert set(found) == set(ids)
    assert set(found.values()) == {1}, "an event reached the feed twice"
    for service in services.values():
        assert service.process.poll() is None, f"{service.name} died:\n{service.log_tail()}"
    await outbox.database.client.close()
