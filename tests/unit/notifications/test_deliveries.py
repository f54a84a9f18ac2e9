"""Delivery rows: one per (event, recipient, channel), stable ids, backoff, logs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.notifications.domain import deliveries
from services.notifications.domain.deliveries import (
    About,
    Kind,
    Status,
    delivery_id,
    duplicate_note,
    event_key,
    retry_delay,
)
from services.notifications.domain.messages import Message
from services.notifications.domain.people import Channel, Frequency, Person
from services.notifications.domain.recipients import Route
from shared.contracts.publicity import published_after
from shared.identity import Actor, Role
from tests.unit.notifications.test_channels import delivery

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
ABOUT = About(
    event_id=uuid.uuid4(),
    event_type="work.started",
    proposal_id=uuid.uuid4(),
    occurred_at=NOW - timedelta(seconds=3),
    correlation_id="c-1",
)
SITI = Person(id="siti", role=Role.RESIDENT, phone="+6281234567890", messaging="whatsapp")
MESSAGE = Message(title="Work started", body="It began.", next_step="Join in.")


def test_the_same_event_recipient_and_channel_always_give_the_same_id() -> None:
    key = event_key(ABOUT.event_id, "siti", "email")
    assert delivery_id(key) == delivery_id(key)
    assert delivery_id(key) != delivery_id(event_key(ABOUT.event_id, "siti", "sms"))


def test_an_immediate_sms_is_due_now_through_the_persons_app() -> None:
    route = Route(Channel.SMS, Frequency.IMMEDIATELY, "+6281234567890")
    row = deliveries.for_person(ABOUT, SITI, route, MESSAGE, "Jalan", NOW)
    assert row.channel == "sms" and row.via == "whatsapp"
    assert not row.batched and row.next_attempt_at == NOW
    assert row.status is Status.PENDING
    assert row.text == "It began. Join in."
    assert row.log[0].detail == "to be sent now"


def test_a_digest_step_waits_for_its_digest() -> None:
    route = Route(Channel.EMAIL, Frequency.WEEKLY, "siti@x.id")
    row = deliveries.for_person(ABOUT, SITI, route, MESSAGE, "Jalan", NOW)
    assert row.batched and row.frequency is Frequency.WEEKLY
    assert row.log[0].detail == "waits for the weekly digest"


def test_a_webhook_delivery_carries_the_envelope() -> None:
    endpoint = uuid.uuid4()
    row = deliveries.for_endpoint(ABOUT, endpoint, '{"type": "work.started"}', NOW)
    assert row.recipient_id == str(endpoint) and row.channel == "webhook"
    assert row.body == '{"type": "work.started"}'
    assert row.id == delivery_id(event_key(ABOUT.event_id, str(endpoint), "webhook"))


def test_a_redelivery_is_a_new_delivery_of_the_same_event() -> None:
    sent = deliveries.for_endpoint(ABOUT, uuid.uuid4(), "{}", NOW).model_copy(
        update={"status": Status.SENT, "attempts": 3}
    )
    again = deliveries.redelivery(sent, "city-sari", NOW)
    assert again.id != sent.id and again.key != sent.key
    assert (again.event_id, again.recipient_id, again.body) == (
        sent.event_id,
        sent.recipient_id,
        "{}",
    )
    assert again.kind is Kind.REDELIVERY and again.redelivery_of == sent.id
    assert again.status is Status.PENDING and again.attempts == 0
    assert "requested by city-sari" in again.log[0].detail


def test_backoff_doubles_up_to_the_cap() -> None:
    cap = timedelta(minutes=15)
    assert [retry_delay(n, cap).total_seconds() for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert retry_delay(50, cap) == cap


def test_the_log_says_whether_a_possible_duplicate_can_be_dropped() -> None:
    assert "idempotency key" in duplicate_note("webhook", 2, "replica-a")
    assert "attempt 1 by replica-a" in duplicate_note("sms", 2, "replica-a")
    email = duplicate_note("email", 3, None)
    assert "may get it twice (same Message-ID)" in email


def test_a_proposal_is_public_from_its_verification_on_unless_back_with_its_rt() -> None:
    assert not published_after(None)
    for step in ("proposal.submitted", "proposal.resubmitted"):
        assert not published_after(step)
    for step in ("proposal.returned", "proposal.withdrawn"):
        assert not published_after(step)
    for step in ("proposal.verified", "proposal.approved", "proposal.rejected", "work.started"):
        assert published_after(step)


def test_a_person_sees_their_own_deliveries_and_never_a_webhooks_with_the_same_id() -> None:
    endpoint_id = "11111111-aaaa-4bbb-8ccc-dddddddddddd"
    person = Actor(id=endpoint_id, role=Role.RESIDENT)
    officer = Actor(id="sari", role=Role.CITY_OFFICER)
    to_the_endpoint = delivery(channel="webhook", recipient_id=endpoint_id, address="https://x")
    to_the_person = delivery(channel="email", recipient_id=endpoint_id)
    assert to_the_person.visible_to(person)
    assert not to_the_endpoint.visible_to(person)
    assert to_the_endpoint.visible_to(officer) and to_the_person.visible_to(officer)
