"""Bad messages are dead-lettered with their reason, failing handlers after a bounded
number of attempts; dead letters can be inspected (a page at a time) and replayed, once
per Idempotency-Key."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.contracts import ReceivedEvent, new_envelope
from shared.contracts.events import WorkStartedV2
from shared.messaging.dead_letters import ReplayFilter
from shared.runtime import build_runtime
from shared.storage import answers
from shared.storage.unit_of_work import UnitOfWork
from shared.web import app as app_module
from shared.web import idempotency
from shared.web.app import create_app
from tests.support.events import proposal_approved, stock_received, work_started
from tests.support.infrastructure import Infrastructure
from tests.support.materials import MaterialsApi
from tests.support.namespace import settings_for
from tests.support.people import CITY_OFFICER, RESIDENT, auth
from tests.support.probe import dead_letters_eventually, eventually, eventually_async
from tests.support.runtime import asgi_client, publish_envelope, publish_raw, running_service


async def test_invalid_messages_land_in_the_dead_letter_queue_with_their_reason(
    infra: Infrastructure, namespace: str
) -> None:
    async with running_service("materials", infra, namespace, max_message_bytes=4096) as (
        runtime,
        _,
    ):
        valid = json.loads(
            new_envelope(
                proposal_approved(), producer="proposals", correlation_id="c"
            ).model_dump_json()
        )
        wrong_data = {**valid, "data": {**valid["data"], "budget_idr": "a lot"}}
        unknown_field = {**valid, "colour": "red"}
        await publish_raw(infra, namespace, "proposal.approved", b"{not json", message_id="m1")
        await publish_raw(
            infra, namespace, "proposal.approved", json.dumps(wrong_data).encode(), message_id="m2"
        )
        await publish_raw(
            infra,
            namespace,
            "proposal.approved",
            json.dumps(unknown_field).encode(),
            message_id="m3",
        )
        await publish_raw(infra, namespace, "proposal.approved", b"x" * 5000, message_id="m4")

        found = await dead_letters_eventually(runtime, 4)
        letters = {d.message_id: d.reason for d in found}
        assert set(letters) == {"m1", "m2", "m3", "m4"}
        assert letters["m1"].startswith("invalid envelope")
        assert "data.budget_idr" in letters["m2"]
        assert "colour" in letters["m3"] and "Extra inputs are not permitted" in letters["m3"]
        assert "exceeds the limit of 4096" in letters["m4"]
        assert await runtime.db["jobs"].count_documents({}) == 0
        # nothing stays behind on the service's queue, nothing is requeued
        queue = await runtime.broker.declare_queue(
            runtime.topology.event_queue("materials", "proposal.approved")
        )
        assert queue.declaration_result.message_count == 0


async def test_event_the_rules_refuse_is_dead_lettered_at_once(
    infra: Infrastructure, namespace: str
) -> None:
    async with running_service("materials", infra, namespace) as (runtime, _):
        # an outside system's receipt at a warehouse the city does not have: nothing of
        # ours waits on it (a refusal that leaves a flow waiting is an event instead —
        # tests/integration/test_unplannable_jobs.py)
        received = stock_received({"cement": 200}, warehouse="Gudang Muaro Jambi")
        envelope = new_envelope(received, producer="city-warehouse", correlation_id="refused")
        await publish_envelope(infra, namespace, envelope)
        letters = await dead_letters_eventually(runtime, 1)
        assert [d.message_id for d in letters] == [str(envelope.event_id)]
        assert letters[0].reason.startswith("refused: unknown warehouse 'Gudang Muaro Jambi'")
        assert letters[0].attempts == 1


async def test_failing_handler_is_dead_lettered_after_bounded_attempts_then_replayed(
    infra: Infrastructure, namespace: str
) -> None:
    calls: list[str] = []
    healthy = False

    async def flaky(event: ReceivedEvent[WorkStartedV2], uow: UnitOfWork) -> None:
        calls.append(str(event.envelope.event_id))
        if not healthy:
            raise ConnectionError("the city's finance system does not answer")
        await uow.db["effects"].insert_one({"event_id": calls[-1]}, session=uow.session)

    settings = settings_for(
        "materials", namespace, infra.amqp_url, infra.mongodb_url, max_delivery_attempts=3
    )
    runtime = build_runtime(settings, "materials", [])
    runtime.consumers.on(WorkStartedV2, flaky)
    await runtime.start()
    try:
        envelope = new_envelope(work_started(), producer="proposals", correlation_id="flaky")
        await publish_envelope(infra, namespace, envelope)
        await eventually(lambda: len(calls) >= 3, within=30, what="three attempts")
        letters = await dead_letters_eventually(runtime, 1)
        assert len(calls) == 3, "the handler was tried more often than the limit"
        assert len(letters) == 1
        assert letters[0].reason.startswith("handler failed 3 times")
        assert "finance system does not answer" in letters[0].reason
        assert letters[0].original_queue == runtime.topology.queue_name("materials", "work.started")

        healthy = True
        replayed = await runtime.dead_letters.replay(str(envelope.event_id))
        assert replayed is not None
        await eventually(lambda: len(calls) == 4, what="the replayed delivery")
        assert await runtime.dead_letters.peek() == []
        effects = runtime.db["effects"]
        await eventually_async(lambda: effects.count_documents({}), 1, what="the effect")
    finally:
        await runtime.stop()


async def test_a_bulk_replay_sends_each_dead_letter_back_once_even_when_it_is_refused_again(
    infra: Infrastructure, namespace: str
) -> None:
    async with running_service("materials", infra, namespace) as (runtime, _):
        for message_id in ("bad-1", "bad-2"):
            await publish_raw(
                infra, namespace, "proposal.approved", b"{nope", message_id=message_id
            )
        await dead_letters_eventually(runtime, 2)

        report = await runtime.dead_letters.replay_matching(
            ReplayFilter(reason_contains="invalid envelope")
        )

        # each came straight back (still invalid); the pass stopped when it met the first again
        assert sorted(d.message_id or "" for d in report.replayed) == ["bad-1", "bad-2"]
        assert report.complete
        letters = await dead_letters_eventually(runtime, 2)
        assert sorted(d.message_id or "" for d in letters) == ["bad-1", "bad-2"]


async def test_a_replay_retried_with_its_idempotency_key_sends_the_letters_back_once(
    infra: Infrastructure, namespace: str
) -> None:
    arrivals: list[str] = []

    async def refusing(event: ReceivedEvent[WorkStartedV2], uow: UnitOfWork) -> None:
        arrivals.append(str(event.envelope.event_id))
        raise ConnectionError("the city's finance system does not answer")

    settings = settings_for(
        "materials", namespace, infra.amqp_url, infra.mongodb_url, max_delivery_attempts=1
    )
    runtime = build_runtime(settings, "materials", [answers.create_indexes])
    runtime.consumers.on(WorkStartedV2, refusing)
    await runtime.start()
    envelope = new_envelope(work_started(), producer="proposals", correlation_id="replay-once")
    message_id = str(envelope.event_id)
    one = f"/admin/dead-letters/{message_id}/replay"
    every_start = {"event_type": "work.started"}
    try:
        await publish_envelope(infra, namespace, envelope)
        await dead_letters_eventually(runtime, 1)
        app = create_app(runtime, title="test", description="", routers=[])
        async with asgi_client(app) as api:
            keyed = {**auth(CITY_OFFICER), "Idempotency-Key": "replay-one-1"}
            first = await api.post(one, headers=keyed)
            await eventually(lambda: len(arrivals) >= 2, what="the replayed delivery")
            await dead_letters_eventually(runtime, 1)  # refused again: a dead letter again
            again = await api.post(one, headers=keyed)

            bulk_keyed = {**auth(CITY_OFFICER), "Idempotency-Key": "replay-bulk-1"}
            bulk = await api.post(
                "/admin/dead-letters/replay", json=every_start, headers=bulk_keyed
            )
            await eventually(lambda: len(arrivals) >= 3, what="the bulk replay's delivery")
            await dead_letters_eventually(runtime, 1)
            bulk_again = await api.post(
                "/admin/dead-letters/replay", json=every_start, headers=bulk_keyed
            )
            other_filter = await api.post(
                "/admin/dead-letters/replay", json={"event_type": "work.done"}, headers=bulk_keyed
            )
            await asyncio.sleep(1.5)  # a second replay, if any, would have arrived by now
            peeked = await api.get("/admin/dead-letters", headers=auth(CITY_OFFICER))
        trail = runtime.db["audit_log"]
        recorded = [r["action"] async for r in trail.find({})]
    finally:
        await runtime.stop()

    assert (first.status_code, again.status_code) == (200, 200), again.text
    assert again.json() == first.json() and first.json()["message_id"] == message_id
    assert again.headers["Idempotent-Replay"] == "true"
    assert "Idempotent-Replay" not in first.headers
    assert (bulk.status_code, bulk_again.status_code) == (200, 200), bulk_again.text
    assert [d["message_id"] for d in bulk.json()["replayed"]] == [message_id]
    assert bulk_again.json() == bulk.json()
    assert bulk_again.headers["Idempotent-Replay"] == "true"
    assert other_filter.status_code == 422
    assert "already used for a different request" in other_filter.json()["detail"]
    # the first delivery, one per keyed replay, and none for their retries
    assert arrivals == [message_id] * 3
    assert peeked.status_code == 200, peeked.text
    page = peeked.json()
    assert (page["total"], page["page"], page["page_size"]) == (1, 1, 50)
    assert [d["message_id"] for d in page["items"]] == [message_id]
    assert sorted(recorded) == ["replay_dead_letter", "replay_dead_letters"]


async def test_a_replay_key_still_reserved_is_told_to_wait_and_one_left_behind_acts_again(
    materials: MaterialsApi, infra: Infrastructure, namespace: str
) -> None:
    api, runtime = materials.api, materials.runtime
    await publish_raw(infra, namespace, "proposal.approved", b"{not json", message_id="bad-1")
    await dead_letters_eventually(runtime, 1)
    path = "/admin/dead-letters/bad-1/replay"
    keyed = {**auth(CITY_OFFICER), "Idempotency-Key": "replay-bad-1"}
    # what a request with this key leaves while it runs, or when its process stops
    request = idempotency.KeyedRequest(
        "replay-bad-1", CITY_OFFICER.id, "POST", path, idempotency.fingerprint(b"")
    )
    now = datetime.now(UTC)
    keys = runtime.db[answers.COLLECTION]
    await keys.insert_one(
        {
            "_id": request.record_id,
            "actor_id": CITY_OFFICER.id,
            "route": f"POST {path}",
            "fingerprint": request.fingerprint,
            "reservation": "another-request",
            "reserved_until": now + timedelta(minutes=5),
            "created_at": now,
        }
    )

    running = await api.post(path, headers=keyed)
    assert running.status_code == 409, running.text
    assert running.headers["Retry-After"] == "5"
    assert "still being answered" in running.json()["detail"]
    assert [d.message_id for d in await runtime.dead_letters.peek()] == ["bad-1"]

    # the request that reserved it never finished: the same key acts, once
    await keys.update_one(
        {"_id": request.record_id}, {"$set": {"reserved_until": now - timedelta(seconds=1)}}
    )
    taken_over = await api.post(path, headers=keyed)
    assert taken_over.status_code == 200, taken_over.text
    assert taken_over.json()["message_id"] == "bad-1"
    await dead_letters_eventually(runtime, 1)  # still not JSON: straight back
    again = await api.post(path, headers=keyed)
    assert again.headers["Idempotent-Replay"] == "true" and again.json() == taken_over.json()
    replays = {"action": "replay_dead_letter", "target_id": "bad-1"}
    assert await runtime.db["audit_log"].count_documents(replays) == 1
    stored = await keys.find_one({"_id": request.record_id})
    assert stored is not None and stored["status_code"] == 200
    assert "reserved_until" not in stored

    # a replay that found nothing keeps no answer: the same key looks again
    missing = {**auth(CITY_OFFICER), "Idempotency-Key": "replay-missing-1"}
    for _ in "12":
        gone = await api.post("/admin/dead-letters/nothing/replay", headers=missing)
        assert gone.status_code == 404 and "Idempotent-Replay" not in gone.headers


async def test_dead_letters_are_peeked_at_a_page_at_a_time(
    materials: MaterialsApi, infra: Infrastructure, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, runtime = materials.api, materials.runtime
    for message_id in ("bad-1", "bad-2", "bad-3"):
        await publish_raw(infra, namespace, "proposal.approved", b"{nope", message_id=message_id)
    await dead_letters_eventually(runtime, 3)
    officer = auth(CITY_OFFICER)

    async def page(n: int, size: int) -> httpx.Response:
        wanted = {"page": n, "page_size": size}
        return await api.get("/admin/dead-letters", params=wanted, headers=officer)

    # each page after the other, the queue in the same order (a peek of its head alone
    # would have moved that head behind the rest)
    pages = [await page(n, 2) for n in (1, 2, 3)]
    too_deep = await page(6, 100)
    refused = await api.get("/admin/dead-letters", headers=auth(RESIDENT))
    # more than a peek reaches: the page is of the first ones, the total of all
    monkeypatch.setattr(app_module, "PEEK_REACH", 2)
    beyond_the_reach = await page(1, 2)
    monkeypatch.undo()

    assert [p.status_code for p in pages] == [200, 200, 200]
    bodies = [p.json() for p in pages]
    assert [(b["total"], b["page"], b["page_size"]) for b in bodies] == [
        (3, n, 2) for n in (1, 2, 3)
    ]
    assert [[d["message_id"] for d in b["items"]] for b in bodies] == [
        ["bad-1", "bad-2"],
        ["bad-3"],
        [],
    ]
    assert too_deep.status_code == 422
    assert "first 500 dead letters" in too_deep.json()["detail"]
    assert refused.status_code == 403
    assert beyond_the_reach.status_code == 200, beyond_the_reach.text
    assert beyond_the_reach.json()["total"] == 3
    assert len(beyond_the_reach.json()["items"]) == 2
    assert len(await runtime.dead_letters.peek()) == 3  # peeking took none away
