"""A sender that dies between sending and recording: the retry carries the same
delivery id (idempotency key, Message-ID), and the delivery log says it may be a
duplicate — so a gateway or a city system drops the copy, and an e-mail copy is
visible."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from pymongo import AsyncMongoClient

from services.notifications.adapters.senders import GatewaySender, Sender, SmtpSender
from services.notifications.domain.deliveries import NotificationDelivery, SendFailure, Status
from services.notifications.domain.webhooks import Endpoint, verify
from services.notifications.service.dispatcher import Dispatcher
from services.notifications.settings import NotificationSettings
from shared.storage.documents import from_document
from shared.storage.mongo import Database
from shared.storage.unit_of_work import Transactions
from tests.support.infrastructure import Infrastructure
from tests.support.notifications import (
    RT_HEAD_ENTRY,
    channel_settings,
    deliveries_of,
    http_sink,
    journey_event,
    notifications_api,
    preferences,
    register,
    smtp_sink,
)
from tests.support.people import CITY_OFFICER, RT_HEAD, auth
from tests.support.probe import EventProbe, eventually, until_async
from tests.support.processes import ServiceProcess, start_service, wait_ready
from tests.support.runtime import publish_envelope

SECRET = "whsec_FKN82KIHmCs8H0djjyu7ieGDUrC7zYP85qNcgumifmE="
FAST_RECOVERY = {
    "BERDAYA_NOTIFICATION_LEASE_SECONDS": "5",
    "BERDAYA_NOTIFICATION_SEND_TIMEOUT_SECONDS": "4",
    "BERDAYA_NOTIFICATION_POLL_SECONDS": "0.1",
}


class Crashed(Exception):
    """Stands for the process dying right after a send."""


class CrashingDispatcher(Dispatcher):
    async def _record(
        self, claimed: Any, endpoint: Endpoint | None, failure: SendFailure | None
    ) -> None:
        raise Crashed("died before recording the outcome")


def dispatcher(
    db: Database, transactions: Transactions, sender: Sender, lease: float, kind: type[Dispatcher]
) -> Dispatcher:
    return kind(
        db,
        transactions,
        [sender],
        service="test",
        poll_seconds=0.1,
        lease_seconds=lease,
        send_timeout_seconds=2,
        retry_max_seconds=1,
        max_endpoint_failures=10,
    )


def possible_duplicates(channel: str) -> float:
    value = REGISTRY.get_sample_value(
        "berdaya_notification_possible_duplicates_total", {"channel": channel}
    )
    return value or 0.0


async def test_a_crash_after_sending_e_mail_and_sms_is_retried_with_the_same_ids_and_logged(
    infra: Infrastructure, namespace: str
) -> None:
    with smtp_sink() as smtp, http_sink() as gateway:
        channels = NotificationSettings(
            smtp_host="127.0.0.1", smtp_port=smtp.port, sms_gateway_url=f"{gateway.url}/send"
        )
        senders: list[Sender] = [SmtpSender(channels), GatewaySender(channels)]
        before = {c: possible_duplicates(c) for c in ("email", "sms")}
        # the service itself has no channel configured: only the dispatchers below send
        async with notifications_api(infra, namespace, **channel_settings()) as (runtime, api):
            await register(
                api, RT_HEAD.id, **RT_HEAD_ENTRY, preferences=preferences("email", "sms")
            )
            await publish_envelope(infra, namespace, journey_event("work.validated", uuid.uuid4()))
            await until_async(
                lambda: deliveries_of(runtime), lambda rows: len(rows) == 2, what="deliveries"
            )
            for sender in senders:
                dying = dispatcher(
                    runtime.db, runtime.transactions, sender, 0.5, CrashingDispatcher
                )
                with pytest.raises(Crashed):
                    await dying.dispatch_once(sender.channel)
                healthy = dispatcher(runtime.db, runtime.transactions, sender, 30, Dispatcher)
                await until_async(
                    lambda h=healthy, c=sender.channel: h.dispatch_once(c),  # type: ignore[misc]
                    lambda attempted: attempted == 1,
                    what="the lease to run out and another dispatcher to retry",
                )
            rows = {r.channel: r for r in await deliveries_of(runtime)}

    assert len(smtp.messages) == 2, "e-mail has no idempotency key: the copy went out"
    assert smtp.messages[0]["Message-ID"] == smtp.messages[1]["Message-ID"]
    assert smtp.messages[0]["Message-ID"] == f"<{rows['email'].id}@berdaya>"
    assert len(gateway.requests) == 2
    assert {r.headers["Idempotency-Key"] for r in gateway.requests} == {str(rows["sms"].id)}
    for channel, row in rows.items():
        assert row.status is Status.SENT and row.attempts == 2
        assert row.possible_duplicate is True
        assert [e.outcome for e in row.log][-2:] == ["possible_duplicate", "sent"]
        assert possible_duplicates(channel) == before[channel] + 1
    email_note = next(e.detail for e in rows["email"].log if e.outcome == "possible_duplicate")
    assert "e-mail has no idempotency key: the reader may get it twice" in email_note
    sms_note = next(e.detail for e in rows["sms"].log if e.outcome == "possible_duplicate")
    assert "the receiver can drop it by its idempotency key" in sms_note


async def test_a_service_killed_mid_webhook_resends_with_the_same_delivery_id_after_restart(
    infra: Infrastructure, namespace: str, tmp_path: Path
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        infra.mongodb_url, uuidRepresentation="standard", tz_aware=True
    )
    deliveries = client[f"{namespace}_notifications"]["deliveries"]
    started = journey_event("work.started", uuid.uuid4())
    service: ServiceProcess | None = None
    try:
        with http_sink() as receiver:
            receiver.delay = 3.0  # the first request is in flight when the service dies
            service = start_service("notifications", infra, namespace, tmp_path, **FAST_RECOVERY)
            await asyncio.to_thread(wait_ready, service)
            async with EventProbe(infra.amqp_url, namespace, ["notification.sent"]) as audit:
                async with httpx.AsyncClient(base_url=service.url, timeout=10) as api:
                    created = await api.post(
                        "/webhooks",
                        json={"url": receiver.url, "events": ["work.*"], "secret": SECRET},
                        headers=auth(CITY_OFFICER),
                    )
                    assert created.status_code == 201, created.text
                await publish_envelope(infra, namespace, started)
                await eventually(lambda: len(receiver.requests) == 1, what="the first attempt")
                service.kill()
                receiver.delay = 0.0

                service = start_service(
                    "notifications", infra, namespace, tmp_path, **FAST_RECOVERY
                )
                await asyncio.to_thread(wait_ready, service)
                await eventually(lambda: len(receiver.requests) == 2, within=30, what="retry")
                found = await until_async(
                    lambda: deliveries.find_one({"channel": "webhook"}),
                    lambda d: d is not None and d["status"] == "sent",
                    what="the delivery recorded as sent",
                )
                await audit.wait_for(lambda: webhook_sent(audit) >= 1, what="notification.sent")
                await asyncio.sleep(0.5)  # room for a second audit event to show up
    finally:
        if service is not None:
            service.stop()
        await client.close()

    row = from_document(NotificationDelivery, found)
    first, second = receiver.requests
    assert first.headers["X-Berdaya-Delivery-Id"] == second.headers["X-Berdaya-Delivery-Id"]
    assert second.headers["Idempotency-Key"] == str(row.id)
    for request in (first, second):
        headers = request.headers
        assert verify(
            SECRET, headers["X-Berdaya-Timestamp"], request.body, headers["X-Berdaya-Signature"]
        )
    assert row.possible_duplicate is True and row.attempts == 2
    assert [e.outcome for e in row.log] == ["possible_duplicate", "sent"]
    assert webhook_sent(audit) == 1


def webhook_sent(audit: EventProbe) -> int:
    return sum(json.loads(m.body)["data"]["channel"] == "webhook" for m in audit.messages)
