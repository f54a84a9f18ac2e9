"""Retries that survive real outages, against the real broker and MongoDB:
- a failing handler is retried after a delay (broker-side retry queues), its count of
  attempts carried in a header across a consumer restart, then dead-lettered;
- dead letters are replayed in bulk by filter, in one pass over the queue;
- queue settings are policies: another BERDAYA_MAX_DELIVERY_ATTEMPTS against an existing
  broker starts, and the new delivery limit applies; queues left by the old versions,
  with the settings as arguments, are named with what to do;
- one handler takes v1 and v2 of an event (upcast)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import aio_pika
import pytest

from shared.contracts import ReceivedEvent, new_envelope
from shared.contracts.events import WorkCompletedV2, WorkStartedV2
from shared.messaging import headers
from shared.messaging.dead_letters import ReplayFilter
from shared.messaging.topology import broker_delivery_limit
from shared.runtime import QueueArgumentsConflict, ServiceRuntime, build_runtime
from shared.settings import ServiceSettings
from shared.storage.unit_of_work import UnitOfWork
from shared.web.app import create_app
from tests.support.drills import DrillReportedV1, DrillReportedV2
from tests.support.events import about_the_road, work_started
from tests.support.infrastructure import Infrastructure
from tests.support.namespace import settings_for
from tests.support.people import CITY_OFFICER, auth
from tests.support.probe import dead_letters_eventually, eventually, eventually_async
from tests.support.runtime import asgi_client, publish_envelope, publish_envelopes, running_service


def _settings(infra: Infrastructure, namespace: str, **overrides: object) -> ServiceSettings:
    return settings_for("materials", namespace, infra.amqp_url, infra.mongodb_url, **overrides)


async def test_a_failing_handler_is_retried_after_delays_across_a_restart_then_dead_lettered(
    infra: Infrastructure, namespace: str
) -> None:
    calls: list[float] = []

    async def failing(event: ReceivedEvent[WorkStartedV2], uow: UnitOfWork) -> None:
        calls.append(time.monotonic())
        raise RuntimeError("the city's finance system refuses the job")

    settings = _settings(infra, namespace, max_delivery_attempts=3, retry_delays_seconds=(1.0, 2.0))

    def replica() -> ServiceRuntime:
        runtime = build_runtime(settings, "materials", [])
        runtime.consumers.on(WorkStartedV2, failing)
        return runtime

    first = replica()
    await first.start()
    envelope = new_envelope(work_started(), producer="proposals", correlation_id="retry")
    try:
        await publish_envelope(infra, namespace, envelope)
        await eventually(lambda: len(calls) == 1, what="the first attempt")
    finally:
        # the consumer goes away while its event waits in the retry queue
        await first.stop()
    retry_queue = first.topology.retry_route("materials", 1).queue
    second = replica()
    await second.start()
    try:
        letters = await dead_letters_eventually(second, 1, within=30)
        # three attempts in all, not three more after the restart: the count travelled
        # with the message
        assert len(calls) == 3
        assert letters[0].reason.startswith("handler failed 3 times")
        assert "refuses the job" in letters[0].reason
        assert letters[0].attempts == 3
        assert letters[0].event_type == "work.started"
        assert letters[0].original_queue == second.topology.queue_name("materials", "work.started")
        # the waits were the configured delays: 1 s, then 2 s
        assert calls[1] - calls[0] >= 0.9
        assert calls[2] - calls[1] >= 1.9
        assert await _messages_in(infra, retry_queue.name) == 0
    finally:
        await second.stop()


async def _messages_in(infra: Infrastructure, queue: str) -> int:
    connection = await aio_pika.connect(infra.amqp_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        count = declared.declaration_result.message_count
        return count if isinstance(count, int) else -1


async def test_dead_letters_are_replayed_in_bulk_by_filter_in_one_pass(
    infra: Infrastructure, namespace: str
) -> None:
    healthy: set[str] = set()
    handled: list[str] = []

    async def started(event: ReceivedEvent[WorkStartedV2], uow: UnitOfWork) -> None:
        if "started" not in healthy:
            raise RuntimeError("finance system down")
        handled.append(str(event.envelope.event_id))

    async def completed(event: ReceivedEvent[WorkCompletedV2], uow: UnitOfWork) -> None:
        if "completed" not in healthy:
            raise RuntimeError("warehouse system down")
        handled.append(str(event.envelope.event_id))

    runtime = build_runtime(_settings(infra, namespace, max_delivery_attempts=1), "materials", [])
    runtime.consumers.on(WorkStartedV2, started)
    runtime.consumers.on(WorkCompletedV2, completed)
    await runtime.start()
    try:
        starts = [
            new_envelope(work_started(), producer="proposals", correlation_id=f"s{i}")
            for i in range(3)
        ]
        completions = [
            new_envelope(
                about_the_road(
                    WorkCompletedV2,
                    work_started().proposal_id,
                    {"reported_by": "rt", "volunteers_total": 30, "labour_days_total": 60},
                ),
                producer="proposals",
                correlation_id=f"c{i}",
            )
            for i in range(2)
        ]
        await publish_envelopes(infra, namespace, [*starts, *completions])
        await dead_letters_eventually(runtime, 5)

        healthy.add("started")
        nothing = await runtime.dead_letters.replay_matching(
            ReplayFilter(dead_lettered_until=datetime.now(UTC) - timedelta(hours=1))
        )
        assert (nothing.replayed, nothing.scanned, nothing.complete) == ([], 5, True)
        report = await runtime.dead_letters.replay_matching(
            ReplayFilter(event_type="work.started", reason_contains="FINANCE")
        )
        assert report.scanned == 5, "one pass over the queue, not one per message"
        assert report.complete
        assert sorted(d.message_id or "" for d in report.replayed) == sorted(
            str(e.event_id) for e in starts
        )
        await eventually(lambda: len(handled) == 3, what="the replayed starts handled")
        remaining = await runtime.dead_letters.peek()
        assert sorted(d.message_id or "" for d in remaining) == sorted(
            str(e.event_id) for e in completions
        )

        # the same over HTTP, for city officers
        healthy.add("completed")
        app = create_app(runtime, title="test", description="", routers=[])
        async with asgi_client(app) as client:
            refused = await client.post("/admin/dead-letters/replay", json={})
            assert refused.status_code == 401 or refused.status_code == 422
            empty = await client.post(
                "/admin/dead-letters/replay", json={}, headers=auth(CITY_OFFICER)
            )
            assert empty.status_code == 422
            assert "say which dead letters" in empty.json()["detail"]
            answer = await client.post(
                "/admin/dead-letters/replay",
                json={
                    "reason_contains": "warehouse",
                    "dead_lettered_from": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
                },
                headers=auth(CITY_OFFICER),
            )
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["replayed"]) == 2
        await eventually(lambda: len(handled) == 5, what="the replayed completions handled")
        assert await runtime.dead_letters.peek() == []
    finally:
        await runtime.stop()


async def test_another_delivery_limit_against_an_existing_broker_starts_and_applies(
    infra: Infrastructure, namespace: str
) -> None:
    async with running_service("materials", infra, namespace, max_delivery_attempts=1) as (
        runtime,
        _,
    ):
        queue_name = runtime.topology.queue_name("materials", "proposal.approved")
        dead_letter_queue = runtime.topology.dead_letter_queue("materials").name
    # the same queues, declared already; before policies this was PRECONDITION_FAILED
    async with running_service("materials", infra, namespace, max_delivery_attempts=2) as (
        runtime,
        _,
    ):
        assert runtime.started.is_set()
        assert runtime.topology.delivery_limit == broker_delivery_limit(2) == 8
    # RabbitMQ itself now dead-letters a message after 8 unsettled deliveries (a consumer
    # that crashes on it, played here by one that hands it back each time)
    connection = await aio_pika.connect(infra.amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.default_exchange.publish(
            aio_pika.Message(b"{}", message_id="poison", delivery_mode=2), routing_key=queue_name
        )
        queue = await channel.get_queue(queue_name)
        dead = await channel.get_queue(dead_letter_queue)
        deliveries = 0
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            message = await queue.get(fail=False)
            if message is not None:
                deliveries += 1
                await message.reject(requeue=True)
                continue
            letter = await dead.get(fail=False)
            if letter is not None:
                assert letter.message_id == "poison"
                assert (letter.headers or {}).get("x-first-death-reason") == "delivery_limit"
                await letter.ack()
                break
            await asyncio.sleep(0.05)
        assert deliveries == 8 + 1


async def test_a_queue_left_with_the_old_queue_arguments_is_named_with_what_to_do(
    infra: Infrastructure, namespace: str
) -> None:
    runtime = build_runtime(_settings(infra, namespace), "materials", [])
    runtime.consumers.on(WorkStartedV2, _ignore)
    old = runtime.topology.queue_name("materials", "work.started")
    connection = await aio_pika.connect(infra.amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue(
            old, durable=True, arguments={"x-queue-type": "quorum", "x-delivery-limit": 20}
        )
    with pytest.raises(QueueArgumentsConflict) as refused:
        await runtime._start_broker()
    said = str(refused.value)
    assert "inequivalent arg 'x-delivery-limit'" in said
    assert "delete it once" in said and "rabbitmqctl delete_queue" in said
    await runtime.mongo_client.close()


async def _ignore(event: ReceivedEvent[WorkStartedV2], uow: UnitOfWork) -> None:
    return None


async def test_one_handler_takes_version_1_and_version_2_of_an_event(
    infra: Infrastructure, namespace: str
) -> None:
    async def on_drill(event: ReceivedEvent[DrillReportedV2], uow: UnitOfWork) -> None:
        drill: DrillReportedV2 = event.data  # typed: no isinstance, no cast
        document = {"sent_as": event.envelope.version, **drill.model_dump()}
        await uow.db["drills"].insert_one(document, session=uow.session)

    runtime = build_runtime(_settings(infra, namespace), "materials", [])
    runtime.consumers.on(DrillReportedV2, on_drill)
    await runtime.start()
    try:
        old = new_envelope(
            DrillReportedV1(note="smoke"), producer="city-finance", correlation_id="1"
        )
        new = new_envelope(
            DrillReportedV2(note="fire", severity=4), producer="city-finance", correlation_id="2"
        )
        # a v1 that v2 cannot express: dead-lettered with the reason, not retried
        lost = new_envelope(DrillReportedV1(note=""), producer="city-finance", correlation_id="3")
        await publish_envelopes(infra, namespace, [old, new, lost])
        await eventually_async(lambda: runtime.db["drills"].count_documents({}), 2, what="both")
        found = await runtime.db["drills"].find({}, {"_id": 0}).sort("sent_as", 1).to_list()
        assert found == [
            {"sent_as": 1, "note": "smoke", "severity": 1},
            {"sent_as": 2, "note": "fire", "severity": 4},
        ]
        (letter,) = await dead_letters_eventually(runtime, 1)
        assert letter.message_id == str(lost.event_id)
        assert letter.reason.startswith("cannot upcast drill.reported v1 to v2")
    finally:
        await runtime.stop()


def test_headers_of_earlier_rounds_are_not_replayed() -> None:
    from shared.messaging.dead_letters import _INTERNAL_HEADERS

    assert {headers.FAILED_ATTEMPTS, headers.LAST_ERROR, "x-death"} <= _INTERNAL_HEADERS
