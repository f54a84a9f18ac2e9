"""The API's own shapes of the directory, the feed and the delivery log, mapped field by
field to and from the domain's (which the adapters map to their stored documents in
turn): renaming a field of the domain changes the mappings, not the API, and needs no
migration."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from services.notifications.adapters.feed import FeedItem
from services.notifications.domain.deliveries import (
    DeliveryChannel,
    Kind,
    LogEntry,
    NotificationDelivery,
    Status,
)
from services.notifications.domain.people import (
    Channel,
    DirectoryEntry,
    EmailAddress,
    EntryName,
    Frequency,
    Language,
    MessagingApp,
    Person,
    PersonChanges,
    PersonId,
    PersonName,
    PhoneNumber,
    Preferences,
    RtNumber,
)
from shared.clock import Timestamp
from shared.contracts.types import Name
from shared.identity import Role

# The people directory. Each field's rules are its type's, shared with the domain, which
# has no rules across fields: what these take, the domain's changes and entry take.


class PreferencesBody(BaseModel):
    """`frequency` paces e-mail and SMS; the in-app feed shows each step as it happens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channels: frozenset[Channel]
    frequency: Frequency

    @field_serializer("channels")
    def _sorted(self, channels: frozenset[Channel]) -> list[str]:
        return sorted(c.value for c in channels)  # JSON has no sets

    @classmethod
    def of(cls, preferences: Preferences) -> PreferencesBody:
        return cls(channels=preferences.channels, frequency=preferences.frequency)

    def to_preferences(self) -> Preferences:
        return Preferences(channels=self.channels, frequency=self.frequency)


class PersonBody(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: PersonId
    role: Role
    name: EntryName = ""
    kecamatan: str | None = None
    kelurahan: str | None = None
    rt: str | None = None
    email: EmailAddress | None = None
    phone: PhoneNumber | None = None
    messaging: MessagingApp = "whatsapp"
    language: Language = "id"
    preferences: PreferencesBody | None = Field(
        default=None, description="none: the defaults of the person's role"
    )

    @classmethod
    def of(cls, person: Person) -> PersonBody:
        return cls(
            id=person.id,
            role=person.role,
            name=person.name,
            kecamatan=person.kecamatan,
            kelurahan=person.kelurahan,
            rt=person.rt,
            email=person.email,
            phone=person.phone,
            messaging=person.messaging,
            language=person.language,
            preferences=_preferences_body(person.preferences),
        )


class PersonChangesRequest(BaseModel):
    """What a person may change about their own entry; fields left out stay as they
    are, `preferences: null` goes back to the defaults of their role."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: PersonName = ""
    email: EmailAddress | None = None
    phone: PhoneNumber | None = None
    messaging: MessagingApp = "whatsapp"
    language: Language = "id"
    preferences: PreferencesBody | None = None

    def to_changes(self) -> PersonChanges:
        # (this body's field, the domain's, the value): a field the body left out stays
        # out of the changes, so that it stays as it is
        given = (
            ("name", "name", self.name),
            ("email", "email", self.email),
            ("phone", "phone", self.phone),
            ("messaging", "messaging", self.messaging),
            ("language", "language", self.language),
            ("preferences", "preferences", _preferences(self.preferences)),
        )
        sent = self.model_fields_set
        return PersonChanges.model_validate(
            {field: value for name, field, value in given if name in sent}
        )


class DirectoryEntryRequest(PersonChangesRequest):
    """A person's entry as a city officer writes it: role and area decide which
    reviews, shipments and inspections concern them."""

    role: Role
    kecamatan: Name | None = None
    kelurahan: Name | None = None
    rt: RtNumber | None = None

    def to_entry(self) -> DirectoryEntry:
        return DirectoryEntry(
            name=self.name,
            email=self.email,
            phone=self.phone,
            messaging=self.messaging,
            language=self.language,
            preferences=_preferences(self.preferences),
            role=self.role,
            kecamatan=self.kecamatan,
            kelurahan=self.kelurahan,
            rt=self.rt,
        )


def _preferences_body(preferences: Preferences | None) -> PreferencesBody | None:
    return None if preferences is None else PreferencesBody.of(preferences)


def _preferences(body: PreferencesBody | None) -> Preferences | None:
    return None if body is None else body.to_preferences()


# The in-app feed


class FeedItemBody(BaseModel):
    id: uuid.UUID
    recipient_id: str
    channel: str
    event_id: uuid.UUID
    event_type: str
    proposal_id: uuid.UUID | None
    title: str
    body: str
    created_at: Timestamp
    read_at: Timestamp | None = None

    @classmethod
    def of(cls, item: FeedItem) -> FeedItemBody:
        return cls(
            id=item.id,
            recipient_id=item.recipient_id,
            channel=item.channel,
            event_id=item.event_id,
            event_type=item.event_type,
            proposal_id=item.proposal_id,
            title=item.title,
            body=item.body,
            created_at=item.created_at,
            read_at=item.read_at,
        )


# The delivery log


class DeliveryBody(BaseModel):
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

    @classmethod
    def of(cls, delivery: NotificationDelivery) -> DeliveryBody:
        return cls(
            id=delivery.id,
            key=delivery.key,
            kind=delivery.kind,
            channel=delivery.channel,
            recipient_id=delivery.recipient_id,
            address=delivery.address,
            via=delivery.via,
            language=delivery.language,
            frequency=delivery.frequency,
            batched=delivery.batched,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            proposal_id=delivery.proposal_id,
            proposal_label=delivery.proposal_label,
            occurred_at=delivery.occurred_at,
            correlation_id=delivery.correlation_id,
            title=delivery.title,
            body=delivery.body,
            next_step=delivery.next_step,
            status=delivery.status,
            created_at=delivery.created_at,
            next_attempt_at=delivery.next_attempt_at,
            attempts=delivery.attempts,
            lease_owner=delivery.lease_owner,
            lease_until=delivery.lease_until,
            handing_over_at=delivery.handing_over_at,
            possible_duplicate=delivery.possible_duplicate,
            last_error=delivery.last_error,
            sent_at=delivery.sent_at,
            digest_id=delivery.digest_id,
            includes=delivery.includes,
            redelivery_of=delivery.redelivery_of,
            log=delivery.log,
        )
