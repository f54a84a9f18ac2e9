"""A proposal's whole journey, end to end through the notifications service as a real
process, with a real SMTP server and a real webhook receiver: exactly the expected
messages for an RT head on immediate e-mail, a follower on a daily digest and a city
system's webhook.

The journey's events are published to the exchange as the proposals and materials
services publish them, so that this test depends on the contract only, not on those
services' current work (the thin flow runs all three).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio

from services.notifications.domain.webhooks import verify
from shared.identity import Actor, Role
from tests.support.infrastructure import Infrastructure
from tests.support.notifications import (
    JOURNEY,
    RT_HEAD_ENTRY,
    HttpSink,
    SmtpSink,
    http_sink,
    journey_event,
    preferences,
    smtp_sink,
)
from tests.support.people import CITY_OFFICER, RT_HEAD, auth
from tests.support.probe import EventProbe, eventually, until_async
from tests.support.processes import ServiceProcess, start_service, wait_ready
from tests.support.runtime import publish_envelope

SITI = Actor(id="warga-siti", role=Role.RESIDENT, kecamatan="Telanaipura")
SECRET = "whsec_LBU4ye8NDKEKsqE7S25Tsk728h2sxcqr6YaJaLfHPho="
# What the RT head is e-mailed: every step except those he took himself (submitting,
# confirming receipt, starting, reporting progress, reporting completion).
RT_HEAD_EMAILS = [
    "[Berdaya] Usulan diperiksa kelurahan",
    "[Berdaya] Usulan didukung kecamatan",
    "[Berdaya] Usulan disetujui",
    "[Berdaya] Material disiapkan",
    "[Berdaya] Material dikirim",
    "[Berdaya] Semua material lengkap",
    "[Berdaya] Pekerjaan diserahterimakan",
]
# What the follower's digests carry: every step after she followed, once.
FOLLOWER_STEPS = [
    "Usulan diperiksa kelurahan",
    "Usulan didukung kecamatan",
    "Usulan disetujui",
    "Material disiapkan",
    "Material dikirim",
    "Penerimaan material dicatat",
    "Semua material lengkap",
    "Pekerjaan dimulai",
    "Kemajuan 40%",
    "Pekerjaan selesai",
    "Pekerjaan diserahterimakan",
]
WEBHOOK_EVENTS = [t for t in JOURNEY if t.startswith(("proposal.", "work."))]


@pytest_asyncio.fixture(loop_scope="session")
async def system(
    infra: Infrastructure, namespace: str, tmp_path: Path
) -> AsyncIterator[tuple[ServiceProcess, SmtpSink, HttpSink]]:
    with smtp_sink() as smtp, http_sink() as receiver:
        service = start_service(
            "notifications",
            infra,
            namespace,
            tmp_path,
            BERDAYA_SMTP_HOST="127.0.0.1",
            BERDAYA_SMTP_PORT=str(smtp.port),
            BERDAYA_NOTIFICATION_POLL_SECONDS="0.1",
            # a digest "day" of two seconds: the follower's digests come while we watch
            BERDAYA_DIGEST_DAY_SECONDS="2",
            BERDAYA_DIGEST_POLL_SECONDS="0.5",
        )
        try:
            await asyncio.to_thread(wait_ready, service)
            yield service, smtp, receiver
        finally:
            service.stop()


async def test_a_journey_tells_each_reader_exactly_what_concerns_them_their_way(
    system: tuple[ServiceProcess, SmtpSink, HttpSink], infra: Infrastructure, namespace: str
) -> None:
    service, smtp, receiver = system
    proposal_id = uuid.uuid4()
    async with (
        httpx.AsyncClient(base_url=service.url, timeout=10) as api,
        EventProbe(infra.amqp_url, namespace, ["notification.*"]) as audit,
    ):
        await set_up_readers(api, receiver)
        submitted = journey_event("proposal.submitted", proposal_id)
        await publish_envelope(infra, namespace, submitted)
        await until_async(
            lambda: api.put(f"/following/{proposal_id}", headers=auth(SITI)),
            lambda r: r.status_code == 200,
            what="the follower to follow the submitted proposal",
        )
        events = [submitted]
        for event_type in JOURNEY[1:]:
            # stamped as it happens, like the real steps, days apart or a few ms here
            events.append(journey_event(event_type, proposal_id))
            await publish_envelope(infra, namespace, events[-1])

        await eventually(lambda: len(emails_to(smtp, "budi@example.id")) >= 7, what="RT head")
        await eventually(lambda: len(receiver.accepted) >= 8, what="the webhook subscriber")
        await eventually(
            lambda: len(digest_steps(smtp)) >= len(FOLLOWER_STEPS), within=40, what="digests"
        )
        await asyncio.sleep(2.5)  # a further digest period: any duplicate would show now
        feed = (await api.get("/notifications", headers=auth(RT_HEAD))).json()["items"]
        siti_feed = (await api.get("/notifications", headers=auth(SITI))).json()["items"]

    rt_head = emails_to(smtp, "budi@example.id")
    assert sorted(m["Subject"] for m in rt_head) == sorted(RT_HEAD_EMAILS)
    assert len({m["Message-ID"] for m in rt_head}) == len(RT_HEAD_EMAILS)
    assert all('"Rabat beton Gang Mawar" (RT 003, Simpang IV Sipin)' in text(m) for m in rt_head)
    assert sorted(item["event_type"] for item in feed) == sorted(JOURNEY)

    assert sorted(digest_steps(smtp)) == sorted(FOLLOWER_STEPS)  # each step, once
    for digest in emails_to(smtp, "siti@warga.id"):
        assert digest["Subject"].startswith("[Berdaya] Ringkasan harian Berdaya: ")
        order = [FOLLOWER_STEPS.index(step) for step in steps_in(digest)]
        assert order == sorted(order, reverse=True), "a digest shows the latest step first"
    assert len(siti_feed) == len(FOLLOWER_STEPS)  # her feed shows each step as it happens

    delivered = [json.loads(r.body) for r in receiver.accepted]
    # each event once; in any order (the events travel on one queue per type)
    assert sorted(d["type"] for d in delivered) == sorted(WEBHOOK_EVENTS)
    assert {d["event_id"] for d in delivered} == {
        str(e.event_id) for e in events if e.type in WEBHOOK_EVENTS
    }
    assert len({r.headers["X-Berdaya-Delivery-Id"] for r in receiver.accepted}) == 8
    for request in receiver.accepted:
        h = request.headers
        assert verify(SECRET, h["X-Berdaya-Timestamp"], request.body, h["X-Berdaya-Signature"])

    audited = [json.loads(m.body)["data"] for m in audit.messages]
    rt_head_emails = [
        a for a in audited if a["channel"] == "email" and a["recipient_id"] == RT_HEAD.id
    ]
    assert len(rt_head_emails) == len(RT_HEAD_EMAILS)
    assert all(m.routing_key == "notification.sent" for m in audit.messages)


async def set_up_readers(api: httpx.AsyncClient, receiver: HttpSink) -> None:
    """The RT head on immediate e-mail, Siti on a daily digest, a dashboard's webhook."""
    as_city = auth(CITY_OFFICER)
    budi = await api.put(f"/people/{RT_HEAD.id}", json=RT_HEAD_ENTRY, headers=as_city)
    assert budi.status_code == 200, budi.text
    assert budi.json()["preferences"] == preferences("email", "in_app")  # an RT head's default
    siti = await api.patch(
        "/people/me",
        json={
            "email": "siti@warga.id",
            "preferences": preferences("email", "in_app", frequency="daily"),
        },
        headers=auth(SITI),
    )
    assert siti.status_code == 200, siti.text
    hook = await api.post(
        "/webhooks",
        json={"url": receiver.url, "events": ["proposal.*", "work.*"], "secret": SECRET},
        headers=as_city,
    )
    assert hook.status_code == 201, hook.text


def emails_to(smtp: SmtpSink, address: str) -> list[EmailMessage]:
    return smtp.to(address)


def text(message: EmailMessage) -> str:
    content: Any = message.get_content()
    return str(content)


def steps_in(digest: EmailMessage) -> list[str]:
    return [line[2:].split(":")[0] for line in text(digest).splitlines() if line.startswith("• ")]


def digest_steps(smtp: SmtpSink) -> list[str]:
    return [step for digest in emails_to(smtp, "siti@warga.id") for step in steps_in(digest)]
