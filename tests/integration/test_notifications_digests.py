"""Digests against real MongoDB and a real SMTP server, with the clock set by the test:
one per person and period whatever the number of replicas, grouped by proposal,
latest news first."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from services.notifications.domain.deliveries import Kind, Status
from services.notifications.domain.digests import DigestCalendar
from services.notifications.domain.people import Frequency
from shared.identity import Actor, Role
from shared.runtime import ServiceRuntime
from tests.support.infrastructure import Infrastructure
from tests.support.notifications import (
    channel_settings,
    deliveries_of,
    digest_scheduler,
    journey_event,
    notifications_api,
    preferences,
    register,
    smtp_sink,
)
from tests.support.people import auth
from tests.support.probe import eventually, until_async
from tests.support.runtime import publish_envelope, publish_envelopes

SITI = Actor(id="warga-siti", role=Role.RESIDENT)
DAILY = preferences("email", "in_app", frequency="daily")


def two_days_later() -> datetime:
    return datetime.now(UTC) + timedelta(days=2)


async def follower(
    api: httpx.AsyncClient, person_id: str, prefs: object = DAILY, **entry: object
) -> Actor:
    await register(
        api, person_id, role="resident", email=f"{person_id}@warga.id", preferences=prefs, **entry
    )
    return Actor(id=person_id, role=Role.RESIDENT)


async def follow(api: httpx.AsyncClient, actor: Actor, proposal_id: uuid.UUID) -> None:
    response = await until_async(
        lambda: api.put(f"/following/{proposal_id}", headers=auth(actor)),
        lambda r: r.status_code == 200,
        what="the proposal to be known",
    )
    assert response.json() == {"proposal_id": str(proposal_id), "following": True}


async def waiting_steps(runtime: ServiceRuntime, count: int) -> None:
    await until_async(
        lambda: runtime.db["deliveries"].count_documents({"batched": True}),
        lambda n: n == count,
        what=f"{count} steps waiting for a digest",
    )


async def one_step_waiting(
    infra: Infrastructure,
    namespace: str,
    service: tuple[ServiceRuntime, httpx.AsyncClient],
    road: uuid.UUID,
    prefs: object = DAILY,
    **entry: object,
) -> None:
    """Siti follows the road, submitted; its verification waits for her digest."""
    runtime, api = service
    siti = await follower(api, SITI.id, prefs, **entry)
    await publish_envelope(infra, namespace, journey_event("proposal.submitted", road))
    await follow(api, siti, road)
    await publish_envelope(infra, namespace, journey_event("proposal.verified", road))
    await waiting_steps(runtime, 1)


async def test_a_daily_follower_gets_one_digest_after_the_period_latest_news_first(
    infra: Infrastructure, namespace: str
) -> None:
    road, drain = uuid.uuid4(), uuid.uuid4()
    with smtp_sink() as smtp:
        async with notifications_api(infra, namespace, **channel_settings(smtp)) as (
            runtime,
            api,
        ):
            siti = await follower(api, SITI.id)
            await publish_envelope(infra, namespace, journey_event("proposal.submitted", road))
            await publish_envelope(infra, namespace, journey_event("proposal.submitted", drain))
            await follow(api, siti, road)
            await follow(api, siti, drain)
            # each envelope is stamped when made: "latest" is the last of these
            for event_type, proposal in [
                ("proposal.verified", road),
                ("proposal.verified", drain),
                ("proposal.endorsed", road),
            ]:
                await publish_envelope(infra, namespace, journey_event(event_type, proposal))
            await waiting_steps(runtime, 3)

            written = min(r.created_at for r in await deliveries_of(runtime, batched=True))
            now_builds = await digest_scheduler(runtime, lambda: written).run_once()
            later_builds = await digest_scheduler(runtime, two_days_later).run_once()
            await eventually(lambda: len(smtp.messages) == 1, what="the digest")
            steps = await until_async(
                lambda: deliveries_of(runtime, batched=True),
                lambda found: {s.status for s in found} == {Status.SENT},
                what="the digest's outcome to become its steps' outcome",
            )

    assert now_builds == 0, "a digest went out before its period ended"
    assert later_builds == 1
    (digest,) = smtp.messages
    assert digest["To"] == "warga-siti@warga.id"
    assert digest["Subject"] == "[Berdaya] Ringkasan harian Berdaya: 3 kabar tentang 2 usulan"
    lines = digest.get_content().splitlines()
    bullets = [line.split(":")[0] for line in lines if line.startswith("• ")]
    assert bullets == [
        "• Usulan didukung kecamatan",  # the road, latest news first
        "• Usulan diperiksa kelurahan",
        "• Usulan diperiksa kelurahan",  # then the drain
    ]
    assert lines.index('"Rabat beton Gang Mawar" (RT 003, Simpang IV Sipin)') == 2
    assert len(steps) == 3 and len({s.digest_id for s in steps}) == 1


async def test_two_replicas_building_digests_at_once_send_one_per_person_and_period(
    infra: Infrastructure, namespace: str
) -> None:
    road = uuid.uuid4()
    people = [f"warga-{n}" for n in range(4)]
    with smtp_sink() as smtp:
        settings = channel_settings(smtp)
        async with (
            notifications_api(infra, namespace, **settings) as (replica_a, api),
            notifications_api(infra, namespace, **settings) as (replica_b, _),
        ):
            await publish_envelope(infra, namespace, journey_event("proposal.submitted", road))
            for person_id in people:
                await follow(api, await follower(api, person_id), road)
            await publish_envelopes(
                infra,
                namespace,
                [journey_event(t, road) for t in ("proposal.verified", "proposal.endorsed")],
            )
            await waiting_steps(replica_a, 2 * len(people))

            schedulers = [
                digest_scheduler(replica, two_days_later)
                for replica in (replica_a, replica_b, replica_a, replica_b)
            ]
            built = await asyncio.gather(*(s.run_once() for s in schedulers))
            await eventually(lambda: len(smtp.messages) >= len(people), what="every digest")
            await asyncio.sleep(0.5)  # room for a second digest to show up
            digests = await deliveries_of(replica_a, kind=Kind.DIGEST.value)

    assert sum(built) == len(people)
    assert len(digests) == len(people)
    assert sorted(m["To"] for m in smtp.messages) == sorted(f"{p}@warga.id" for p in people)


async def test_a_step_that_misses_its_periods_digest_goes_with_the_next(
    infra: Infrastructure, namespace: str
) -> None:
    road = uuid.uuid4()
    with smtp_sink() as smtp:
        async with notifications_api(infra, namespace, **channel_settings(smtp)) as service:
            runtime, _ = service
            await one_step_waiting(infra, namespace, service, road)
            assert await digest_scheduler(runtime, two_days_later).run_once() == 1
            # committed late, but still before the same period's end
            await publish_envelope(infra, namespace, journey_event("proposal.endorsed", road))
            await waiting_steps(runtime, 2)
            same_period = await digest_scheduler(runtime, two_days_later).run_once()
            next_period = await digest_scheduler(
                runtime, lambda: two_days_later() + timedelta(days=1)
            ).run_once()
            await eventually(lambda: len(smtp.messages) == 2, what="two digests")

    assert (same_period, next_period) == (0, 1)
    subjects = sorted(m["Subject"] for m in smtp.messages)
    assert all("1 kabar tentang 1 usulan" in s for s in subjects)


async def test_a_weekly_follower_waits_for_the_week_to_end(
    infra: Infrastructure, namespace: str
) -> None:
    road = uuid.uuid4()
    with smtp_sink() as smtp:
        async with notifications_api(infra, namespace, **channel_settings(smtp)) as service:
            runtime, _ = service
            # no preferences of her own: a resident's default is the weekly digest
            await one_step_waiting(infra, namespace, service, road, prefs=None, language="en")
            (step,) = await deliveries_of(runtime, batched=True)
            week = DigestCalendar().period_containing(step.created_at, Frequency.WEEKLY)
            a_second_early = week.end - timedelta(seconds=1)
            early = await digest_scheduler(runtime, lambda: a_second_early).run_once()
            on_time = await digest_scheduler(runtime, lambda: week.end).run_once()
            await eventually(lambda: len(smtp.messages) == 1, what="the weekly digest")

    assert (early, on_time) == (0, 1)
    assert (
        smtp.messages[0]["Subject"] == "[Berdaya] Berdaya weekly digest: 1 updates on 1 proposals"
    )
