"""The service image in containers, the way ops runs it: the README's flow through the
containers' HTTP ports with a city system following the events; materials scaled to
three replicas with one killed mid-stream; a service started before its database."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
from aio_pika.abc import AbstractIncomingMessage
from pymongo import AsyncMongoClient
from testcontainers.core.container import DockerContainer

from tests.support.containers import (
    HTTP_PORT,
    Stack,
    host_url,
    initiate_replica_sets,
    logs,
    mongodb_container,
    ready,
    service_container,
    wait_until,
)
from tests.support.flow import EXPECTED_STEPS, road_journey
from tests.support.people import (
    CITY_OFFICER,
    KECAMATAN_OFFICER,
    KELURAHAN_OFFICER,
    RT_HEAD,
    auth,
    road_proposal,
)
from tests.support.probe import EventProbe, until_async
from tests.support.processes import metric

APPROVALS = 100
# A year of its own, so this ceiling meets no other test's allocations.
SCALING_YEAR = 2027


async def test_the_readme_flow_runs_through_the_containers_and_a_city_system_follows(
    system: Stack,
) -> None:
    async with EventProbe(system.amqp_url(), "berdaya", ["#"]) as city:
        proposal_id = await asyncio.to_thread(
            road_journey,
            system.url("proposals"),
            system.url("materials"),
            system.url("notifications"),
        )

        def about_this_proposal() -> list[str]:
            return [
                str(message.routing_key)
                for message in city.messages
                if json.loads(message.body)["data"].get("proposal_id") == proposal_id
            ]

        await city.wait_for(
            lambda: set(EXPECTED_STEPS) <= set(about_this_proposal()),
            what="every step on the exchange",
        )
    # each step once (notification.* audit events name the proposal too, hence the filter)
    steps = Counter(t for t in about_this_proposal() if not t.startswith("notification."))
    assert {step: steps[step] for step in EXPECTED_STEPS} == dict.fromkeys(EXPECTED_STEPS, 1)
    # the RT head was e-mailed through the SMTP catcher
    wait_until(lambda: "Usulan disetujui" in logs(system.smtp), "the approval e-mail", 30)


def _review(proposals: httpx.Client, number: int) -> str:
    """A proposal submitted, verified and endorsed: ready for the city's approval."""
    proposal = road_proposal(title=f"Rabat beton gang {number}", estimated_cost_idr=10_000_000)
    created = proposals.post("/proposals", json=proposal, headers=auth(RT_HEAD))
    assert created.status_code == 201, created.text
    proposal_id: str = created.json()["proposal"]["id"]
    for step, actor in (("verify", KELURAHAN_OFFICER), ("endorse", KECAMATAN_OFFICER)):
        reviewed = proposals.post(f"/proposals/{proposal_id}/{step}", json={}, headers=auth(actor))
        assert reviewed.status_code == 200, reviewed.text
    return proposal_id


def _awaiting_approval(proposals: httpx.Client, count: int) -> list[str]:
    """`count` reviewed proposals, and a ceiling that takes all their budgets."""
    ceiling = proposals.put(
        f"/budgets/Telanaipura/{SCALING_YEAR}",
        json={"ceiling_idr": count * 10_000_000},
        headers=auth(CITY_OFFICER),
    )
    assert ceiling.status_code == 200, ceiling.text
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda n: _review(proposals, n), range(count)))


def _handled_some(replica: DockerContainer) -> bool:
    handled = metric(
        host_url(replica, HTTP_PORT),
        "berdaya_events_consumed_total",
        event_type="proposal.approved",
        outcome="handled",
    )
    return handled > 0


def _approve(proposals: httpx.Client, proposal_id: str) -> None:
    approved = proposals.post(
        f"/proposals/{proposal_id}/approve",
        json={"budget_idr": 10_000_000, "fiscal_year": SCALING_YEAR},
        headers=auth(CITY_OFFICER),
    )
    assert approved.status_code == 200, approved.text


async def test_three_materials_replicas_one_killed_mid_stream_reserve_every_job_once(
    system: Stack,
) -> None:
    while len(system.services["materials"]) < 3:
        await asyncio.to_thread(system.start_service, "materials")
    victim, *survivors = system.services["materials"][-3:]
    proposals = httpx.Client(base_url=system.url("proposals"), timeout=30)
    waiting = await asyncio.to_thread(_awaiting_approval, proposals, APPROVALS)

    database: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        system.mongodb_url("materials"), uuidRepresentation="standard"
    )
    jobs = database["berdaya_materials"]["jobs"]
    before = await jobs.count_documents({})
    try:
        async with EventProbe(system.amqp_url(), "berdaya", ["material.reserved"]) as city:
            with ThreadPoolExecutor(8) as pool:
                approving = pool.map(lambda p: _approve(proposals, p), waiting)
                # kill one replica (SIGKILL, as `podman kill`) once the jobs are coming in
                await until_async(
                    lambda: jobs.count_documents({}),
                    lambda n: n >= before + APPROVALS // 5,
                    what="jobs coming in",
                )
                await asyncio.to_thread(victim.get_wrapped_container().kill)
                killed_at = await jobs.count_documents({}) - before
                print(f"one of three materials replicas killed after {killed_at} jobs")
                assert killed_at < APPROVALS, "the kill came too late to prove anything"
                list(approving)
            mine = {"proposal_id": {"$in": [uuid.UUID(p) for p in waiting]}}
            await until_async(
                lambda: jobs.count_documents(mine),
                lambda n: n == APPROVALS,
                within=120,
                what="a job for every approval",
            )
            await city.wait_for(
                lambda: len(_reservations(city.messages, waiting)) == APPROVALS,
                within=60,
                what="every job's reservation announced",
            )
            await asyncio.sleep(2)  # a doubled effect would be announced by now
            reserved = _reservations(city.messages, waiting)
        mine = {"proposal_id": {"$in": [uuid.UUID(p) for p in waiting]}}
        per_job = Counter([str(d["proposal_id"]) async for d in jobs.find(mine)])
    finally:
        await database.close()
    assert set(per_job.values()) == {1}, "a job was created twice"
    # one reservation event per job (a re-published copy keeps its event id)
    assert all(len(event_ids) == 1 for event_ids in reserved.values()), reserved
    # the survivors shared the work after the kill
    for replica in survivors:
        assert await asyncio.to_thread(_handled_some, replica)


def _reservations(
    messages: list[AbstractIncomingMessage], proposal_ids: list[str]
) -> dict[str, set[str]]:
    """The event ids of `material.reserved` per proposal."""
    wanted = set(proposal_ids)
    per_job: dict[str, set[str]] = {}
    for message in messages:
        body = json.loads(message.body)
        proposal_id = body["data"]["proposal_id"]
        if proposal_id in wanted:
            per_job.setdefault(proposal_id, set()).add(body["event_id"])
    return per_job


def test_a_service_started_before_its_mongodb_becomes_ready_without_a_restart(
    system: Stack,
) -> None:
    # its own database and namespace, so it shares no queue with the running system
    late = service_container(
        system.network,
        "materials",
        database="late-db",
        amqp_user="berdaya-admin",
        BERDAYA_NAMESPACE="late",
        # a namespace the set-up step never saw: the administrator declares its own
        BERDAYA_BROKER_TOPOLOGY="declare",
    )
    with late:
        wait_until(lambda: "waiting for MongoDB" in logs(late), "the log line about MongoDB", 60)
        answer = httpx.get(f"{host_url(late, HTTP_PORT)}/ready", timeout=5)
        assert answer.status_code == 503
        assert answer.json()["checks"]["started"] is False
        started_at = _started_at(late)
        with mongodb_container(system.network, "late-db"):
            initiate_replica_sets(system.network, "late-db")
            wait_until(lambda: ready(late), "ready once MongoDB answers", 90)
            # the same process: neither restarted nor re-created
            assert _started_at(late) == started_at


def _started_at(container: DockerContainer) -> str:
    wrapped = container.get_wrapped_container()
    wrapped.reload()
    return str(wrapped.attrs["State"]["StartedAt"])
