"""The notifications service's bounded lists and caps, against real MongoDB and RabbitMQ:
the feed and the directory answer one page at a time (counted in MongoDB), and webhook
endpoints and follows stop at their caps with a 409 that says why.

Where a cap needs hundreds of documents, they are written straight to the service's
database (what HTTP would have written); the refusal itself always comes over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest_asyncio

from services.notifications.adapters.endpoints import Endpoints
from services.notifications.adapters.feed import Feed, FeedItem
from services.notifications.domain.webhooks import Endpoint, EndpointSecret
from services.notifications.service.people import MAX_FOLLOWS
from services.notifications.service.webhooks import MAX_ENDPOINTS, MAX_ENDPOINTS_PER_OWNER
from shared.clock import utc_now
from shared.identity import Actor, Role
from shared.runtime import ServiceRuntime
from shared.web.pages import MAX_PAGE_SIZE
from tests.support.infrastructure import Infrastructure
from tests.support.notifications import (
    KELURAHAN_OFFICER_AREA,
    channel_settings,
    journey_event,
    notifications_api,
    register,
)
from tests.support.people import CITY_OFFICER, RT_HEAD, auth
from tests.support.probe import until_async
from tests.support.runtime import publish_envelope

Service = tuple[ServiceRuntime, httpx.AsyncClient]
SITI = Actor(id="warga-siti", role=Role.RESIDENT, kecamatan="Telanaipura")
OTHER_CITY_OFFICER = Actor(id="city-officer-rina", role=Role.CITY_OFFICER)
HOOK = {"url": "https://localhost/hook", "events": ["proposal.*"]}


@pytest_asyncio.fixture(loop_scope="session")
async def service(infra: Infrastructure, namespace: str) -> AsyncIterator[Service]:
    async with notifications_api(infra, namespace, **channel_settings()) as found:
        yield found


async def feed_of(
    runtime: ServiceRuntime, recipient_id: str, proposals: list[uuid.UUID]
) -> list[FeedItem]:
    """One feed item per proposal for `recipient_id`, a minute apart (the last newest)."""
    start = utc_now() - timedelta(hours=1)
    items = [
        FeedItem(
            id=uuid.uuid4(),
            recipient_id=recipient_id,
            channel="in_app",
            event_id=uuid.uuid4(),
            event_type="proposal.submitted",
            proposal_id=proposal_id,
            title=f"Usulan {n}",
            body="",
            created_at=start + timedelta(minutes=n),
        )
        for n, proposal_id in enumerate(proposals)
    ]
    await Feed(runtime.db).add_all(items)
    return items


async def test_the_feed_answers_page_by_page_newest_first(service: Service) -> None:
    runtime, api = service
    mawar, melati = uuid.uuid4(), uuid.uuid4()
    items = await feed_of(runtime, RT_HEAD.id, [mawar, melati] * 3 + [mawar])
    newest_first = [str(i.id) for i in reversed(items)]

    pages = [
        (
            await api.get(
                "/notifications", params={"page": n, "page_size": 3}, headers=auth(RT_HEAD)
            )
        ).json()
        for n in (1, 2, 3, 4)
    ]
    assert [p["total"] for p in pages] == [7] * 4
    assert [(p["page"], p["page_size"]) for p in pages] == [(1, 3), (2, 3), (3, 3), (4, 3)]
    assert [len(p["items"]) for p in pages] == [3, 3, 1, 0]
    assert [i["id"] for p in pages for i in p["items"]] == newest_first

    melati_only = await api.get(
        "/notifications",
        params={"proposal_id": str(melati), "page_size": 2},
        headers=auth(RT_HEAD),
    )
    assert melati_only.json()["total"] == 3  # counted with the filter, not the whole feed
    assert {i["proposal_id"] for i in melati_only.json()["items"]} == {str(melati)}
    assert len(melati_only.json()["items"]) == 2


async def test_a_feed_page_is_never_larger_than_the_most_a_page_holds(service: Service) -> None:
    _, api = service
    too_big = await api.get(
        "/notifications", params={"page_size": MAX_PAGE_SIZE + 1}, headers=auth(RT_HEAD)
    )
    assert too_big.status_code == 422
    (error,) = too_big.json()["errors"]
    assert error["loc"] == ["query", "page_size"]
    assert str(MAX_PAGE_SIZE) in error["msg"]


async def test_the_directory_answers_page_by_page_by_id(service: Service) -> None:
    _, api = service
    officers = [f"lurah-{n}" for n in range(5)]
    for person_id in officers:
        await register(api, person_id, **KELURAHAN_OFFICER_AREA)
    await register(api, "warga-x", role="resident", kecamatan="Telanaipura")

    def listed(page: int) -> dict[str, str | int]:
        return {"role": "kelurahan_officer", "page": page, "page_size": 2}

    pages = [
        (await api.get("/people", params=listed(n), headers=auth(CITY_OFFICER))).json()
        for n in (1, 2, 3)
    ]
    assert [p["total"] for p in pages] == [5, 5, 5]  # the resident is not counted
    assert [p["id"] for page in pages for p in page["items"]] == officers
    too_big = await api.get(
        "/people", params={"page_size": MAX_PAGE_SIZE + 1}, headers=auth(CITY_OFFICER)
    )
    assert too_big.status_code == 422


async def test_an_officer_registers_at_most_so_many_endpoints(service: Service) -> None:
    runtime, api = service
    for _ in range(MAX_ENDPOINTS_PER_OWNER):
        created = await api.post("/webhooks", json=HOOK, headers=auth(CITY_OFFICER))
        assert created.status_code == 201, created.text

    refused = await api.post("/webhooks", json=HOOK, headers=auth(CITY_OFFICER))

    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        f"you registered {MAX_ENDPOINTS_PER_OWNER} webhook endpoints, the most one person "
        "may; remove one you no longer use"
    )
    stored = await runtime.db["webhook_endpoints"].count_documents({"created_by": CITY_OFFICER.id})
    assert stored == MAX_ENDPOINTS_PER_OWNER
    # the cap is per officer: another one still may
    other = await api.post("/webhooks", json=HOOK, headers=auth(OTHER_CITY_OFFICER))
    assert other.status_code == 201, other.text
    # and removing one makes room again
    first = (await api.get("/webhooks", headers=auth(CITY_OFFICER))).json()["items"][0]
    await api.delete(f"/webhooks/{first['id']}", headers=auth(CITY_OFFICER))
    again = await api.post("/webhooks", json=HOOK, headers=auth(CITY_OFFICER))
    assert again.status_code == 201, again.text


async def test_no_more_endpoints_than_the_most_there_may_be(service: Service) -> None:
    runtime, api = service
    now = utc_now()
    endpoints = Endpoints(runtime.db)
    for n in range(MAX_ENDPOINTS):  # each by another officer: no one reaches their own cap
        await endpoints.save(
            Endpoint(
                id=uuid.uuid4(),
                url=f"https://localhost/hook/{n}",
                events=("proposal.*",),
                secret=EndpointSecret(sealed="never used: no event is published here", hint="0000"),
                enabled=False,
                created_by=f"city-officer-{n}",
                created_at=now,
                updated_at=now,
            )
        )

    refused = await api.post("/webhooks", json=HOOK, headers=auth(CITY_OFFICER))

    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        f"{MAX_ENDPOINTS} webhook endpoints are registered, the most there may be"
    )
    assert await runtime.db["webhook_endpoints"].count_documents({}) == MAX_ENDPOINTS
    listed = await api.get(
        "/webhooks", params={"page_size": MAX_PAGE_SIZE}, headers=auth(CITY_OFFICER)
    )
    assert listed.json()["total"] == MAX_ENDPOINTS


async def test_a_person_follows_at_most_so_many_proposals(
    service: Service, infra: Infrastructure, namespace: str
) -> None:
    runtime, api = service
    proposal_id = uuid.uuid4()
    await publish_envelope(infra, namespace, journey_event("proposal.submitted", proposal_id))
    await until_async(
        lambda: runtime.db["known_proposals"].count_documents({"_id": str(proposal_id)}),
        lambda n: n == 1,
        what="the proposal to be known",
    )
    followed = [uuid.uuid4() for _ in range(MAX_FOLLOWS)]
    since = utc_now()
    await runtime.db["follows"].insert_many(
        [
            {"_id": f"{p}:{SITI.id}", "proposal_id": p, "person_id": SITI.id, "since": since}
            for p in followed
        ]
    )

    refused = await api.put(f"/following/{proposal_id}", headers=auth(SITI))

    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        f"you follow {MAX_FOLLOWS} proposals, the most one person may; stop following one first"
    )
    assert await runtime.db["follows"].count_documents({"proposal_id": proposal_id}) == 0
    # one fewer, and there is room for it
    assert (await api.delete(f"/following/{followed[0]}", headers=auth(SITI))).status_code == 200
    accepted = await api.put(f"/following/{proposal_id}", headers=auth(SITI))
    assert accepted.status_code == 200, accepted.text
    assert await runtime.db["follows"].count_documents({"person_id": SITI.id}) == MAX_FOLLOWS
