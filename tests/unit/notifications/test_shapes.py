"""The directory, the feed and the delivery log have the API's own shapes (entrypoints),
mapped field by field to and from the domain's; a person's entry is stored under keys the
directory maps from the domain's fields. Renaming a field of the domain changes the
mappings, so it is neither an API break nor a migration."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from services.notifications.adapters import directory, feed
from services.notifications.adapters.directory import PERSON_KEYS, document_of, person_of
from services.notifications.adapters.feed import FeedItem
from services.notifications.domain import deliveries, people, webhooks
from services.notifications.domain.deliveries import Kind, LogEntry, NotificationDelivery, Status
from services.notifications.domain.people import (
    Channel,
    DirectoryEntry,
    Frequency,
    Person,
    PersonChanges,
    Preferences,
)
from services.notifications.domain.webhooks import Endpoint, EndpointSecret
from services.notifications.entrypoints.http import (
    DeliveryPage,
    EndpointChanges,
    EndpointView,
    FeedPage,
    PersonPage,
    PersonView,
    build_routers,
)
from services.notifications.entrypoints.shapes import (
    DeliveryBody,
    DirectoryEntryRequest,
    FeedItemBody,
    PersonBody,
    PersonChangesRequest,
    PreferencesBody,
)
from services.notifications.service import people as people_service
from shared.identity import Role
from shared.storage.documents import to_document
from tests.support.shapes import away_from_defaults, imports_of

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)

# What clients send and read, and what documents were written with: fixed, whatever the
# domain calls its fields.
API_PERSON_FIELDS = (
    "id",
    "role",
    "name",
    "kecamatan",
    "kelurahan",
    "rt",
    "email",
    "phone",
    "messaging",
    "language",
    "preferences",
)
API_CHANGES_FIELDS = ("name", "email", "phone", "messaging", "language", "preferences")
API_ENTRY_FIELDS = (*API_CHANGES_FIELDS, "role", "kecamatan", "kelurahan", "rt")
STORED_PERSON_KEYS = frozenset(API_PERSON_FIELDS)


OWN = Preferences(channels=frozenset({Channel.SMS, Channel.IN_APP}), frequency=Frequency.DAILY)


def full_person() -> Person:
    made = Person(
        id="budi",
        role=Role.RT_HEAD,
        name="Budi Santoso",
        kecamatan="Telanaipura",
        kelurahan="Simpang IV Sipin",
        rt="003",
        email="budi@example.id",
        phone="+628123456789",
        messaging="sms",
        language="en",
        preferences=OWN,
    )
    away_from_defaults(made)
    return made


def full_entry() -> DirectoryEntry:
    person = full_person()
    made = DirectoryEntry(
        name=person.name,
        email=person.email,
        phone=person.phone,
        messaging=person.messaging,
        language=person.language,
        preferences=person.preferences,
        role=person.role,
        kecamatan=person.kecamatan,
        kelurahan=person.kelurahan,
        rt=person.rt,
    )
    away_from_defaults(made)
    return made


def full_item() -> FeedItem:
    made = FeedItem(
        id=uuid.UUID(int=1),
        recipient_id="budi",
        channel="in_app",
        event_id=uuid.UUID(int=2),
        event_type="proposal.approved",
        proposal_id=uuid.UUID(int=3),
        title="Usulan disetujui",
        body="Kota menyetujui usulan.",
        created_at=NOW,
        read_at=LATER,
    )
    away_from_defaults(made)
    return made


def full_delivery() -> NotificationDelivery:
    made = NotificationDelivery(
        id=uuid.UUID(int=1),
        key="digest:budi:2026-05-04",
        kind=Kind.DIGEST,
        channel="sms",
        recipient_id="budi",
        address="+628123456789",
        via="sms",
        language="en",
        frequency=Frequency.DAILY,
        batched=True,
        event_id=uuid.UUID(int=2),
        event_type="proposal.approved",
        proposal_id=uuid.UUID(int=3),
        proposal_label="Jalan RT 003",
        occurred_at=NOW,
        correlation_id="corr-1",
        title="Ringkasan",
        body="Dua usulan bergerak.",
        next_step="Lihat aplikasi.",
        status=Status.SENT,
        created_at=NOW,
        next_attempt_at=LATER,
        attempts=2,
        lease_owner="dispatcher-1",
        lease_until=LATER,
        handing_over_at=LATER,
        possible_duplicate=True,
        last_error="timeout",
        sent_at=LATER,
        digest_id=uuid.UUID(int=4),
        includes=[uuid.UUID(int=5)],
        redelivery_of=uuid.UUID(int=6),
        log=[LogEntry(at=NOW, outcome="sent", attempt=2, detail="ok")],
    )
    away_from_defaults(made)
    return made


def full_endpoint() -> Endpoint:
    current = EndpointSecret(sealed="sealed-new", hint="abcd")
    old = EndpointSecret(sealed="sealed-old", hint="wxyz", expires_at=LATER)
    made = Endpoint(
        id=uuid.UUID(int=7),
        url="https://dashboard.jambikota.go.id/hooks/berdaya",
        events=("proposal.*",),
        secret=current,
        previous_secrets=(old,),
        description="the city's dashboard",
        enabled=False,
        disabled_reason="disabled by ops",
        consecutive_failures=3,
        retry_at=LATER,
        created_by="ops",
        created_at=NOW,
        updated_at=LATER,
    )
    away_from_defaults(made)
    return made


# --------------------------------------------------------------------------------------------
# The API's shapes
# --------------------------------------------------------------------------------------------


def _openapi_paths() -> dict[str, Any]:
    app = FastAPI()
    for router in build_routers():
        app.include_router(router)
    paths: dict[str, Any] = app.openapi()["paths"]
    return paths


def _named(content: dict[str, Any]) -> str:
    """The component a body or an answer is, by its name."""
    ref: str = content["application/json"]["schema"]["$ref"]
    return ref.removeprefix("#/components/schemas/")


def test_the_api_takes_and_shows_its_own_types_not_the_domains() -> None:
    domain = (Person, Preferences, PersonChanges, DirectoryEntry, FeedItem, NotificationDelivery)
    api = (
        PersonBody,
        PreferencesBody,
        PersonChangesRequest,
        DirectoryEntryRequest,
        FeedItemBody,
        DeliveryBody,
    )
    for api_type in api:
        assert not issubclass(api_type, domain)
    assert PersonView.model_fields["person"].annotation is PersonBody
    assert PersonView.model_fields["preferences"].annotation is PreferencesBody
    assert PersonBody.model_fields["preferences"].annotation == PreferencesBody | None
    assert PersonPage.model_fields["items"].annotation == list[PersonBody]
    assert FeedPage.model_fields["items"].annotation == list[FeedItemBody]
    assert DeliveryPage.model_fields["items"].annotation == list[DeliveryBody]

    paths = _openapi_paths()
    for path, method, body in (
        ("/people/me", "patch", PersonChangesRequest),
        ("/people/{person_id}", "put", DirectoryEntryRequest),
    ):
        assert _named(paths[path][method]["requestBody"]["content"]) == body.__name__
    for path, method, status in (
        ("/deliveries/{delivery_id}", "get", "200"),
        ("/deliveries/{delivery_id}/retry", "post", "200"),
        ("/webhooks/{endpoint_id}/deliveries/{event_id}/redeliver", "post", "202"),
    ):
        answer = paths[path][method]["responses"][status]["content"]
        assert _named(answer) == DeliveryBody.__name__


def test_the_api_names_the_fields_as_it_always_did() -> None:
    assert tuple(PersonBody.model_fields) == API_PERSON_FIELDS
    assert tuple(PersonChangesRequest.model_fields) == API_CHANGES_FIELDS
    assert tuple(DirectoryEntryRequest.model_fields) == API_ENTRY_FIELDS
    assert tuple(PreferencesBody.model_fields) == ("channels", "frequency")


@pytest.mark.parametrize(
    ("shown", "domain"),
    [
        (lambda: PersonBody.of(full_person()), full_person),
        (lambda: PreferencesBody.of(OWN), lambda: OWN),
        (lambda: FeedItemBody.of(full_item()), full_item),
        (lambda: DeliveryBody.of(full_delivery()), full_delivery),
    ],
    ids=["person", "preferences", "feed item", "delivery"],
)
def test_an_answer_is_what_the_api_answered_when_it_showed_the_domains_model(
    shown: Any, domain: Any
) -> None:
    assert shown().model_dump(mode="json") == domain().model_dump(mode="json")


def test_a_directory_entry_maps_to_the_domains_with_every_field() -> None:
    entry = full_entry()
    sent = entry.model_dump(mode="json")
    assert DirectoryEntryRequest.model_validate(sent).to_entry() == entry


def test_a_change_maps_every_field_it_sets_and_only_those() -> None:
    every = full_entry().model_dump(mode="json", include=set(API_CHANGES_FIELDS))
    changes = PersonChangesRequest.model_validate(every).to_changes()
    assert changes == PersonChanges.model_validate(every)
    assert changes.model_fields_set == set(API_CHANGES_FIELDS)

    only = PersonChangesRequest.model_validate({"email": "new@x.id", "preferences": None})
    changes = only.to_changes()
    assert changes.model_fields_set == {"email", "preferences"}
    assert changes.email == "new@x.id"
    assert changes.preferences is None


def test_the_domain_has_no_rules_beyond_the_field_types_the_requests_share() -> None:
    """Were a rule across fields added to the domain's changes or entry, the requests
    would need to run it while the body is read (as proposals' request does)."""
    for domain in (PersonChanges, DirectoryEntry, Preferences):
        decorators = domain.__pydantic_decorators__
        assert not decorators.model_validators, domain
        assert not decorators.field_validators, domain
    for name in API_ENTRY_FIELDS:
        api = DirectoryEntryRequest.model_fields[name]
        ours = DirectoryEntry.model_fields[name]
        assert api.metadata == ours.metadata, name
        assert api.default == ours.default, name


@pytest.mark.parametrize(
    "sent",
    [
        {"email": "not an address"},
        {"phone": "call me"},
        {"name": "Budi\a"},
        {"preferences": {"channels": ["fax"], "frequency": "daily"}},
        {"owner": "budi"},
    ],
)
def test_a_request_refuses_what_the_domain_refused_in_the_same_words(sent: Any) -> None:
    with pytest.raises(ValidationError) as by_the_domain:
        PersonChanges.model_validate(sent)
    with pytest.raises(ValidationError) as by_the_api:
        PersonChangesRequest.model_validate(sent)
    problems = by_the_api.value.errors(include_url=False)
    assert [(p["loc"], p["msg"]) for p in problems] == [
        (p["loc"], p["msg"]) for p in by_the_domain.value.errors(include_url=False)
    ]


def test_an_entry_refuses_a_bad_rt_as_it_did() -> None:
    sent = {"role": "rt_head", "rt": "3"}
    with pytest.raises(ValidationError) as by_the_domain:
        DirectoryEntry.model_validate(sent)
    with pytest.raises(ValidationError) as by_the_api:
        DirectoryEntryRequest.model_validate(sent)
    [problem] = by_the_api.value.errors(include_url=False)
    [rule] = by_the_domain.value.errors(include_url=False)
    assert (
        (problem["loc"], problem["msg"])
        == (rule["loc"], rule["msg"])
        == (
            ("rt",),
            "String should match pattern '^\\d{3}$'",
        )
    )


def test_an_endpoint_is_shown_field_by_field_as_before() -> None:
    endpoint = full_endpoint()
    before = endpoint.model_dump(mode="json", exclude={"secret", "previous_secrets"})
    shown = EndpointView.of(endpoint).model_dump(mode="json")
    assert shown.pop("secret_hint") == "abcd"
    assert shown.pop("previous_secrets_expire_at") == ["2026-05-04T10:05:00.000Z"]
    assert shown == before


def test_an_endpoint_change_names_the_domains_fields_it_sets_and_only_those() -> None:
    every = {"url": "https://x.example/h", "events": ["*"], "description": "d"}
    assert EndpointChanges.model_validate(every).to_changes() == every
    assert set(every) <= set(Endpoint.model_fields)
    assert EndpointChanges.model_validate({"description": "d"}).to_changes() == {"description": "d"}


# --------------------------------------------------------------------------------------------
# The stored document
# --------------------------------------------------------------------------------------------


def test_every_field_of_a_person_has_the_key_documents_were_written_with() -> None:
    assert set(PERSON_KEYS) == set(Person.model_fields)
    assert set(PERSON_KEYS.values()) == STORED_PERSON_KEYS


def test_a_document_written_before_reads_as_the_person_it_was() -> None:
    person = full_person()
    before = to_document(person, person.id)  # how every entry was stored so far
    assert document_of(person) == before
    assert person_of(before) == person


def test_a_stored_entry_with_an_unknown_key_is_still_refused() -> None:
    document = document_of(full_person())
    document["colour"] = "red"
    with pytest.raises(ValidationError, match="colour"):
        person_of(document)


@pytest.mark.parametrize(
    "inner",
    [directory, feed, people, deliveries, webhooks, people_service],
    ids=lambda m: m.__name__,
)
def test_the_inner_layers_know_nothing_of_the_api(inner: ModuleType) -> None:
    imported = imports_of(inner)
    assert not {n for n in imported if n.startswith("services.notifications.entrypoints")}
