"""Safe webhooks against a real local receiver: Standard Webhooks signatures verified
with the `standardwebhooks` library through a secret rotation, secrets encrypted at
rest (those stored in clear before are sealed at start), addresses checked when
registering and again when delivering, errors that say "unreachable", and logs free
of URL tokens and secrets."""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from deploy.local.run import free_port
from services.notifications.adapters.secret_box import SecretBox
from services.notifications.domain.webhooks import verify
from services.notifications.settings import DEVELOPMENT_WEBHOOK_SECRET_KEY
from shared.clock import utc_now
from tests.support.infrastructure import Infrastructure
from tests.support.notifications import (
    channel_settings,
    deliveries_of,
    http_sink,
    journey_event,
    notifications_api,
)
from tests.support.people import CITY_OFFICER, auth
from tests.support.probe import eventually, until_async
from tests.support.runtime import publish_envelope

TOKEN = "query-token-5f1d0c"


async def register(api: httpx.AsyncClient, url: str, **more: Any) -> dict[str, Any]:
    response = await api.post(
        "/webhooks", json={"url": url, "events": ["work.*"], **more}, headers=auth(CITY_OFFICER)
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_deliveries_verify_with_standard_webhooks_through_a_secret_rotation(
    infra: Infrastructure, namespace: str
) -> None:
    proposal_id = uuid.uuid4()
    settings = channel_settings() | {"webhook_secret_overlap_seconds": 3.0}
    with http_sink() as receiver:
        async with notifications_api(infra, namespace, **settings) as (runtime, api):
            created = await register(api, f"{receiver.url}/hook")
            old, endpoint_id = created["secret"], created["endpoint"]["id"]
            stored = await runtime.db["webhook_endpoints"].find_one({"_id": endpoint_id})
            await publish_envelope(infra, namespace, journey_event("work.started", proposal_id))
            await eventually(lambda: len(receiver.requests) == 1, what="the first delivery")

            rotated = await api.post(
                f"/webhooks/{endpoint_id}/rotate-secret", headers=auth(CITY_OFFICER)
            )
            assert rotated.status_code == 200, rotated.text
            new = rotated.json()["secret"]
            await publish_envelope(infra, namespace, journey_event("work.completed", proposal_id))
            await eventually(lambda: len(receiver.requests) == 2, what="during the overlap")
            await asyncio.sleep(3.5)  # the old secret's overlap runs out
            await publish_envelope(infra, namespace, journey_event("work.validated", proposal_id))
            await eventually(lambda: len(receiver.requests) == 3, what="after the overlap")
            stored_after = await runtime.db["webhook_endpoints"].find_one({"_id": endpoint_id})

    # at rest: encrypted, and it is the secret (the development key opens it)
    assert stored is not None and stored_after is not None
    for secret, document in ((old, stored), (new, stored_after)):
        assert secret[6:] not in str(document) and secret not in str(document)
        assert (
            SecretBox(DEVELOPMENT_WEBHOOK_SECRET_KEY).open(document["secret"]["sealed"]) == secret
        )
    assert rotated.json()["endpoint"]["secret_hint"] == new[-4:] != old[-4:]
    assert len(rotated.json()["endpoint"]["previous_secrets_expire_at"]) == 1

    first, during, after = receiver.requests
    assert Webhook(old).verify(first.body, first.headers)["type"] == "work.started"
    assert len(during.headers["webhook-signature"].split(" ")) == 2  # both sign
    assert Webhook(new).verify(during.body, during.headers)
    assert Webhook(old).verify(during.body, during.headers)  # a receiver not switched yet
    assert Webhook(new).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, after.headers)  # expired
    assert first.headers["webhook-id"] == first.headers["X-Berdaya-Delivery-Id"]
    # the older header stays beside, signed with the current secret
    assert verify(
        new, after.headers["X-Berdaya-Timestamp"], after.body, after.headers["X-Berdaya-Signature"]
    )


async def test_a_secret_stored_in_clear_before_is_sealed_at_start_and_still_signs(
    infra: Infrastructure, namespace: str
) -> None:
    legacy, endpoint_id, now = "legacy-dashboard-secret-0001", str(uuid.uuid4()), utc_now()
    with http_sink() as receiver:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            infra.mongodb_url, uuidRepresentation="standard"
        )
        try:
            await client[f"{namespace}_notifications"]["webhook_endpoints"].insert_one(
                {
                    "_id": endpoint_id,
                    "id": uuid.UUID(endpoint_id),
                    "url": f"{receiver.url}/hook",
                    "events": ["work.*"],
                    "secret": legacy,  # as stored before encryption at rest
                    "description": "",
                    "enabled": True,
                    "disabled_reason": None,
                    "consecutive_failures": 0,
                    "retry_at": None,
                    "created_by": CITY_OFFICER.id,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        finally:
            await client.close()
        async with notifications_api(infra, namespace, **channel_settings()) as (runtime, api):
            stored = await runtime.db["webhook_endpoints"].find_one({"_id": endpoint_id})
            shown = (await api.get(f"/webhooks/{endpoint_id}", headers=auth(CITY_OFFICER))).json()
            await publish_envelope(infra, namespace, journey_event("work.started", uuid.uuid4()))
            await eventually(lambda: len(receiver.requests) == 1, what="the delivery")

    assert stored is not None and legacy not in str(stored)
    assert shown["secret_hint"] == legacy[-4:]
    (request,) = receiver.requests
    headers = request.headers
    # receivers keep verifying as before, or with Standard Webhooks and this secret
    assert verify(
        legacy, headers["X-Berdaya-Timestamp"], request.body, headers["X-Berdaya-Signature"]
    )
    assert Webhook("whsec_" + base64.b64encode(legacy.encode()).decode()).verify(
        request.body, headers
    )


async def test_registration_refuses_private_addresses_and_credentials(
    infra: Infrastructure, namespace: str
) -> None:
    strict = channel_settings() | {"webhook_allow_private_networks": False}
    async with notifications_api(infra, namespace, **strict) as (_, api):
        answers = {
            url: await api.post(
                "/webhooks", json={"url": url, "events": ["*"]}, headers=auth(CITY_OFFICER)
            )
            for url in (
                "http://localhost:8080/hook",
                "http://169.254.169.254/latest/meta-data/",
                "http://[::ffff:10.0.0.1]/hook",
                "https://user:pass@localhost/hook",
                "http://0.0.0.0/",
            )
        }
        changed = await api.patch(
            f"/webhooks/{uuid.uuid4()}",
            json={"url": "http://127.0.0.1/hook"},
            headers=auth(CITY_OFFICER),
        )
    details = {url: (r.status_code, r.json()["detail"]) for url, r in answers.items()}
    assert details["http://localhost:8080/hook"] == (
        422,
        "the endpoint's host resolves to a loopback address; webhooks go only to public ones",
    )
    assert "link-local" in details["http://169.254.169.254/latest/meta-data/"][1]
    assert "private" in details["http://[::ffff:10.0.0.1]/hook"][1]
    assert "credentials" in details["https://user:pass@localhost/hook"][1]
    assert "unspecified" in details["http://0.0.0.0/"][1]
    assert all(status == 422 for status, _ in details.values())
    assert changed.status_code == 422 and "loopback" in changed.json()["detail"]


async def test_the_address_is_checked_again_when_delivering(
    infra: Infrastructure, namespace: str
) -> None:
    """Registered while private networks were allowed; delivered by a service that
    refuses them: the check at delivery holds, the receiver hears nothing."""
    started = journey_event("work.started", uuid.uuid4())
    with http_sink() as receiver:
        async with notifications_api(infra, namespace, **channel_settings()) as (_, api):
            await register(api, f"http://localhost:{receiver.port}/hook")
        strict = channel_settings() | {"webhook_allow_private_networks": False}
        async with notifications_api(infra, namespace, **strict) as (runtime, _):
            await publish_envelope(infra, namespace, started)
            rows = await until_async(
                lambda: deliveries_of(runtime, channel="webhook"),
                lambda found: len(found) == 1 and found[0].last_error is not None,
                what="the refused attempt",
            )
    assert receiver.requests == []
    assert rows[0].last_error == (
        "the endpoint is unreachable: the endpoint's host resolves to a loopback address; "
        "webhooks go only to public ones"
    )


async def test_delivery_errors_say_unreachable_and_logs_hold_no_token_or_secret(
    infra: Infrastructure,
    namespace: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO)
    closed = free_port()  # nothing listens there
    with http_sink() as receiver:
        receiver.answer = lambda _: 500
        async with notifications_api(infra, namespace, **channel_settings()) as (runtime, api):
            nobody = await register(api, f"http://127.0.0.1:{closed}/hook?token={TOKEN}")
            failing = await register(api, f"{receiver.url}/hook?token={TOKEN}")
            await publish_envelope(infra, namespace, journey_event("work.started", uuid.uuid4()))
            rows = await until_async(
                lambda: deliveries_of(runtime, channel="webhook"),
                lambda found: len(found) == 2 and all(r.last_error for r in found),
                what="both attempts to fail",
            )
    by_endpoint = {r.recipient_id: r for r in rows}
    unreachable = by_endpoint[nobody["endpoint"]["id"]].last_error
    answered = by_endpoint[failing["endpoint"]["id"]].last_error
    assert unreachable == "the endpoint is unreachable"  # no address, no port, no error text
    assert answered == "the endpoint answered 500"  # the status, not the body
    logs = caplog.text + capsys.readouterr().out
    assert "HTTP Request: POST http://127.0.0.1:" in caplog.text  # httpx logged, redacted
    for secret in (TOKEN, nobody["secret"], failing["secret"], nobody["secret"][6:]):
        assert secret not in logs
    assert "?token" not in logs and "/hook" not in caplog.text
