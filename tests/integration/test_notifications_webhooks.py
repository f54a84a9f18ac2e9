"""Outbound webhooks against a real local HTTP receiver: filtered, signed, retried with
backoff, disabled after failures in a row, re-enabled by an operator, logged and
redelivered on request."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest

from services.notifications.adapters.endpoints import Endpoints
from services.notifications.domain.deliveries import Status
from services.notifications.domain.webhooks import verify
from shared.identity import Actor, Role
from tests.support.infrastructure import Infrastructure
from tests.support.notifications import (
    HttpSink,
    channel_settings,
    deliveries_of,
    dispatcher_of,
    http_sink,
    journey_event,
    notifications_api,
)
from tests.support.people import CITY_OFFICER, auth
from tests.support.probe import eventually, until_async
from tests.support.runtime import publish_envelope, publish_envelopes

SECRET = "whsec_X4UnqUvwK2MnKBrmuTaBLuy84WHal0S5EONuBv7VyVg="


async def register_endpoint(
    api: httpx.AsyncClient, receiver: HttpSink, events: list[str]
) -> dict[str, Any]:
    response = await api.post(
        "/webhooks",
        json={"url": f"{receiver.url}/hook", "events": events, "secret": SECRET},
        headers=auth(CITY_OFFICER),
    )
    assert response.status_code == 201, response.text
    endpoint: dict[str, Any] = response.json()["endpoint"]
    return endpoint


async def test_a_subscriber_gets_the_events_its_filter_takes_signed(
    infra: Infrastructure, namespace: str
) -> None:
    proposal_id = uuid.uuid4()
    started = journey_event("work.started", proposal_id)
    verified = journey_event("proposal.verified", proposal_id)
    with http_sink() as receiver:
        async with notifications_api(infra, namespace, **channel_settings()) as (runtime, api):
            await register_endpoint(api, receiver, ["work.*"])
            await publish_envelopes(infra, namespace, [verified, started])
            await eventually(lambda: len(receiver.requests) == 1, what="the webhook")
            rows = await until_async(
                lambda: deliveries_of(runtime, channel="webhook"),
                lambda found: [r.status for r in found] == [Status.SENT],
                what="the delivery to be recorded",
            )

    (request,) = receiver.requests
    headers = request.headers
    assert request.path == "/hook"
    assert json.loads(request.body) == json.loads(started.model_dump_json())
    assert verify(
        SECRET, headers["X-Berdaya-Timestamp"], request.body, headers["X-Berdaya-Signature"]
    )
    assert headers["X-Berdaya-Event-Type"] == "work.started"
    assert headers["X-Berdaya-Event-Id"] == str(started.event_id)
    assert headers["X-Berdaya-Delivery-Id"] == headers["Idempotency-Key"] == str(rows[0].id)


async def test_a_failing_endpoint_is_disabled_then_an_operator_enables_it_and_nothing_is_lost(
    infra: Infrastructure, namespace: str
) -> None:
    proposal_id = uuid.uuid4()
    first = journey_event("work.started", proposal_id)
    while_disabled = journey_event("work.completed", proposal_id)
    settings = channel_settings() | {
        "webhook_max_consecutive_failures": 3,
        "notification_retry_max_seconds": 0.3,
    }
    with http_sink() as receiver:
        receiver.answer = lambda _: 500
        async with notifications_api(infra, namespace, **settings) as (runtime, api):
            endpoint = await register_endpoint(api, receiver, ["work.*"])
            path = f"/webhooks/{endpoint['id']}"
            await publish_envelope(infra, namespace, first)
            disabled = await until_async(
                lambda: get_json(api, path),
                lambda found: found["enabled"] is False,
                what="the endpoint to be disabled",
            )
            assert len(receiver.requests) == 3  # three attempts, then no more
            await publish_envelope(infra, namespace, while_disabled)
            await until_async(
                lambda: deliveries_of(runtime, event_id=while_disabled.event_id),
                lambda found: len(found) == 1,
                what="the delivery that must wait",
            )
            # a dispatcher looking now leaves the disabled endpoint alone
            assert await dispatcher_of(runtime).dispatch_once("webhook") == 0
            assert len(receiver.requests) == 3

            receiver.answer = lambda _: 200
            enabled = await api.post(f"{path}/enable", headers=auth(CITY_OFFICER))
            assert enabled.status_code == 200, enabled.text
            await eventually(
                lambda: (
                    sent_event_ids(receiver) >= {str(first.event_id), str(while_disabled.event_id)}
                ),
                what="both events after re-enabling",
            )
            log = await until_async(
                lambda: get_json(api, f"{path}/deliveries"),
                lambda found: {d["status"] for d in found["items"]} == {"sent"},
                what="the delivery log to show both sent",
            )

    assert disabled["disabled_reason"] == (
        "disabled after 3 failed deliveries in a row; fix the endpoint, then enable it again"
    )
    assert enabled.json()["enabled"] is True and enabled.json()["consecutive_failures"] == 0
    first_log = next(d for d in log["items"] if d["event_id"] == str(first.event_id))
    assert [e["outcome"] for e in first_log["log"]] == ["retrying", "retrying", "retrying", "sent"]
    assert "the endpoint answered 500" in first_log["log"][0]["detail"]
    assert [r.headers["X-Berdaya-Event-Id"] for r in receiver.requests].count(
        str(while_disabled.event_id)
    ) == 1  # sent once, when enabled again; never tried while disabled
    assert len(receiver.accepted) == 2


async def test_an_operator_redelivers_one_event_with_a_new_delivery_id(
    infra: Infrastructure, namespace: str
) -> None:
    started = journey_event("work.started", uuid.uuid4())
    with http_sink() as receiver:
        async with notifications_api(infra, namespace, **channel_settings()) as (_, api):
            endpoint = await register_endpoint(api, receiver, ["*"])
            await publish_envelope(infra, namespace, started)
            await eventually(lambda: len(receiver.requests) == 1, what="the first delivery")
            again = await api.post(
                f"/webhooks/{endpoint['id']}/deliveries/{started.event_id}/redeliver",
                headers=auth(CITY_OFFICER),
            )
            await eventually(lambda: len(receiver.requests) == 2, what="the redelivery")
            unknown = await api.post(
                f"/webhooks/{endpoint['id']}/deliveries/{uuid.uuid4()}/redeliver",
                headers=auth(CITY_OFFICER),
            )

    assert again.status_code == 202, again.text
    first, second = receiver.requests
    assert first.body == second.body
    assert first.headers["X-Berdaya-Delivery-Id"] != second.headers["X-Berdaya-Delivery-Id"]
    assert second.headers["X-Berdaya-Delivery-Id"] == again.json()["id"]
    assert again.json()["redelivery_of"] == first.headers["X-Berdaya-Delivery-Id"]
    assert unknown.status_code == 404
    assert "only events it was sent can be redelivered" in unknown.json()["detail"]


async def test_an_endpoint_registered_later_gets_only_later_events(
    infra: Infrastructure, namespace: str
) -> None:
    proposal_id = uuid.uuid4()
    with http_sink() as receiver:
        async with notifications_api(infra, namespace, **channel_settings()) as (runtime, api):
            await publish_envelope(infra, namespace, journey_event("work.started", proposal_id))
            await until_async(
                lambda: runtime.db["known_proposals"].count_documents({}),
                lambda n: n == 1,
                what="the first event to be handled",
            )
            await register_endpoint(api, receiver, ["work.*"])
            later = journey_event("work.completed", proposal_id)
            await publish_envelope(infra, namespace, later)
            await eventually(lambda: len(receiver.requests) >= 1, what="the later event")
    assert [r.headers["X-Berdaya-Event-Id"] for r in receiver.requests] == [str(later.event_id)]


def sent_event_ids(receiver: HttpSink) -> set[str]:
    return {r.headers["X-Berdaya-Event-Id"] for r in receiver.accepted}


async def get_json(api: httpx.AsyncClient, path: str) -> Any:
    response = await api.get(path, headers=auth(CITY_OFFICER))
    assert response.status_code == 200, response.text
    return response.json()


async def test_an_edit_never_re_enables_an_endpoint_disabled_while_it_was_made(
    infra: Infrastructure, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with http_sink() as receiver:
        async with notifications_api(infra, namespace, **channel_settings()) as (runtime, api):
            endpoint = await register_endpoint(api, receiver, ["work.*"])
            collection = runtime.db["webhook_endpoints"]
            original_get = Endpoints.get
            raced: list[bool] = []

            async def get_then_disable(self: Endpoints, endpoint_id: Any) -> Any:
                found = await original_get(self, endpoint_id)
                if not raced:  # the dispatcher disables it right after the edit read it
                    raced.append(True)
                    await collection.update_one(
                        {"_id": endpoint["id"]},
                        {"$set": {"enabled": False, "consecutive_failures": 5}},
                    )
                return found

            monkeypatch.setattr(Endpoints, "get", get_then_disable)
            changed = await api.patch(
                f"/webhooks/{endpoint['id']}",
                json={"url": f"{receiver.url}/other", "events": ["proposal.*"]},
                headers=auth(CITY_OFFICER),
            )
            monkeypatch.undo()
            stored = await collection.find_one({"_id": endpoint["id"]})

    assert changed.status_code == 200, changed.text
    assert stored is not None
    assert stored["url"].endswith("/other") and stored["events"] == ["proposal.*"]
    assert stored["enabled"] is False and stored["consecutive_failures"] == 5


async def test_a_row_of_an_endpoint_disabled_mid_batch_waits_unsent(
    infra: Infrastructure, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = journey_event("work.started", uuid.uuid4())

    async def held_before_the_disable(self: Endpoints, now: Any) -> set[str]:
        return set()  # the batch's snapshot, taken while the endpoint was still enabled

    with http_sink() as receiver:
        async with notifications_api(infra, namespace, **channel_settings()) as (runtime, api):
            endpoint = await register_endpoint(api, receiver, ["work.*"])
            disabled = await api.post(
                f"/webhooks/{endpoint['id']}/disable", headers=auth(CITY_OFFICER)
            )
            assert disabled.status_code == 200, disabled.text
            monkeypatch.setattr(Endpoints, "held", held_before_the_disable)
            await publish_envelope(infra, namespace, event)
            await until_async(
                lambda: deliveries_of(runtime, event_id=event.event_id),
                lambda found: len(found) == 1,
                what="the delivery",
            )
            await dispatcher_of(runtime).dispatch_once("webhook")
            rows = await deliveries_of(runtime, event_id=event.event_id)

    assert receiver.requests == []
    assert [(r.status, r.attempts) for r in rows] == [(Status.PENDING, 0)]


async def test_webhook_commands_retried_with_their_idempotency_key_act_once(
    infra: Infrastructure, namespace: str
) -> None:
    started = journey_event("work.started", uuid.uuid4())
    keyed = {**auth(CITY_OFFICER), "Idempotency-Key": "register-dashboard-1"}
    wanted = {"url": "http://127.0.0.1:9/hook", "events": ["*"], "secret": SECRET}
    with http_sink() as receiver:
        async with notifications_api(infra, namespace, **channel_settings()) as (runtime, api):
            registered = [await api.post("/webhooks", json=wanted, headers=keyed) for _ in "12"]
            endpoint = await register_endpoint(api, receiver, ["*"])
            await publish_envelope(infra, namespace, started)
            await eventually(lambda: len(receiver.requests) == 1, what="the first delivery")
            path = f"/webhooks/{endpoint['id']}/deliveries/{started.event_id}/redeliver"
            again = {**auth(CITY_OFFICER), "Idempotency-Key": "redeliver-1"}
            redelivered = [await api.post(path, headers=again) for _ in "12"]
            await eventually(lambda: len(receiver.requests) == 2, what="the redelivery")
            await asyncio.sleep(1.0)  # a second redelivery, if any, would be sent by now
            endpoints = await runtime.db["webhook_endpoints"].count_documents({})
            stored_answers = await runtime.db["idempotency_keys"].find({}, {"_id": 0}).to_list()

    assert [r.status_code for r in registered] == [201, 201]
    first, replay = registered[0].json(), registered[1].json()
    assert first["endpoint"] == replay["endpoint"]
    assert registered[1].headers["Idempotent-Replay"] == "true"
    # the secret is shown once: the stored answer a replay gets holds none, and says so
    assert first["secret"] == SECRET and first["note"] is None
    assert replay["secret"] is None
    assert "shown only in the first answer" in replay["note"]
    assert f"/webhooks/{first['endpoint']['id']}/rotate-secret" in replay["note"]
    assert len(stored_answers) == 2  # the registration's and the redelivery's
    assert not [a for a in stored_answers if SECRET[6:] in str(a)]
    assert endpoints == 2  # the keyed one once, and the receiver's own
    assert [r.status_code for r in redelivered] == [202, 202]
    assert redelivered[0].json()["id"] == redelivered[1].json()["id"]
    assert len(receiver.requests) == 2  # sent again once, not twice


OTHER_CITY_OFFICER = Actor(id="city-officer-budi", role=Role.CITY_OFFICER)


async def test_a_rotation_retried_with_its_idempotency_key_rotates_once_with_the_same_secret(
    infra: Infrastructure, namespace: str
) -> None:
    keyed = {**auth(CITY_OFFICER), "Idempotency-Key": "rotate-dashboard-1"}
    with http_sink() as receiver:
        async with notifications_api(infra, namespace, **channel_settings()) as (runtime, api):
            endpoint = await register_endpoint(api, receiver, ["*"])
            path = f"/webhooks/{endpoint['id']}"
            rotated = [await api.post(f"{path}/rotate-secret", headers=keyed) for _ in "12"]
            after_the_retry = await get_json(api, path)
            other_body = await api.post(
                f"{path}/rotate-secret", json={"secret": SECRET}, headers=keyed
            )
            # the key is the officer's own: another officer's same key is another request
            by_another = await api.post(
                f"{path}/rotate-secret",
                headers={**auth(OTHER_CITY_OFFICER), "Idempotency-Key": "rotate-dashboard-1"},
            )
            replay_after_another = await api.post(f"{path}/rotate-secret", headers=keyed)
            audit = await runtime.db["audit_log"].count_documents(
                {"action": "rotate_webhook_secret"}
            )
            stored_answers = await runtime.db["idempotency_keys"].find({}, {"_id": 0}).to_list()

    assert [r.status_code for r in rotated] == [200, 200], rotated[1].text
    first, replay = rotated[0].json(), rotated[1].json()
    assert "Idempotent-Replay" not in rotated[0].headers
    assert rotated[1].headers["Idempotent-Replay"] == "true"
    # one rotation: the secret of the first answer is the one that signs, shown again
    assert first["secret"] and first["secret"] != SECRET and first["note"] is None
    assert replay == first
    assert after_the_retry["secret_hint"] == first["secret"][-4:]
    assert len(after_the_retry["previous_secrets_expire_at"]) == 1
    # the same key with another body is refused, as on every keyed route
    assert other_body.status_code == 422
    assert "already used for a different request" in other_body.json()["detail"]
    # the first officer's secret is not shown to another one: theirs is a new rotation
    assert by_another.status_code == 200
    assert by_another.json()["secret"] not in (None, first["secret"])
    assert "Idempotent-Replay" not in by_another.headers
    # once replaced, the first rotation's secret is not shown again, and the replay says why
    assert replay_after_another.status_code == 200
    assert replay_after_another.headers["Idempotent-Replay"] == "true"
    replaced = replay_after_another.json()
    assert replaced["secret"] is None and replaced["endpoint"] == first["endpoint"]
    assert "no longer kept as it was" in replaced["note"]
    assert audit == 2  # the keyed rotation once, and the other officer's
    # the keys' records hold no secret, not even encrypted
    assert len(stored_answers) == 2  # one per officer's key
    for secret in (first["secret"], by_another.json()["secret"]):
        assert not [a for a in stored_answers if secret[6:] in str(a)]
    assert not [a for a in stored_answers if "gAAAA" in str(a)]  # a Fernet token
