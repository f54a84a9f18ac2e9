"""The transparency service against real RabbitMQ and MongoDB: events in, figures out —
duplicates and any order giving the same figures — the page and downloads without
personal data, and a rebuild from the event history giving the same figures again."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aio_pika
import httpx
import pytest_asyncio

from services.transparency.service.rebuild import Rebuild
from shared.contracts import CATALOGUE, Envelope, new_envelope
from shared.contracts.types import Contract
from shared.messaging.topology import Topology
from shared.runtime import ServiceRuntime
from tests.support.events import PROPOSER, budget_allocated
from tests.support.infrastructure import Infrastructure
from tests.support.probe import until_async
from tests.support.runtime import asgi_client, publish_envelopes, running_service
from tests.unit.test_transparency_figures import at, road_story

MILLION = 1_000_000


def envelope(data: Contract, producer: str, occurred_at: datetime) -> Envelope:
    made = new_envelope(data, producer=producer, correlation_id="transparency-test")
    return made.model_copy(update={"occurred_at": occurred_at})


def road(proposal_id: uuid.UUID) -> list[Envelope]:
    """The road's story as its producers publish it."""
    return [
        envelope(data, CATALOGUE.newest(kind).producer, at(day))
        for kind, day, data in road_story(proposal_id)
    ]


def ceilings() -> list[Envelope]:
    """Telanaipura's ceiling set, then corrected a day later."""
    first = budget_allocated(ceiling_idr=400 * MILLION, reference="DPA-1")
    correction = budget_allocated(ceiling_idr=500 * MILLION, reference="DPA-2")
    return [envelope(first, "city-finance", at(0)), envelope(correction, "city-finance", at(1))]


async def history_stream(infra: Infrastructure, namespace: str) -> str:
    """The namespace's event history: a stream bound to the events exchange with `#`
    (the broker set-up step makes it in production)."""
    topology = Topology(namespace)
    name = topology.history_stream.name
    connection = await aio_pika.connect(infra.amqp_url)
    async with connection:
        channel = await connection.channel()
        events = await channel.declare_exchange(
            topology.events_exchange.name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        stream = await channel.declare_queue(
            name, durable=True, arguments={"x-queue-type": "stream"}
        )
        await stream.bind(events, routing_key="#")
    return name


@pytest_asyncio.fixture(loop_scope="session")
async def page(
    infra: Infrastructure, namespace: str
) -> AsyncIterator[tuple[ServiceRuntime, httpx.AsyncClient, str]]:
    stream = await history_stream(infra, namespace)
    async with (
        running_service("transparency", infra, namespace) as (runtime, app),
        asgi_client(app) as client,
    ):
        yield runtime, client, stream


async def figures(client: httpx.AsyncClient) -> dict[str, Any]:
    found: dict[str, Any] = (await client.get("/data/figures.json", params={"year": 2026})).json()
    return found


def telanaipura(found: dict[str, Any]) -> dict[str, Any]:
    return next(k for k in found["kecamatan"] if k["kecamatan"] == "Telanaipura")


async def test_events_in_any_order_and_twice_give_the_figures_and_a_rebuild_gives_them_again(
    page: tuple[ServiceRuntime, httpx.AsyncClient, str], infra: Infrastructure, namespace: str
) -> None:
    runtime, client, stream = page
    first, second = road(uuid.uuid4()), road(uuid.uuid4())
    unpublished = road(uuid.uuid4())[:1]  # submitted only: still with its RT
    # newest first, every event twice, the two roads interleaved, the ceilings reversed
    mixed = [*reversed(first), *second[::2], *reversed(ceilings()), *first, *second[1::2]]
    await publish_envelopes(infra, namespace, [*mixed, *second, *unpublished])

    db = runtime.db
    events = 2 * len(first) + len(unpublished)
    await until_async(
        lambda: db["facts"].count_documents({}), lambda n: n == events, what="every event"
    )
    await until_async(
        lambda: db["allocations"].count_documents({}), lambda n: n == 2, what="both ceilings"
    )
    # each view is derived in the transaction that stored its last fact: all final now
    settled = await figures(client)
    area = telanaipura(settled)
    assert area["jobs_validated"] == 2 and area["ceiling_idr"] == 500 * MILLION
    assert area["proposals"] == 2  # the unpublished one is not counted, nor shown
    assert area["approved_budget_idr"] == 300 * MILLION
    assert area["by_state"]["validated"] == 2
    assert (area["volunteers"], area["labour_days"]) == (70, 140.0)
    assert area["median_days_to_approval"] == 9.0
    assert area["median_days_to_completion"] == 21.0
    assert area["materials"] == [
        {"item": "cement", "unit": "bag", "bill": 986.0, "dispatched": 986.0, "delivered": 980.0}
    ]

    await check_the_pages(client, first, unpublished)

    # the rebuild drops the read model and reads the history stream from its start
    report = await Rebuild(
        transactions=runtime.transactions,
        amqp_url=infra.amqp_url,
        stream=stream,
        max_message_bytes=runtime.settings.max_message_bytes,
        idle_seconds=1.5,
    ).run()
    assert report.read == len(mixed) + len(second) + len(unpublished)
    assert report.refused == 0
    assert await figures(client) == settled


async def check_the_pages(
    client: httpx.AsyncClient, published: list[Envelope], unpublished: list[Envelope]
) -> None:
    proposal_id = published[0].data["proposal_id"]
    overview = await client.get("/")
    assert overview.status_code == 200 and '<html lang="id">' in overview.text
    assert "Rp 300.000.000" in overview.text and "Rp 500.000.000" in overview.text
    assert len(overview.content) < 100_000
    english = await client.get("/", params={"lang": "en"})
    assert '<html lang="en">' in english.text and "Rp 300,000,000" in english.text
    # the overview maps the kecamatan (one point, to its page), not each proposal
    assert 'data-kecamatan="Telanaipura"' in overview.text
    assert overview.text.count("<circle") == 1
    kecamatan = await client.get("/kecamatan/Telanaipura")
    assert kecamatan.status_code == 200 and f"/usulan/{proposal_id}" in kecamatan.text
    # its list by pages: past the last, the last; none before the first
    later = await client.get("/kecamatan/Telanaipura", params={"page": 5})
    assert later.status_code == 200 and f"/usulan/{proposal_id}" in later.text
    assert (await client.get("/kecamatan/Telanaipura", params={"page": 0})).status_code == 422
    one = await client.get(f"/usulan/{proposal_id}")
    assert one.status_code == 200 and "Divalidasi dan diserahkan" in one.text
    assert "https://photos.example.org/day.jpg" in one.text
    hidden = unpublished[0].data["proposal_id"]
    assert (await client.get(f"/usulan/{hidden}")).status_code == 404
    downloads = [
        (await client.get(path, params={"year": 2026})).text
        for path in ("/data/proposals.csv", "/data/proposals.json", "/data/figures.csv")
    ]
    assert str(proposal_id) in downloads[0] and str(hidden) not in downloads[0]
    for text in [overview.text, one.text, *downloads]:
        assert PROPOSER not in text and "city-officer-sari" not in text
    assert (await client.get("/static/live.js")).status_code == 200
