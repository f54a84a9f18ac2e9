"""A duplicated or redelivered event has exactly one effect."""

from __future__ import annotations

import asyncio

from shared.contracts import new_envelope
from shared.metrics import EVENTS_CONSUMED
from shared.storage import outbox
from tests.support.events import proposal_approved
from tests.support.infrastructure import Infrastructure
from tests.support.probe import EventProbe, eventually
from tests.support.runtime import publish_envelope, running_service

COPIES = 5


def consumed(outcome: str) -> float:
    value: float = EVENTS_CONSUMED.labels("materials", "proposal.approved", outcome)._value.get()
    return value


async def test_the_same_event_published_five_times_reserves_materials_once(
    infra: Infrastructure, namespace: str
) -> None:
    handled_before, duplicates_before = consumed("handled"), consumed("duplicate")
    envelope = new_envelope(proposal_approved(), producer="proposals", correlation_id="dup-test")
    async with (
        EventProbe(infra.amqp_url, namespace, ["material.reserved"]) as probe,
        # two replicas compete for the copies, as in production
        running_service("materials", infra, namespace) as (replica_a, _),
        running_service("materials", infra, namespace),
    ):
        await asyncio.gather(*(publish_envelope(infra, namespace, envelope) for _ in range(COPIES)))
        await eventually(
            lambda: (
                consumed("handled") + consumed("duplicate") - handled_before - duplicates_before
                >= COPIES
            ),
            what="every copy to be taken",
        )
        await asyncio.sleep(0.5)  # room for a copy handled twice to show up

        assert consumed("handled") - handled_before == 1
        assert consumed("duplicate") - duplicates_before == COPIES - 1
        assert await replica_a.db["jobs"].count_documents({}) == 1
        assert (
            await replica_a.db[outbox.COLLECTION].count_documents({"type": "material.reserved"})
            == 1
        )
        await probe.wait_for(lambda: len(probe.messages) == 1, what="material.reserved")
        await asyncio.sleep(0.5)  # room for a second announcement to show up
        assert len(probe.messages) == 1
