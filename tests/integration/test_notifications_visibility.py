"""Authorize before revealing state, in the notifications service: someone who may not
see another person's delivery, directory entry or feed item, or a webhook endpoint,
learns nothing of it — the answer is the one an unknown id gets (404 where the refusal
depends on the thing, the same 403 for every id where it depends on the role alone),
never a 409 or a 403 that names it. Operators (city officers) see all. Against the real
notifications service, MongoDB and RabbitMQ."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from services.notifications.domain.deliveries import NotificationDelivery
from shared.identity import Actor, Role
from shared.runtime import ServiceRuntime
from tests.support.infrastructure import Infrastructure
from tests.support.notifications import (
    RT_HEAD_ENTRY,
    channel_settings,
    deliveries_of,
    journey_event,
    notifications_api,
    preferences,
    register,
)
from tests.support.people import CITY_OFFICER, RT_HEAD, auth
from tests.support.probe import until_async
from tests.support.runtime import publish_envelope

SITI = Actor(id="warga-siti", role=Role.RESIDENT, kecamatan="Telanaipura")
# Not an operator, yet an officer: being staff is not enough to see the system's state.
STAFF = Actor(id="gudang-dedi", role=Role.WAREHOUSE_OFFICER)
NON_OPERATORS = [SITI, RT_HEAD, STAFF]
Service = tuple[ServiceRuntime, httpx.AsyncClient]


@pytest_asyncio.fixture(loop_scope="session")
async def service(infra: Infrastructure, namespace: str) -> AsyncIterator[Service]:
    async with notifications_api(infra, namespace, **channel_settings()) as found:
        yield found


async def rt_heads_delivery(
    service: Service, infra: Infrastructure, namespace: str
) -> NotificationDelivery:
    """An e-mail to the RT head, waiting (no SMTP server in this test)."""
    runtime, api = service
    await register(api, RT_HEAD.id, **RT_HEAD_ENTRY, preferences=preferences("email", "in_app"))
    validated = journey_event("work.validated", uuid.uuid4())
    await publish_envelope(infra, namespace, validated)
    rows: list[NotificationDelivery] = await until_async(
        lambda: deliveries_of(runtime, event_id=validated.event_id, channel="email"),
        lambda found: len(found) == 1,
        what="the e-mail delivery",
    )
    return rows[0]


def answer(response: httpx.Response) -> tuple[int, object]:
    return response.status_code, response.json()


async def test_someone_elses_delivery_is_as_unknown_as_one_that_never_was(
    service: Service, infra: Infrastructure, namespace: str
) -> None:
    _, api = service
    row, unknown = await rt_heads_delivery(service, infra, namespace), uuid.uuid4()
    for outsider in (SITI, STAFF):
        theirs = await api.get(f"/deliveries/{row.id}", headers=auth(outsider))
        assert answer(theirs) == (404, {"detail": f"no delivery {row.id}"}), outsider.id
        never = await api.get(f"/deliveries/{unknown}", headers=auth(outsider))
        assert answer(never) == (404, {"detail": f"no delivery {unknown}"})
        # retrying is for operators: the same refusal for any id, naming nothing
        retry = await api.post(f"/deliveries/{row.id}/retry", headers=auth(outsider))
        retry_unknown = await api.post(f"/deliveries/{unknown}/retry", headers=auth(outsider))
        assert retry.status_code == 403
        assert answer(retry) == answer(retry_unknown)
        assert "pending" not in retry.text
    # the owner and the operators see it; only operators learn its state from a retry
    for reader in (RT_HEAD, CITY_OFFICER):
        seen = await api.get(f"/deliveries/{row.id}", headers=auth(reader))
        assert seen.status_code == 200 and seen.json()["status"] == "pending", reader.id
    conflict = await api.post(f"/deliveries/{row.id}/retry", headers=auth(CITY_OFFICER))
    assert conflict.status_code == 409 and "pending" in conflict.json()["detail"]
    missing = await api.post(f"/deliveries/{unknown}/retry", headers=auth(CITY_OFFICER))
    assert answer(missing) == (404, {"detail": f"no delivery {unknown}"})


async def test_a_person_cannot_search_someone_elses_deliveries(
    service: Service, infra: Infrastructure, namespace: str
) -> None:
    _, api = service
    row = await rt_heads_delivery(service, infra, namespace)
    by_event = await api.get(f"/deliveries?event_id={row.event_id}", headers=auth(SITI))
    assert answer(by_event) == (200, {"items": [], "total": 0, "page": 1, "page_size": 50})
    peeking = await api.get(f"/deliveries?recipient_id={RT_HEAD.id}", headers=auth(SITI))
    nobody = await api.get("/deliveries?recipient_id=nobody-at-all", headers=auth(SITI))
    assert peeking.status_code == 403 and answer(peeking) == answer(nobody)


@pytest.mark.parametrize("outsider", NON_OPERATORS, ids=lambda a: a.id)
async def test_a_webhook_endpoint_tells_nothing_to_someone_not_an_operator(
    service: Service, outsider: Actor
) -> None:
    _, api = service
    created = await api.post(
        "/webhooks",
        json={"url": "https://localhost/hook", "events": ["work.*"]},
        headers=auth(CITY_OFFICER),
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()["endpoint"]
    event_id = uuid.uuid4()
    routes = [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/rotate-secret"),
        ("POST", "/enable"),
        ("POST", "/disable"),
        ("GET", "/deliveries"),
        ("POST", f"/deliveries/{event_id}/redeliver"),
    ]
    for method, tail in routes:
        bodies = {"PATCH": {"description": "mine now"}}
        responses = [
            await api.request(
                method,
                f"/webhooks/{which}{tail}",
                json=bodies.get(method),
                headers=auth(outsider),
            )
            for which in (endpoint["id"], uuid.uuid4())
        ]
        existing, unknown = responses
        assert existing.status_code == 403, (method, tail, existing.text)
        # word for word what an endpoint that does not exist gets
        assert answer(existing) == answer(unknown), (method, tail)
        assert endpoint["id"] not in existing.text
    # and nothing was done to it
    after = await api.get(f"/webhooks/{endpoint['id']}", headers=auth(CITY_OFFICER))
    assert after.status_code == 200
    assert (after.json()["enabled"], after.json()["description"]) == (True, "")
    assert after.json()["secret_hint"] == endpoint["secret_hint"]


async def test_someone_elses_entry_and_feed_tell_nothing(
    service: Service, infra: Infrastructure, namespace: str
) -> None:
    _, api = service
    await rt_heads_delivery(service, infra, namespace)  # an entry and a feed item for Budi
    feed = (await api.get("/notifications", headers=auth(RT_HEAD))).json()["items"]
    assert feed, "the RT head has a notification"
    entry, item = f"/people/{RT_HEAD.id}", feed[0]["id"]
    pairs = [
        ("GET", entry, "/people/nobody-at-all"),
        ("DELETE", entry, "/people/nobody-at-all"),
        ("GET", f"/notifications?recipient_id={RT_HEAD.id}", "/notifications?recipient_id=x"),
        ("POST", f"/notifications/{item}/read", f"/notifications/{uuid.uuid4()}/read"),
    ]
    for method, existing_path, unknown_path in pairs:
        existing = await api.request(method, existing_path, headers=auth(SITI))
        unknown = await api.request(method, unknown_path, headers=auth(SITI))
        assert answer(existing) == answer(unknown), (method, existing_path, existing.text)
        assert RT_HEAD_ENTRY["email"] not in existing.text
    # the refusals changed nothing: the entry is there, the item still unread
    assert (await api.get(entry, headers=auth(CITY_OFFICER))).status_code == 200
    unread = await api.get("/notifications/unread-count", headers=auth(RT_HEAD))
    assert unread.json()["unread"] >= 1
    still = (await api.get("/notifications", headers=auth(RT_HEAD))).json()["items"]
    assert next(i for i in still if i["id"] == item)["read_at"] is None
