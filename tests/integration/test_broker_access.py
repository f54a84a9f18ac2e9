"""Least privilege on the real broker, as deploy/broker/definitions.py grants it: each
refusal proven by RabbitMQ itself, and the consumers' check of who published.

Every test loads the definitions for its own namespace into its own vhost and runs the
set-up step (`python -m services.broker_setup`) as the set-up user.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import aio_pika
import httpx
import pytest
import pytest_asyncio

from deploy.broker import definitions
from shared.contracts import Envelope, new_envelope
from shared.messaging.declarations import SETUP_COMMAND, TopologyMissing, declare_service
from shared.messaging.topology import Topology
from shared.runtime import ServiceRuntime
from tests.support.broker_access import LeastPrivilegeBroker, least_privilege_broker, refused_as
from tests.support.events import budget_allocated, material_fulfilled
from tests.support.infrastructure import Infrastructure
from tests.support.probe import dead_letters_eventually, until_async
from tests.support.runtime import asgi_client, running_service

MILLION = 1_000_000


@pytest_asyncio.fixture(loop_scope="session")
async def broker(infra: Infrastructure, namespace: str) -> AsyncIterator[LeastPrivilegeBroker]:
    async with least_privilege_broker(infra, namespace) as found:
        yield found


async def _publish(
    channel: aio_pika.abc.AbstractChannel,
    exchange: str,
    routing_key: str,
    body: bytes = b"{}",
    **properties: Any,
) -> None:
    found = await channel.get_exchange(exchange, ensure=False)
    await found.publish(
        aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, **properties),
        routing_key=routing_key,
    )


async def test_a_service_may_not_declare_delete_or_redeclare_anything(
    broker: LeastPrivilegeBroker,
) -> None:
    topology = Topology(broker.namespace)
    own_queue = topology.queue_name("proposals", "material.fulfilled")

    async def new_queue(channel: aio_pika.abc.AbstractChannel) -> None:
        await channel.declare_queue(f"{broker.namespace}.proposals.mine", durable=True)

    async def delete_own_queue(channel: aio_pika.abc.AbstractChannel) -> None:
        await channel.queue_delete(own_queue)

    async def redeclare_exchange(channel: aio_pika.abc.AbstractChannel) -> None:
        await channel.declare_exchange(topology.events_exchange.name, "topic", durable=True)

    for action in (new_queue, delete_own_queue, redeclare_exchange):
        assert "ACCESS_REFUSED" in await refused_as(broker, "proposals", action)
    # …while looking its own queue up (a passive declare) is allowed
    connection = await broker.connect("proposals")
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue(own_queue, passive=True)


async def test_a_service_publishes_only_its_own_event_types(broker: LeastPrivilegeBroker) -> None:
    events = Topology(broker.namespace).events_exchange.name
    connection = await broker.connect("proposals")
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await _publish(channel, events, "proposal.approved", user_id="proposals")

    async def forge_materials_event(channel: aio_pika.abc.AbstractChannel) -> None:
        await _publish(channel, events, "material.fulfilled", user_id="proposals")

    refusal = await refused_as(broker, "proposals", forge_materials_event)
    assert "ACCESS_REFUSED" in refusal and "material.fulfilled" in refusal


async def test_the_broker_refuses_a_user_id_that_is_not_the_publisher(
    broker: LeastPrivilegeBroker,
) -> None:
    events = Topology(broker.namespace).events_exchange.name
    connection = await broker.connect("materials")
    async with connection:  # materials may publish material.fulfilled as itself…
        channel = await connection.channel(publisher_confirms=True)
        await _publish(channel, events, "material.fulfilled", user_id="materials")

    async def claim_to_be_proposals(channel: aio_pika.abc.AbstractChannel) -> None:
        await _publish(channel, events, "material.fulfilled", user_id="proposals")

    refusal = await refused_as(broker, "materials", claim_to_be_proposals)  # …not as another
    assert "PRECONDITION_FAILED" in refusal and "user_id" in refusal


async def test_a_service_reads_only_its_own_queues_and_not_the_default_exchange(
    broker: LeastPrivilegeBroker,
) -> None:
    topology = Topology(broker.namespace)
    theirs = topology.queue_name("materials", "proposal.approved")

    async def read_materials_queue(channel: aio_pika.abc.AbstractChannel) -> None:
        queue = await channel.declare_queue(theirs, passive=True)
        await queue.get(no_ack=False, fail=False)

    async def write_any_queue(channel: aio_pika.abc.AbstractChannel) -> None:
        await channel.default_exchange.publish(aio_pika.Message(b"{}"), routing_key=theirs)

    assert "ACCESS_REFUSED" in await refused_as(broker, "proposals", read_materials_queue)
    assert "ACCESS_REFUSED" in await refused_as(broker, "proposals", write_any_queue)


async def test_the_citys_integration_user_reads_events_and_publishes_only_its_own(
    broker: LeastPrivilegeBroker,
) -> None:
    topology = Topology(broker.namespace)
    events = topology.events_exchange.name
    connection = await broker.connect(definitions.INTEGRATIONS)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        mine = await channel.declare_queue(
            f"{broker.namespace}.city.finance.approvals",
            durable=True,
            arguments={"x-queue-type": "quorum"},
        )
        await mine.bind(events, routing_key="proposal.approved")
        await _publish(channel, events, "budget.allocated", user_id=definitions.INTEGRATIONS)

    # a proposals event reaches the city's queue
    service = await broker.connect("proposals")
    async with service:
        channel = await service.channel(publisher_confirms=True)
        await _publish(channel, events, "proposal.approved", b'{"seen": 1}', user_id="proposals")
    connection = await broker.connect(definitions.INTEGRATIONS)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(
            f"{broker.namespace}.city.finance.approvals", passive=True
        )
        got = await until_async(lambda: queue.get(no_ack=True, fail=False), lambda m: m is not None)
        assert got is not None and got.body == b'{"seen": 1}'

    async def publish_an_approval(channel: aio_pika.abc.AbstractChannel) -> None:
        await _publish(channel, events, "proposal.approved", user_id=definitions.INTEGRATIONS)

    async def declare_a_service_queue(channel: aio_pika.abc.AbstractChannel) -> None:
        await channel.declare_queue(f"{broker.namespace}.proposals.sneaky", durable=True)

    async def read_a_service_queue(channel: aio_pika.abc.AbstractChannel) -> None:
        queue = await channel.declare_queue(
            topology.queue_name("proposals", "material.fulfilled"), passive=True
        )
        await queue.get(no_ack=False, fail=False)

    for action in (publish_an_approval, declare_a_service_queue, read_a_service_queue):
        assert "ACCESS_REFUSED" in await refused_as(broker, definitions.INTEGRATIONS, action)


async def test_a_verifying_service_names_the_set_up_step_when_it_has_not_run(
    infra: Infrastructure, namespace: str
) -> None:
    async with least_privilege_broker(infra, namespace, set_up_topology=False) as bare:
        from faststream.rabbit import RabbitBroker

        client = RabbitBroker(bare.url("proposals"))
        await client.connect()
        try:
            with pytest.raises(TopologyMissing) as missing:
                await declare_service(client, Topology(namespace, declares=False), "proposals", [])
        finally:
            await client.stop()
    assert SETUP_COMMAND in str(missing.value) and "NOT_FOUND" in str(missing.value)


@pytest_asyncio.fixture(loop_scope="session")
async def proposals(
    broker: LeastPrivilegeBroker, infra: Infrastructure, namespace: str
) -> AsyncIterator[tuple[ServiceRuntime, httpx.AsyncClient]]:
    """The proposals service as production runs it: its own broker user, topology verified."""
    async with (
        running_service(
            "proposals",
            replace(infra, amqp_url=broker.url("proposals")),
            namespace,
            broker_topology="verify",
        ) as (runtime, app),
        asgi_client(app, "http://proposals") as api,
    ):
        yield runtime, api


async def _send(broker: LeastPrivilegeBroker, user: str, envelope: Envelope) -> None:
    connection = await broker.connect(user)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await _publish(
            channel,
            Topology(broker.namespace).events_exchange.name,
            envelope.type,
            envelope.model_dump_json().encode(),
            message_id=str(envelope.event_id),
            user_id=user,
            content_type="application/json",
        )


async def _ceiling(api: httpx.AsyncClient, kecamatan: str) -> int | None:
    budgets = (await api.get("/budgets", params={"year": 2026})).json()
    return next((b["ceiling_idr"] for b in budgets if b["kecamatan"] == kecamatan), None)


async def test_a_service_takes_an_event_only_from_its_producers_broker_user(
    broker: LeastPrivilegeBroker, proposals: tuple[ServiceRuntime, httpx.AsyncClient]
) -> None:
    runtime, api = proposals
    # the administrator may publish anything, but is not the city's finance system
    forged = new_envelope(
        budget_allocated(kecamatan="Jelutung", ceiling_idr=900 * MILLION),
        producer="city-finance",
        correlation_id="forged",
    )
    await _send(broker, definitions.ADMIN, forged)
    # the materials service may publish material.fulfilled, but not claim another producer
    claims_proposals = new_envelope(
        material_fulfilled(uuid.uuid4()), producer="proposals", correlation_id="forged"
    )
    await _send(broker, "materials", claims_proposals)
    genuine = new_envelope(
        budget_allocated(kecamatan="Telanaipura", ceiling_idr=400 * MILLION),
        producer="city-finance",
        correlation_id="pagu",
    )
    await _send(broker, definitions.INTEGRATIONS, genuine)

    assert await until_async(lambda: _ceiling(api, "Telanaipura"), lambda c: c is not None) == (
        400 * MILLION
    )
    letters = {d.message_id: d for d in await dead_letters_eventually(runtime, 2)}
    assert letters[str(forged.event_id)].reason == (
        "untrusted: budget.allocated must be published by the broker user "
        "'city-integrations'; this one was published by 'berdaya-admin'"
    )
    assert letters[str(claims_proposals.event_id)].reason == (
        "untrusted: material.fulfilled is produced by materials, "
        "but this one says it comes from 'proposals'"
    )
    assert await _ceiling(api, "Jelutung") is None


async def test_a_replayed_dead_letter_keeps_the_publisher_the_broker_vouched_for(
    broker: LeastPrivilegeBroker, proposals: tuple[ServiceRuntime, httpx.AsyncClient]
) -> None:
    runtime, api = proposals
    forged = new_envelope(
        budget_allocated(kecamatan="Jelutung"), producer="city-finance", correlation_id="f"
    )
    refused = new_envelope(
        budget_allocated(kecamatan="Atlantis"), producer="city-finance", correlation_id="r"
    )
    await _send(broker, definitions.ADMIN, forged)
    await _send(broker, definitions.INTEGRATIONS, refused)
    await dead_letters_eventually(runtime, 2)

    for event in (forged, refused):
        assert await runtime.dead_letters.replay(str(event.event_id)) is not None
    letters = {d.message_id: d for d in await dead_letters_eventually(runtime, 2)}
    # replayed through the service's own replay exchange, each met the same verdict:
    # the forgery is still the administrator's, the refusal still a business one
    assert letters[str(forged.event_id)].reason.startswith("untrusted:")
    assert "'berdaya-admin'" in letters[str(forged.event_id)].reason
    assert "unknown kecamatan 'Atlantis'" in letters[str(refused.event_id)].reason
    assert await _ceiling(api, "Jelutung") is None
