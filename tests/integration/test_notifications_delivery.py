"""Events become e-mail (a real SMTP server), SMS (a real local HTTP gateway) and in-app
entries, once per recipient and channel, each audited on the wire."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from services.notifications.adapters.deliveries import Deliveries
from services.notifications.adapters.senders import Sender
from services.notifications.domain.deliveries import (
    DeliveryChannel,
    NotificationDelivery,
    OutcomeUnknown,
    Status,
)
from services.notifications.service.dispatcher import Dispatcher
from shared.contracts import Envelope
from shared.identity import Actor, Role
from shared.metrics import EVENTS_CONSUMED
from shared.runtime import ServiceRuntime
from tests.support.infrastructure import Infrastructure
from tests.support.notifications import (
    KELURAHAN_OFFICER_AREA,
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
from tests.support.people import RT_HEAD, auth
from tests.support.probe import EventProbe, eventually, until_async
from tests.support.runtime import publish_envelope, publish_envelopes

EVERYWHERE = preferences("email", "sms", "in_app")


def duplicates_of(event_type: str) -> float:
    value: float = EVENTS_CONSUMED.labels("notifications", event_type, "duplicate")._value.get()
    return value


async def test_a_step_reaches_the_rt_head_by_email_sms_and_in_app_once_each(
    infra: Infrastructure, namespace: str
) -> None:
    verified = journey_event("proposal.verified", uuid.uuid4())
    with smtp_sink() as smtp, http_sink() as gateway:
        async with (
            EventProbe(infra.amqp_url, namespace, ["notification.*"]) as audit,
            notifications_api(infra, namespace, **channel_settings(smtp, gateway)) as (
                runtime,
                api,
            ),
        ):
            await register(api, RT_HEAD.id, **RT_HEAD_ENTRY, preferences=EVERYWHERE)
            duplicates_before = duplicates_of("proposal.verified")
            await publish_envelope(infra, namespace, verified)
            await eventually(lambda: len(smtp.messages) == 1, what="the e-mail")
            await eventually(lambda: len(gateway.requests) == 1, what="the SMS")
            # the same event, redelivered three times, changes nothing
            await publish_envelopes(infra, namespace, [verified] * 3)
            await eventually(
                lambda: duplicates_of("proposal.verified") - duplicates_before == 3,
                what="the copies to be skipped",
            )
            # an outcome and its audit event commit together: once audited, recorded
            await audit.wait_for(lambda: len(audit.messages) == 3, what="three audit events")
            rows = await deliveries_of(runtime)
            feed = (await api.get("/notifications", headers=auth(RT_HEAD))).json()["items"]

    assert sorted(r.channel for r in rows) == ["email", "sms"]
    assert {r.status for r in rows} == {Status.SENT}
    assert len(smtp.messages) == 1 and len(gateway.requests) == 1
    assert [item["event_type"] for item in feed] == ["proposal.verified"]

    email = smtp.messages[0]
    by_channel = {r.channel: r for r in rows}
    assert email["To"] == "budi@example.id"
    assert email["Subject"] == "[Berdaya] Usulan diperiksa kelurahan"
    assert email["Message-ID"] == f"<{by_channel['email'].id}@berdaya>"
    text = email.get_content()
    assert "Kelurahan sudah memeriksa usulan RT 003, Simpang IV Sipin" in text
    assert "Belum ada yang perlu Anda lakukan." in text

    sms = gateway.requests[0]
    body = json.loads(sms.body)
    assert sms.path == "/send"
    assert sms.headers["Authorization"] == "Bearer gateway-token"
    assert sms.headers["Idempotency-Key"] == str(by_channel["sms"].id)
    assert body["to"] == "+6281200000003" and body["channel"] == "whatsapp"
    assert body["text"].startswith("Berdaya: Usulan diperiksa kelurahan. Kelurahan sudah")

    outcomes = [json.loads(m.body)["data"] for m in audit.messages]
    assert {m.routing_key for m in audit.messages} == {"notification.sent"}
    assert sorted(o["channel"] for o in outcomes) == ["email", "in_app", "sms"]
    assert {o["about_event_id"] for o in outcomes} == {str(verified.event_id)}


async def test_the_officers_whose_review_is_due_hear_of_it_in_their_area_only(
    infra: Infrastructure, namespace: str
) -> None:
    submitted = journey_event("proposal.submitted", uuid.uuid4())
    with smtp_sink() as smtp:
        async with notifications_api(infra, namespace, **channel_settings(smtp)) as (_, api):
            for person_id, kelurahan in (("ani", "Simpang IV Sipin"), ("tono", "Telanaipura")):
                await register(
                    api,
                    person_id,
                    role="kelurahan_officer",
                    kecamatan="Telanaipura",
                    kelurahan=kelurahan,
                    email=f"{person_id}@kelurahan.id",
                    preferences=preferences("email", "in_app"),
                )
            await publish_envelope(infra, namespace, submitted)
            await eventually(lambda: len(smtp.messages) == 1, what="the officer's e-mail")
            tono = Actor(
                id="tono",
                role=Role.KELURAHAN_OFFICER,
                kecamatan="Telanaipura",
                kelurahan="Telanaipura",
            )
            tono_feed = (await api.get("/notifications", headers=auth(tono))).json()["items"]

    (message,) = smtp.messages
    assert message["To"] == "ani@kelurahan.id"
    text = message.get_content()
    assert '"Rabat beton Gang Mawar" (RT 003, Simpang IV Sipin) sudah diajukan' in text
    assert "Periksa usulan ini, lalu verifikasi atau kembalikan dengan alasan." in text
    assert tono_feed == []


async def test_an_unconfigured_channel_keeps_its_deliveries_waiting_with_the_reason(
    infra: Infrastructure, namespace: str
) -> None:
    async with notifications_api(infra, namespace, **channel_settings()) as (runtime, api):
        await register(api, RT_HEAD.id, **RT_HEAD_ENTRY, preferences=EVERYWHERE)
        await publish_envelope(infra, namespace, journey_event("work.validated", uuid.uuid4()))
        rows = await until_async(
            lambda: deliveries_of(runtime),
            lambda found: len(found) == 2 and all(r.last_error for r in found),
            what="both deliveries to say why they wait",
        )
    reasons = {r.channel: r.last_error for r in rows}
    assert reasons == {
        "email": "e-mail is not configured (set BERDAYA_SMTP_HOST); waiting",
        "sms": "SMS/WhatsApp is not configured (set BERDAYA_SMS_GATEWAY_URL); waiting",
    }
    assert {r.status for r in rows} == {Status.PENDING}
    assert all(r.attempts == 0 for r in rows)


async def test_a_refused_address_fails_for_good_and_is_audited_as_failed(
    infra: Infrastructure, namespace: str
) -> None:
    with smtp_sink() as smtp:
        smtp.refuse("budi@example.id")
        async with (
            EventProbe(infra.amqp_url, namespace, ["notification.failed"]) as audit,
            notifications_api(infra, namespace, **channel_settings(smtp)) as (runtime, api),
        ):
            await register(api, RT_HEAD.id, **RT_HEAD_ENTRY)
            await publish_envelope(infra, namespace, journey_event("work.validated", uuid.uuid4()))
            await audit.wait_for(lambda: len(audit.messages) == 1, what="notification.failed")
            (row,) = await deliveries_of(runtime, channel="email")
            retried = await api.post(f"/deliveries/{row.id}/retry", headers=auth(RT_HEAD))

    assert row.status is Status.FAILED and row.attempts == 1
    assert row.last_error is not None and "refused budi@example.id" in row.last_error
    assert [entry.outcome for entry in row.log] == ["waiting", "failed"]
    failed = json.loads(audit.messages[0].body)["data"]
    assert failed["channel"] == "email" and "550" in failed["reason"]
    assert retried.status_code == 403
    assert "only city officers may retry deliveries" in retried.json()["detail"]
    assert smtp.messages == []


async def test_deliveries_are_written_in_the_consumers_transaction_and_sent_after(
    infra: Infrastructure, namespace: str
) -> None:
    """Two replicas consume and dispatch side by side: each step still goes out once."""
    events: list[Envelope] = [journey_event(t, uuid.uuid4()) for t in ("proposal.verified",) * 20]
    with smtp_sink() as smtp:
        settings = channel_settings(smtp)
        async with (
            notifications_api(infra, namespace, **settings) as (_, api),
            notifications_api(infra, namespace, **settings),
        ):
            await register(api, RT_HEAD.id, **RT_HEAD_ENTRY)
            await publish_envelopes(infra, namespace, events)
            await eventually(lambda: len(smtp.messages) >= len(events), what="every e-mail")
            await asyncio.sleep(0.5)  # room for a double send to show up
    assert len(smtp.messages) == len(events)
    assert len({m["Message-ID"] for m in smtp.messages}) == len(events)


class SlowSmtp:
    """An e-mail channel whose first send times out mid-send (it may still go out)."""

    channel: DeliveryChannel = "email"

    def __init__(self) -> None:
        self.sent: list[uuid.UUID] = []

    def problem(self) -> str | None:
        return None

    async def send(
        self, delivery: NotificationDelivery, endpoint: object = None, handing_over: object = None
    ) -> None:
        self.sent.append(delivery.id)
        if len(self.sent) == 1:
            raise OutcomeUnknown("the mail server did not answer within 15 s")

    async def close(self) -> None:
        return None


def dispatcher_of(
    runtime: ServiceRuntime,
    sender: Sender,
    *,
    lease_seconds: float,
    send_timeout_seconds: float,
    sends_at_once: int = 1,
) -> Dispatcher:
    """A dispatcher of the service's database, sending through `sender` only."""
    return Dispatcher(
        runtime.db,
        runtime.transactions,
        [sender],
        service="notifications-test",
        poll_seconds=0.1,
        lease_seconds=lease_seconds,
        send_timeout_seconds=send_timeout_seconds,
        retry_max_seconds=2,
        max_endpoint_failures=3,
        sends_at_once=sends_at_once,
    )


async def one_email_waiting(
    runtime: ServiceRuntime, api: httpx.AsyncClient, infra: Infrastructure, namespace: str
) -> None:
    """The RT head, registered for e-mail, told of a step: one e-mail delivery waits
    (e-mail is not configured: the service's own dispatcher leaves the row to the test)."""
    await register(api, RT_HEAD.id, **RT_HEAD_ENTRY, preferences=preferences("email"))
    await publish_envelope(infra, namespace, journey_event("proposal.verified", uuid.uuid4()))
    await until_async(
        lambda: deliveries_of(runtime, channel="email"),
        lambda found: len(found) == 1,
        what="the e-mail delivery",
    )


async def test_a_send_that_timed_out_is_retried_after_its_lease_as_a_possible_duplicate(
    infra: Infrastructure, namespace: str
) -> None:
    async with notifications_api(infra, namespace, **channel_settings()) as (runtime, api):
        await one_email_waiting(runtime, api, infra, namespace)
        smtp = SlowSmtp()
        dispatcher = dispatcher_of(runtime, smtp, lease_seconds=0.5, send_timeout_seconds=1)
        assert await dispatcher.dispatch_once("email") == 1
        after_timeout = await deliveries_of(runtime, channel="email")
        # once the lease runs out, the next pass sends it again
        await until_async(
            lambda: dispatcher.dispatch_once("email"), lambda sent: sent == 1, what="a resend"
        )
        rows = await deliveries_of(runtime, channel="email")

    # the outcome is unknown: the row stays leased, not retried as if it failed
    assert [r.status for r in after_timeout] == [Status.SENDING]
    assert len(smtp.sent) == 2
    assert [r.status for r in rows] == [Status.SENT]
    assert rows[0].possible_duplicate is True
    assert [e.outcome for e in rows[0].log][-2:] == ["possible_duplicate", "sent"]


async def test_a_resumed_attempt_that_dies_before_handing_over_keeps_the_earlier_doubt(
    infra: Infrastructure, namespace: str
) -> None:
    # the first attempt handed over and died; the second died before handing over;
    # the third must still send as a possible duplicate (the first copy may be out)
    async with notifications_api(infra, namespace, **channel_settings()) as (runtime, api):
        await one_email_waiting(runtime, api, infra, namespace)
        deliveries = Deliveries(runtime.db)
        lease = timedelta(seconds=1)
        start = datetime.now(UTC) + timedelta(minutes=1)  # past any backoff of the row
        first = await deliveries.claim("email", "first", lease, start)
        assert first is not None and not first.resumed
        assert await deliveries.handing_over(first.delivery.id, "first", start)
        second = await deliveries.claim("email", "second", lease, start + 2 * lease)
        assert second is not None and second.resumed
        third = await deliveries.claim("email", "third", lease, start + 4 * lease)
        [row] = await deliveries_of(runtime, channel="email")

    assert third is not None and not third.resumed  # the second never handed over
    assert third.delivery.possible_duplicate is True
    assert row.possible_duplicate is True and row.attempts == 3


class GatedSmtp:
    """An e-mail channel that holds each send until `together` are in flight (or a
    second passed), noting how many were in flight and to whom."""

    channel: DeliveryChannel = "email"

    def __init__(self, together: int) -> None:
        self.together = together
        self.in_flight: list[str] = []
        self.most_at_once = 0
        self.same_recipient_at_once: list[str] = []
        self.sent: list[str] = []
        self._all_in = asyncio.Event()

    def problem(self) -> str | None:
        return None

    async def send(
        self, delivery: NotificationDelivery, endpoint: object = None, handing_over: object = None
    ) -> None:
        if delivery.recipient_id in self.in_flight:
            self.same_recipient_at_once.append(delivery.recipient_id)
        self.in_flight.append(delivery.recipient_id)
        self.most_at_once = max(self.most_at_once, len(self.in_flight))
        if len(self.in_flight) >= self.together:
            self._all_in.set()
        with contextlib.suppress(TimeoutError):  # the last wave has fewer
            await asyncio.wait_for(self._all_in.wait(), timeout=1)
        self.in_flight.remove(delivery.recipient_id)
        self.sent.append(delivery.recipient_id)

    async def close(self) -> None:
        return None


async def test_a_channel_sends_several_at_once_but_never_two_to_one_recipient(
    infra: Infrastructure, namespace: str
) -> None:
    officers = ("ani", "tono", "sari")
    async with notifications_api(infra, namespace, **channel_settings()) as (runtime, api):
        for person_id in officers:
            await register(
                api,
                person_id,
                **KELURAHAN_OFFICER_AREA,
                email=f"{person_id}@kelurahan.id",
                preferences=preferences("email"),
            )
        for _ in range(2):  # two proposals: two e-mails to each officer
            await publish_envelope(
                infra, namespace, journey_event("proposal.submitted", uuid.uuid4())
            )
        await until_async(
            lambda: deliveries_of(runtime, channel="email"),
            lambda found: len(found) == 6,
            what="six e-mail deliveries",
        )
        smtp = GatedSmtp(together=len(officers))
        dispatcher = dispatcher_of(
            runtime, smtp, lease_seconds=30, send_timeout_seconds=5, sends_at_once=4
        )
        attempted = await dispatcher.dispatch_once("email")
        rows = await deliveries_of(runtime, channel="email")

    assert attempted == 6
    assert smtp.most_at_once == len(officers)  # one per recipient, though 4 were allowed
    assert smtp.same_recipient_at_once == []
    assert sorted(smtp.sent) == sorted(officers * 2)
    assert {r.status for r in rows} == {Status.SENT}


async def test_a_committed_email_is_sent_at_once_not_at_the_next_poll(
    infra: Infrastructure, namespace: str
) -> None:
    # the dispatcher polls once a minute here: only the consumer's commit can wake it
    with smtp_sink() as smtp:
        settings = channel_settings(smtp) | {"notification_poll_seconds": 60.0}
        async with notifications_api(infra, namespace, **settings) as (_, api):
            await register(api, RT_HEAD.id, **RT_HEAD_ENTRY, preferences=preferences("email"))
            await asyncio.sleep(0.5)  # the dispatcher's first look (at start) is over
            await publish_envelope(
                infra, namespace, journey_event("proposal.verified", uuid.uuid4())
            )
            await eventually(lambda: len(smtp.messages) == 1, within=10, what="the e-mail")
