"""The event history: a RabbitMQ stream bound to the events exchange with `#`, from which a
system that joins later reads every retained event — from the first, or from a time — with
plain AMQP 0-9-1 (aio-pika), as the city's integration user, under the broker definitions.

Every test loads the definitions for its own namespace into its own vhost (deleted after,
stream included) and, unless it says otherwise, runs the set-up step as the set-up user.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import aio_pika
import httpx
import pytest_asyncio

from deploy.broker import definitions
from services.broker_setup import set_up
from shared.contracts import Envelope, new_envelope
from shared.messaging.policies import management_endpoint
from shared.messaging.topology import DEFAULT_HISTORY_MAX_AGE, DEFAULT_HISTORY_MAX_BYTES, Topology
from tests.support.broker_access import (
    LeastPrivilegeBroker,
    least_privilege_broker,
    loaded_vhost,
    refused_as,
    set_up_settings,
)
from tests.support.events import budget_allocated, material_fulfilled, proposal_approved
from tests.support.history import publish_as, read_history
from tests.support.infrastructure import Infrastructure
from tests.support.probe import until_async

CITY = definitions.INTEGRATIONS


@pytest_asyncio.fixture(loop_scope="session")
async def broker(infra: Infrastructure, namespace: str) -> AsyncIterator[LeastPrivilegeBroker]:
    async with least_privilege_broker(infra, namespace) as found:
        yield found


def _approval() -> Envelope:
    return new_envelope(proposal_approved(), producer="proposals", correlation_id="history")


def _fulfilment() -> Envelope:
    return new_envelope(
        material_fulfilled(uuid.uuid4()), producer="materials", correlation_id="history"
    )


def _ids(envelopes: list[Envelope] | list[dict[str, Any]]) -> list[str]:
    return [str(e.event_id) if isinstance(e, Envelope) else e["event_id"] for e in envelopes]


async def test_a_late_system_reads_every_event_from_the_first(
    broker: LeastPrivilegeBroker,
) -> None:
    # published by three producers before the city's system ever connected
    first, second = _approval(), _fulfilment()
    pagu = new_envelope(budget_allocated(), producer="city-finance", correlation_id="history")
    await publish_as(broker, "proposals", first)
    await publish_as(broker, "materials", second)
    await publish_as(broker, CITY, pagu)

    read = await read_history(broker, CITY, "first", str(pagu.event_id))

    # all of them, in publishing order, each the envelope as published
    assert _ids(read) == _ids([first, second, pagu])
    assert read == [json.loads(e.model_dump_json()) for e in (first, second, pagu)]
    # reading does not consume: a second reader gets the same history
    assert _ids(await read_history(broker, CITY, "first", str(pagu.event_id))) == _ids(read)


async def test_a_system_reads_the_history_from_a_time(broker: LeastPrivilegeBroker) -> None:
    before = [_approval(), _fulfilment()]
    await publish_as(broker, "proposals", before[0])
    await publish_as(broker, "materials", before[1])
    # the offset is a time in whole seconds and the stream finds it by chunk: the next
    # whole second after what was published, and nothing published until it has passed
    since = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    await asyncio.sleep((since - datetime.now(UTC)).total_seconds() + 0.5)
    after = [_approval(), _approval(), _fulfilment()]
    await publish_as(broker, "proposals", *after[:2])
    await publish_as(broker, "materials", after[2])

    read = await read_history(broker, CITY, since, str(after[-1].event_id))

    assert _ids(read) == _ids(after)
    assert all(datetime.fromisoformat(e["occurred_at"]) >= since for e in read)


def _management(infra: Infrastructure) -> tuple[str, tuple[str, str]]:
    base, user, password, _ = management_endpoint(infra.amqp_url)
    return base, (user, password)


async def _stream_on_the_broker(
    infra: Infrastructure, broker: LeastPrivilegeBroker
) -> dict[str, Any]:
    """The stream as the management API shows it, once its statistics came in (a new
    queue is listed by name first, its type and policy a moment later)."""
    base, auth = _management(infra)
    name = Topology(broker.namespace).history_stream.name

    async def look() -> dict[str, Any]:
        async with httpx.AsyncClient(auth=auth, timeout=10) as api:
            answer = await api.get(f"{base}/api/queues/{quote(broker.vhost, safe='')}/{name}")
        answer.raise_for_status()
        found: dict[str, Any] = answer.json()
        return found

    shown: dict[str, Any] = await until_async(
        look, lambda s: "effective_policy_definition" in s, what="the stream's statistics"
    )
    return shown


async def test_the_history_is_a_stream_kept_by_age_and_size(
    infra: Infrastructure, broker: LeastPrivilegeBroker
) -> None:
    stream = await _stream_on_the_broker(infra, broker)

    assert stream["type"] == "stream" and stream["durable"] is True
    assert stream["arguments"] == {"x-queue-type": "stream"}  # nothing that can never change
    assert stream["policy"] == Topology(broker.namespace).history_policy.name
    assert stream["effective_policy_definition"] == {
        "max-age": DEFAULT_HISTORY_MAX_AGE,
        "max-length-bytes": DEFAULT_HISTORY_MAX_BYTES,
    }


async def test_other_retention_settings_change_the_policy_and_keep_the_history(
    infra: Infrastructure, broker: LeastPrivilegeBroker
) -> None:
    kept = _approval()
    await publish_as(broker, "proposals", kept)
    settings = set_up_settings(broker).model_copy(
        update={"history_max_age": "90D", "history_max_bytes": 200_000_000}
    )

    await set_up(settings)  # again, with other retention: no PRECONDITION_FAILED

    stream = await until_async(
        lambda: _stream_on_the_broker(infra, broker),
        lambda s: s["effective_policy_definition"].get("max-age") == "90D",
        what="the new retention on the stream",
    )
    assert stream["effective_policy_definition"] == {
        "max-age": "90D",
        "max-length-bytes": 200_000_000,
    }
    assert _ids(await read_history(broker, CITY, "first", str(kept.event_id))) == _ids([kept])


async def test_the_definitions_alone_keep_the_history_before_the_set_up_step_ran(
    infra: Infrastructure, namespace: str
) -> None:
    with loaded_vhost(infra, namespace) as bare:
        early = _approval()
        await publish_as(bare, "proposals", early)  # no service queue exists yet

        assert _ids(await read_history(bare, CITY, "first", str(early.event_id))) == _ids([early])
        stream = await _stream_on_the_broker(infra, bare)
        assert stream["effective_policy_definition"]["max-age"] == DEFAULT_HISTORY_MAX_AGE


async def test_the_city_reads_the_history_and_cannot_write_to_it_nor_change_it(
    broker: LeastPrivilegeBroker,
) -> None:
    topology = Topology(broker.namespace)
    history = topology.history_stream.name
    event = _approval()
    await publish_as(broker, "proposals", event)
    assert _ids(await read_history(broker, CITY, "first", str(event.event_id))) == _ids([event])

    async def write_straight_to_it(channel: aio_pika.abc.AbstractChannel) -> None:
        forged = aio_pika.Message(b"{}", user_id=CITY, message_id=str(uuid.uuid4()))
        await channel.default_exchange.publish(forged, routing_key=history)

    async def bind_it_to_more(channel: aio_pika.abc.AbstractChannel) -> None:
        stream = await channel.get_queue(history)
        await stream.bind(topology.events_exchange.name, routing_key="city.#")

    async def unbind_it(channel: aio_pika.abc.AbstractChannel) -> None:
        stream = await channel.get_queue(history)
        await stream.unbind(topology.events_exchange.name, routing_key="#")

    async def delete_it(channel: aio_pika.abc.AbstractChannel) -> None:
        await channel.queue_delete(history)

    async def redeclare_it_shorter(channel: aio_pika.abc.AbstractChannel) -> None:
        await channel.declare_queue(
            history, durable=True, arguments={"x-queue-type": "stream", "x-max-age": "1s"}
        )

    for action in (write_straight_to_it, bind_it_to_more, unbind_it, delete_it):
        assert "ACCESS_REFUSED" in await refused_as(broker, CITY, action), action.__name__
    refusal = await refused_as(broker, CITY, redeclare_it_shorter)
    assert "ACCESS_REFUSED" in refusal or "PRECONDITION_FAILED" in refusal
    # still there, still whole
    assert _ids(await read_history(broker, CITY, "first", str(event.event_id))) == _ids([event])


async def _ignore(_: aio_pika.abc.AbstractIncomingMessage) -> None:
    return None


async def test_only_the_services_that_rebuild_from_it_read_the_history(
    broker: LeastPrivilegeBroker,
) -> None:
    history = Topology(broker.namespace).history_stream.name

    async def read_it(channel: aio_pika.abc.AbstractChannel) -> None:
        await channel.set_qos(prefetch_count=1)
        stream = await channel.get_queue(history)
        await stream.consume(_ignore, arguments={"x-stream-offset": "first"})

    for service in definitions.SERVICES:
        if service in definitions.HISTORY_READERS:
            connection = await broker.connect(service)
            async with connection:
                await read_it(await connection.channel())  # not refused
        else:
            assert "ACCESS_REFUSED" in await refused_as(broker, service, read_it), service
    assert definitions.HISTORY_READERS == ("transparency",)
