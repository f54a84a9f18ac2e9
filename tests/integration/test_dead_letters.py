"""Bad messages are dead-lettered with their reason, failing handlers after a bounded
number of attempts; dead letters can be inspected and replayed."""

from __future__ import annotations

import json

from shared.contracts import ReceivedEvent, new_envelope
from shared.contracts.events import WorkStartedV2
from shared.messaging.dead_letters import ReplayFilter
from shared.runtime import build_runtime
from shared.storage.unit_of_work import UnitOfWork
from tests.support.events import proposal_approved, stock_received, work_started
from tests.support.infrastructure import Infrastructure
from tests.support.namespace import settings_for
from tests.support.probe import dead_letters_eventually, eventually, eventually_async
from tests.support.runtime import publish_envelope, publish_raw, running_service


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
