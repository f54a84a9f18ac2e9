"""Deliveries: one per (event, recipient, channel), with their log (pure, no I/O).

The consumer only writes deliveries; the dispatcher sends them. A delivery is
`pending` until due, `sending` while leased to one dispatcher, then `sent`, or back
to `pending` after a failure that may pass (retried with backoff), or `failed` when
the channel refused it for good. Rows waiting for a digest are `batched` and become
`digested` when a digest carries them; the digest's outcome is theirs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.notifications.domain.messages import Message
from services.notifications.domain.people import (
    DIGEST_FREQUENCIES,
    Channel,
    Frequency,
    Language,
    MessagingApp,
    Person,
)
from services.notifications.domain.recipients import Route
from shared.clock import Timestamp
from shared.errors import NotFound
from shared.identity import OPERATOR_ROLES, Actor
from shared.workers import backoff

DeliveryChannel = Literal["email", "sms", "webhook"]
# All deterministic ids of this service live under one namespace of its own.
_ID_NAMESPACE = uuid.UUID("6f1c5a52-9d3e-4a8b-b2f4-0e8d7c6b5a41")


class Status(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    DIGESTED = "digested"
    CANCELLED = "cancelled"


class Kind(StrEnum):
    EVENT = "event"
    DIGEST = "digest"
    REDELIVERY = "redelivery"


class LogEntry(BaseModel):
    """One line of a delivery's log: what happened to it, when, and why."""

    model_config = ConfigDict(frozen=True)

    at: Timestamp
    outcome: Literal[
        "sent",
        "retrying",
        "failed",
        "possible_duplicate",
        "waiting",
        "digested",
        "redelivery",
        "cancelled",
    ]
    attempt: int = 0
    detail: str = ""


class NotificationDelivery(BaseModel):
    """One notification sent (or to send) to one recipient on one channel — not a
    delivery of materials (`material.delivered`)."""

    id: uuid.UUID = Field(description="also the idempotency key sent with it")
    key: str = Field(description="what makes it unique: event, recipient and channel")
    kind: Kind = Kind.EVENT
    channel: DeliveryChannel
    recipient_id: str = Field(description="a person's id, or a webhook endpoint's")
    address: str | None = Field(default=None, description="e-mail or phone; none for webhooks")
    via: MessagingApp | None = None
    language: Language = "id"
    frequency: Frequency = Frequency.IMMEDIATELY
    batched: bool = Field(default=False, description="waits for a digest")
    event_id: uuid.UUID | None = None
    event_type: str | None = None
    proposal_id: uuid.UUID | None = None
    proposal_label: str = ""
    occurred_at: Timestamp | None = None
    correlation_id: str = ""
    title: str = ""
    body: str = Field(default="", description="the message; a webhook's JSON envelope")
    next_step: str = ""
    status: Status = Status.PENDING
    created_at: Timestamp
    next_attempt_at: Timestamp
    attempts: int = 0
    lease_owner: str | None = None
    lease_until: Timestamp | None = None
    handing_over_at: Timestamp | None = Field(
        default=None,
        description=(
            "when the last attempt began handing the message over (e-mail: just before "
            "DATA); a row still `sending` with this set after a crash may have gone out"
        ),
    )
    possible_duplicate: bool = False
    last_error: str | None = None
    sent_at: Timestamp | None = None
    digest_id: uuid.UUID | None = Field(default=None, description="the digest that carried it")
    includes: list[uuid.UUID] = Field(default=[], description="a digest's deliveries")
    redelivery_of: uuid.UUID | None = None
    log: list[LogEntry] = []

    @property
    def text(self) -> str:
        return f"{self.body} {self.next_step}".strip()

    def visible_to(self, actor: Actor) -> bool:
        """Operators see every delivery; anybody else only their own — never a webhook's,
        whose recipient id is the endpoint's, which a person's id could happen to equal."""
        if actor.role in OPERATOR_ROLES:
            return True
        return self.channel != "webhook" and self.recipient_id == actor.id


def no_delivery(delivery_id: uuid.UUID) -> NotFound:
    """The answer about a delivery that does not exist, or that is someone else's: the
    same words, so that nobody learns whether another person was sent something."""
    return NotFound(f"no delivery {delivery_id}")


def delivery_id(key: str) -> uuid.UUID:
    """The same key always gives the same id, so a retried decision reuses the
    idempotency key of the first."""
    return uuid.uuid5(_ID_NAMESPACE, key)


def event_key(event_id: uuid.UUID, recipient_id: str, channel: DeliveryChannel) -> str:
    return f"event:{event_id}:{channel}:{recipient_id}"


class SendFailure(Exception):
    """A channel did not take a message. `permanent`: retrying cannot help (an address
    refused, a request rejected); otherwise it is retried later."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class OutcomeUnknown(SendFailure):
    """The attempt may or may not have delivered: it timed out mid-send, and the send
    may still complete (a thread cannot be cut off). The row stays `sending` until its
    lease runs out; the next attempt is then logged as a possible duplicate."""


FIRST_RETRY_SECONDS = 2.0


def retry_delay(attempts: int, cap: timedelta) -> timedelta:
    """How long a delivery (or a webhook endpoint) waits after its `attempts`-th
    failure: 2 s, 4 s, 8 s … up to `cap` (BERDAYA_NOTIFICATION_RETRY_MAX_SECONDS)."""
    return timedelta(seconds=backoff(attempts, first=FIRST_RETRY_SECONDS, cap=cap.total_seconds()))


IDEMPOTENT_CHANNELS: frozenset[DeliveryChannel] = frozenset({"sms", "webhook"})


def duplicate_note(channel: DeliveryChannel, attempt: int, owner: str | None) -> str:
    """What the log says when an attempt handed the message over and left no outcome
    (its sender died, or the receiver's answer never came)."""
    guard = (
        "the receiver can drop it by its idempotency key"
        if channel in IDEMPOTENT_CHANNELS
        else "e-mail has no idempotency key: the reader may get it twice (same Message-ID)"
    )
    return (
        f"attempt {attempt - 1} by {owner or 'an earlier dispatcher'} handed the message "
        f"over and recorded no outcome (it stopped mid-send); this attempt may duplicate "
        f"it — {guard}"
    )


@dataclass(frozen=True)
class About:
    """The event a delivery is about."""

    event_id: uuid.UUID
    event_type: str
    proposal_id: uuid.UUID | None
    occurred_at: Timestamp
    correlation_id: str


def for_person(
    about: About,
    recipient: Person,
    route: Route,
    message: Message,
    proposal_label: str,
    now: datetime,
) -> NotificationDelivery:
    """What one person gets about one event on one channel (e-mail or SMS)."""
    assert route.channel is not Channel.IN_APP, "the in-app feed is written directly"
    channel: DeliveryChannel = "email" if route.channel is Channel.EMAIL else "sms"
    key = event_key(about.event_id, recipient.id, channel)
    batched = route.frequency in DIGEST_FREQUENCIES
    return NotificationDelivery(
        id=delivery_id(key),
        key=key,
        channel=channel,
        recipient_id=recipient.id,
        address=route.address,
        via=recipient.messaging if channel == "sms" else None,
        language=recipient.language,
        frequency=route.frequency,
        batched=batched,
        event_id=about.event_id,
        event_type=about.event_type,
        proposal_id=about.proposal_id,
        proposal_label=proposal_label,
        occurred_at=about.occurred_at,
        correlation_id=about.correlation_id,
        title=message.title,
        body=message.body,
        next_step=message.next_step,
        created_at=now,
        next_attempt_at=now,
        log=[LogEntry(at=now, outcome="waiting", detail=_waiting_for(route.frequency))],
    )


def for_endpoint(
    about: About, endpoint_id: uuid.UUID, envelope_json: str, now: datetime
) -> NotificationDelivery:
    """What a webhook endpoint gets about one event: the event's envelope itself."""
    key = event_key(about.event_id, str(endpoint_id), "webhook")
    return NotificationDelivery(
        id=delivery_id(key),
        key=key,
        channel="webhook",
        recipient_id=str(endpoint_id),
        event_id=about.event_id,
        event_type=about.event_type,
        proposal_id=about.proposal_id,
        occurred_at=about.occurred_at,
        correlation_id=about.correlation_id,
        title=about.event_type,
        body=envelope_json,
        created_at=now,
        next_attempt_at=now,
    )


def redelivery(
    original: NotificationDelivery, requested_by: str, now: datetime
) -> NotificationDelivery:
    """A new delivery of the same event to the same endpoint, with its own id: an
    operator asked for it again, so the receiver must not drop it as a repeat."""
    key = f"redelivery:{original.event_id}:{original.recipient_id}:{uuid.uuid4()}"
    return original.model_copy(
        update={
            "id": delivery_id(key),
            "key": key,
            "kind": Kind.REDELIVERY,
            "status": Status.PENDING,
            "created_at": now,
            "next_attempt_at": now,
            "attempts": 0,
            "lease_owner": None,
            "lease_until": None,
            "handing_over_at": None,
            "possible_duplicate": False,
            "last_error": None,
            "sent_at": None,
            "redelivery_of": original.id,
            "log": [
                LogEntry(
                    at=now,
                    outcome="redelivery",
                    detail=f"redelivery of {original.id} requested by {requested_by}",
                )
            ],
        }
    )


def _waiting_for(frequency: Frequency) -> str:
    if frequency in DIGEST_FREQUENCIES:
        return f"waits for the {frequency.value} digest"
    return "to be sent now"
