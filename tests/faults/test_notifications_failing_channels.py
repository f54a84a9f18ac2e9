"""SMTP down, the SMS gateway answering 500 and a webhook endpoint timing out, all at
once: the in-app feed and a healthy endpoint still get every step meanwhile; the
failures show in the metrics and the delivery log; once the channels recover each
step goes out exactly once on each."""

from __future__ import annotations

import uuid

from prometheus_client import REGISTRY

from services.notifications.domain.deliveries import Status
from tests.support.infrastructure import Infrastructure
from tests.support.notifications import (
    RT_HEAD_ENTRY,
    HttpSink,
    SmtpSink,
    channel_settings,
    deliveries_of,
    http_sink,
    journey_event,
    notifications_api,
    preferences,
    register,
)
from tests.support.people import CITY_OFFICER, RT_HEAD, auth
from tests.support.probe import eventually, until_async
from tests.support.runtime import publish_envelopes

STEPS = ["proposal.verified", "proposal.endorsed", "proposal.approved", "material.reserved"]


def attempts(channel: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "berdaya_notification_attempts_total", {"channel": channel, "outcome": outcome}
    )
    return value or 0.0


def keys(sink: HttpSink) -> list[str]:
    return [r.headers["Idempotency-Key"] for r in sink.accepted]


async def test_failing_channels_block_nothing_else_lose_nothing_and_send_once_on_recovery(
    infra: Infrastructure, namespace: str
) -> None:
    smtp = SmtpSink()  # not started: nothing answers on its port yet
    proposal_id = uuid.uuid4()
    events = [journey_event(step, proposal_id) for step in STEPS]
    settings = channel_settings(smtp) | {
        "notification_send_timeout_seconds": 1.0,
        "notification_retry_max_seconds": 1.0,
        "webhook_max_consecutive_failures": 100,
    }
    before = {c: attempts(c, "retrying") for c in ("email", "sms", "webhook")}
    with http_sink() as gateway, http_sink() as slow, http_sink() as healthy:
        gateway.answer = lambda _: 500
        slow.delay, slow.answer = 2.0, (lambda _: 503)  # answers after our timeout
        async with notifications_api(
            infra, namespace, **settings, sms_gateway_url=f"{gateway.url}/send"
        ) as (runtime, api):
            await register(
                api, RT_HEAD.id, **RT_HEAD_ENTRY, preferences=preferences("email", "sms", "in_app")
            )
            for receiver in (slow, healthy):
                created = await api.post(
                    "/webhooks",
                    json={"url": receiver.url, "events": ["*"]},
                    headers=auth(CITY_OFFICER),
                )
                assert created.status_code == 201, created.text
            await publish_envelopes(infra, namespace, events)

            # meanwhile, what works keeps working
            await eventually(lambda: len(healthy.accepted) == len(STEPS), what="healthy endpoint")
            feed = await until_async(
                lambda: api.get("/notifications", headers=auth(RT_HEAD)),
                lambda r: r.json()["total"] == len(STEPS),
                what="the in-app feed",
            )
            await eventually(
                lambda: all(attempts(c, "retrying") > before[c] for c in before),
                what="each failing channel to have failed and been rescheduled",
            )
            waiting = await deliveries_of(runtime, status=Status.PENDING.value)
            metrics = (await api.get("/metrics")).text

            # the channels recover
            smtp.start()
            gateway.answer = lambda _: 200
            slow.delay, slow.answer = 0.0, (lambda _: 200)
            await eventually(lambda: len(smtp.messages) == len(STEPS), within=30, what="e-mail")
            await eventually(lambda: len(gateway.accepted) == len(STEPS), within=30, what="SMS")
            await eventually(lambda: len(slow.accepted) == len(STEPS), within=30, what="webhook")
            settled = await until_async(
                lambda: deliveries_of(runtime),
                lambda rows: {r.status for r in rows} == {Status.SENT},
                what="every delivery recorded as sent",
            )
    smtp.stop()

    assert feed.status_code == 200
    reasons = {c: " | ".join(r.last_error or "" for r in waiting if r.channel == c) for c in before}
    assert "cannot reach the mail server" in reasons["email"]
    assert "the gateway answered 500" in reasons["sms"]
    assert "is unreachable: no answer within" in reasons["webhook"]
    assert 'berdaya_notification_attempts_total{channel="email",outcome="retrying"}' in metrics

    # exactly once per recipient and channel once they recovered
    assert len({m["Message-ID"] for m in smtp.messages}) == len(STEPS)
    assert len(set(keys(gateway))) == len(keys(gateway)) == len(STEPS)
    assert len(set(keys(slow))) == len(keys(slow)) == len(STEPS)
    assert len(set(keys(healthy))) == len(keys(healthy)) == len(STEPS)
    assert len(settled) == 4 * len(STEPS)  # e-mail, SMS and two endpoints per step
    assert all(r.log[-1].outcome == "sent" for r in settled)
