"""RabbitMQ goes away under load — restarted while proposals are being submitted, and
stopped for two minutes while approvals keep arriving over HTTP: every proposal is
announced and handled exactly once, none lost in the outage, nothing dead-lettered.

The broker restarted is a node of its own (tests/support/rabbitmq_node.py), never the
development broker on 5672 that other tests use."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from shared.web.pages import MAX_PAGE_SIZE
from tests.support.approvals import WATCHED, ApprovalLoad, until_ready
from tests.support.infrastructure import Infrastructure
from tests.support.people import RT_HEAD, auth, road_proposal
from tests.support.probe import EventProbe
from tests.support.processes import ServiceProcess, start_service, wait_ready
from tests.support.rabbitmq_node import RabbitNode, rabbitmq_node

BEFORE, DURING, AFTER = 10, 10, 10
OUTAGE_SECONDS = 120.0
# while the broker is away, an approval arrives over HTTP this often
APPROVAL_EVERY_SECONDS = 8.0


@pytest.fixture
def broker(infra: Infrastructure, tmp_path: Path) -> Iterator[RabbitNode]:
    # never a skip: the faults tier runs the machine's RabbitMQ install (see README, Tests)
    assert infra.source == "running services", (
        "restarting a broker needs the local RabbitMQ install; run the faults tier "
        "without BERDAYA_TEST_INFRA=containers"
    )
    with rabbitmq_node(tmp_path / "rabbitmq") as node:
        yield node


def running(
    names: tuple[str, ...], broker: RabbitNode, infra: Infrastructure, namespace: str, logs: Path
) -> Iterator[dict[str, ServiceProcess]]:
    own = Infrastructure(broker.amqp_url, infra.mongodb_url, infra.source)
    started = {
        name: start_service(
            name,
            own,
            namespace,
            logs,
            # the queue policies go to this node, not to the development broker
            BERDAYA_RABBITMQ_MANAGEMENT_URL=broker.management_url,
        )
        for name in names
    }
    try:
        for service in started.values():
            wait_ready(service, 90)
        yield started
    finally:
        for service in started.values():
            service.stop()


@pytest.fixture
def services(
    broker: RabbitNode, infra: Infrastructure, namespace: str, tmp_path: Path
) -> Iterator[dict[str, ServiceProcess]]:
    yield from running(("proposals", "notifications"), broker, infra, namespace, tmp_path)


@pytest.fixture
def approving(
    broker: RabbitNode, infra: Infrastructure, namespace: str, tmp_path: Path
) -> Iterator[dict[str, ServiceProcess]]:
    yield from running(("proposals", "materials"), broker, infra, namespace, tmp_path)


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
    services: dict[str, ServiceProcess], broker: RabbitNode, infra: Infrastructure, namespace: str
) -> None:
    proposals = httpx.Client(base_url=services["proposals"].url, timeout=30)
    notifications = httpx.Client(base_url=services["notifications"].url, timeout=30)

    outbox = AsyncMongoClient[dict[str, object]](infra.mongodb_url)[f"{namespace}_proposals"][
        "outbox"
    ]
    ids = submit(proposals, BEFORE, "awal")
    await asyncio.to_thread(broker.stop)
    try:
        # the broker is down: the proposals are accepted, their events wait
        ids += await asyncio.to_thread(submit, proposals, DURING, "tengah")
        assert await outbox.count_documents({"status": "pending"}) >= DURING
    finally:
        await asyncio.to_thread(broker.start)
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


async def test_a_two_minute_broker_outage_under_load_loses_nothing(
    approving: dict[str, ServiceProcess], broker: RabbitNode, infra: Infrastructure, namespace: str
) -> None:
    """Approvals keep arriving over HTTP while the broker is away for two minutes: they
    are committed, their events wait in the outbox; both services say they are not
    ready, and ready again after; every approval then gets its job once, and nothing is
    dead-lettered."""
    load = ApprovalLoad(approving["proposals"].url, approving["materials"].url)
    outbox = AsyncMongoClient[dict[str, object]](infra.mongodb_url)[f"{namespace}_proposals"][
        "outbox"
    ]
    async with EventProbe(broker.amqp_url, namespace, WATCHED, lasting=True) as probe:
        await load.prepare()
        await load.approve(3, "sebelum")
        await load.wait_for_jobs(infra.mongodb_url, namespace, within=30)

        await asyncio.to_thread(broker.stop)
        stopped_at = time.monotonic()
        for service in approving.values():
            await until_ready(service, False, within=15)
        during = 0
        while time.monotonic() - stopped_at < OUTAGE_SECONDS:
            await load.approve(1, "selama")
            during += 1
            await asyncio.sleep(APPROVAL_EVERY_SECONDS)
        waiting = await outbox.count_documents({"status": "pending"})
        assert waiting >= during, f"{during} approvals made, {waiting} events waiting"
        await asyncio.to_thread(broker.start)
        started_at = time.monotonic()
        ready_after = max(
            [await until_ready(service, True, within=90) for service in approving.values()]
        )
        await load.approve(3, "sesudah")
        drained_at = await load.wait_for_jobs(infra.mongodb_url, namespace, within=120)
        await asyncio.sleep(2.0)  # a doubled job or event would show up by now
        reckoning = await load.reckon(probe, broker.amqp_url, infra.mongodb_url, namespace)
    await outbox.database.client.close()

    assert reckoning.approvals == 3 + during + 3
    # the outage grew no backoff: the backlog goes out as soon as the broker is back
    assert drained_at - started_at < 60, f"backlog drained {drained_at - started_at:.0f}s after"
    for service in approving.values():
        assert service.process.poll() is None, f"{service.name} died:\n{service.log_tail()}"
    print(  # the figures the README quotes (pytest -s shows them)
        f"\nbroker stopped {OUTAGE_SECONDS:.0f}s, {during} approvals during it "
        f"({waiting} events waiting in the outbox): ready {ready_after:.1f}s after the "
        f"broker was back, every job {drained_at - started_at:.1f}s after; {reckoning}"
    )
