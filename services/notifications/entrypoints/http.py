"""HTTP API of the notifications service: the in-app feed, the people directory and
preferences, following proposals, webhooks for city systems and the delivery log."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.notifications.adapters.feed import Feed
from services.notifications.domain.deliveries import DeliveryChannel, Status
from services.notifications.domain.people import Person
from services.notifications.domain.webhooks import Endpoint
from services.notifications.entrypoints.shapes import (
    DeliveryBody,
    DirectoryEntryRequest,
    FeedItemBody,
    PersonBody,
    PersonChangesRequest,
    PreferencesBody,
)
from services.notifications.service.people import FollowedProposal, PeopleCommands
from services.notifications.service.webhooks import (
    DeliveryLog,
    Description,
    EndpointSettings,
    Issued,
    SecretRotation,
    WebhookCommands,
    secret_fingerprint,
)
from shared.clock import Timestamp
from shared.identity import OPERATOR_ROLES, Role
from shared.storage.unit_of_work import RecordAnswer
from shared.web.app import CorrelationId, ServiceDatabase, app_state
from shared.web.auth import CurrentActor
from shared.web.idempotency import IdempotencyKey, respond, respond_without_body
from shared.web.pages import Page, PageWanted


class DeliveryPage(Page[DeliveryBody]):
    """One page of a delivery log, newest first."""


People = Annotated[PeopleCommands, app_state("people")]
Webhooks = Annotated[WebhookCommands, app_state("webhooks")]
Log = Annotated[DeliveryLog, app_state("delivery_log")]


async def _feed_of(db: ServiceDatabase) -> Feed:
    return Feed(db)


Feeds = Annotated[Feed, Depends(_feed_of)]


async def _directory_follows_token(people: People, actor: CurrentActor) -> None:
    await people.follow_token(actor)


def build_routers() -> list[APIRouter]:
    # Every call keeps the caller's directory entry in line with their token's role
    # and area: one place, a write only when they changed.
    signed_in = APIRouter(dependencies=[Depends(_directory_follows_token)])
    for router in (_feed(), _people(), _following(), _webhooks(), _deliveries()):
        signed_in.include_router(router)
    return [signed_in]


class FeedPage(Page[FeedItemBody]):
    pass


def _feed() -> APIRouter:
    router = APIRouter(prefix="/notifications", tags=["in-app feed"])

    @router.get("", summary="My notifications, newest first")
    async def my_feed(
        feed: Feeds,
        actor: CurrentActor,
        paging: PageWanted,
        proposal_id: uuid.UUID | None = None,
        recipient_id: Annotated[str | None, Query(description="city officers only")] = None,
    ) -> FeedPage:
        # refused for the role alone, whoever `recipient_id` is: it tells nothing of them
        if recipient_id not in (None, actor.id) and actor.role not in OPERATOR_ROLES:
            raise HTTPException(403, "you can read only your own notifications")
        items, total = await feed.of(
            recipient_id or actor.id,
            proposal_id=proposal_id,
            skip=paging.skip,
            limit=paging.page_size,
        )
        return FeedPage(
            items=[FeedItemBody.of(item) for item in items],
            total=total,
            page=paging.page,
            page_size=paging.page_size,
        )

    @router.get("/unread-count", summary="How many of my notifications are unread")
    async def unread(feed: Feeds, actor: CurrentActor) -> dict[str, int]:
        return {"unread": await feed.unread_count(actor.id)}

    @router.post(
        "/{item_id}/read",
        response_model=MarkedRead,
        summary="Mark one of my notifications as read",
    )
    async def mark_read(
        item_id: uuid.UUID,
        people: People,
        actor: CurrentActor,
        correlation_id: CorrelationId,
        key: IdempotencyKey,
    ) -> JSONResponse:
        return await respond(
            key,
            status_code=status.HTTP_200_OK,
            render=lambda marked: MarkedRead(marked=marked),
            call=lambda record_answer: people.mark_read(
                actor, item_id, correlation_id, record_answer=record_answer
            ),
        )

    return router


class MarkedRead(BaseModel):
    marked: bool = Field(description="false: it was read already, or is not yours")


class PersonView(BaseModel):
    person: PersonBody
    preferences: PreferencesBody = Field(description="what applies: the person's own, or defaults")
    using_defaults: bool


def _view(person: Person) -> PersonView:
    return PersonView(
        person=PersonBody.of(person),
        preferences=PreferencesBody.of(person.effective_preferences),
        using_defaults=person.preferences is None,
    )


class PersonPage(Page[PersonBody]):
    pass


def _people() -> APIRouter:
    router = APIRouter(prefix="/people", tags=["people and preferences"])

    @router.get("/me", summary="My entry: contact, language, channels and frequency")
    async def me(people: People, actor: CurrentActor) -> PersonView:
        return _view(await people.me(actor))

    @router.patch(
        "/me",
        response_model=PersonView,
        summary="Change my contact details, language or preferences",
    )
    async def change_me(
        changes: PersonChangesRequest,
        people: People,
        actor: CurrentActor,
        correlation_id: CorrelationId,
        key: IdempotencyKey,
    ) -> JSONResponse:
        return await respond(
            key,
            status_code=status.HTTP_200_OK,
            render=_view,
            call=lambda record_answer: people.change_me(
                actor, changes.to_changes(), correlation_id, record_answer=record_answer
            ),
        )

    @router.get("", summary="The directory, by id (city officers)")
    async def search(
        people: People,
        actor: CurrentActor,
        paging: PageWanted,
        role: Role | None = None,
        kecamatan: str | None = None,
    ) -> PersonPage:
        found, total = await people.search(
            actor, role, kecamatan, skip=paging.skip, limit=paging.page_size
        )
        return PersonPage(
            items=[PersonBody.of(person) for person in found],
            total=total,
            page=paging.page,
            page_size=paging.page_size,
        )

    @router.get("/{person_id}", summary="One entry (yourself, or anyone for city officers)")
    async def get(person_id: str, people: People, actor: CurrentActor) -> PersonView:
        return _view(await people.get(actor, person_id))

    @router.put(
        "/{person_id}",
        response_model=PersonView,
        summary="Create or replace an entry (city officers)",
    )
    async def put(
        person_id: Annotated[str, Path(min_length=1, max_length=120)],
        entry: DirectoryEntryRequest,
        people: People,
        actor: CurrentActor,
        correlation_id: CorrelationId,
        key: IdempotencyKey,
    ) -> JSONResponse:
        return await respond(
            key,
            status_code=status.HTTP_200_OK,
            render=_view,
            call=lambda record_answer: people.put(
                actor, person_id, entry.to_entry(), correlation_id, record_answer=record_answer
            ),
        )

    @router.delete(
        "/{person_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove an entry"
    )
    async def remove(
        person_id: str,
        people: People,
        actor: CurrentActor,
        correlation_id: CorrelationId,
        key: IdempotencyKey,
    ) -> Response:
        return await respond_without_body(
            key,
            call=lambda record_answer: people.remove(
                actor, person_id, correlation_id, record_answer=record_answer
            ),
        )

    return router


class Following(BaseModel):
    proposal_id: uuid.UUID
    following: bool


class FollowingPage(Page[FollowedProposal]):
    pass


def _following() -> APIRouter:
    router = APIRouter(prefix="/following", tags=["following proposals"])

    @router.get("", summary="The proposals I follow, oldest first")
    async def following(people: People, actor: CurrentActor, paging: PageWanted) -> FollowingPage:
        # at most MAX_FOLLOWS: read whole, then paged
        followed = await people.following(actor)
        return FollowingPage(
            items=paging.of(followed),
            total=len(followed),
            page=paging.page,
            page_size=paging.page_size,
        )

    @router.put(
        "/{proposal_id}",
        response_model=Following,
        summary="Follow a proposal: hear of each of its steps",
    )
    async def follow(
        proposal_id: uuid.UUID,
        people: People,
        actor: CurrentActor,
        correlation_id: CorrelationId,
        key: IdempotencyKey,
    ) -> JSONResponse:
        return await respond(
            key,
            status_code=status.HTTP_200_OK,
            render=lambda _: Following(proposal_id=proposal_id, following=True),
            call=lambda record_answer: people.follow(
                actor, proposal_id, correlation_id, record_answer=record_answer
            ),
        )

    @router.delete("/{proposal_id}", response_model=Following, summary="Stop following a proposal")
    async def unfollow(
        proposal_id: uuid.UUID,
        people: People,
        actor: CurrentActor,
        correlation_id: CorrelationId,
        key: IdempotencyKey,
    ) -> JSONResponse:
        return await respond(
            key,
            status_code=status.HTTP_200_OK,
            render=lambda _: Following(proposal_id=proposal_id, following=False),
            call=lambda record_answer: people.unfollow(
                actor, proposal_id, correlation_id, record_answer=record_answer
            ),
        )

    return router


class EndpointView(BaseModel):
    """An endpoint as shown: the secret never leaves the service after registration."""

    id: uuid.UUID
    url: str
    events: tuple[str, ...]
    description: str
    enabled: bool
    disabled_reason: str | None
    consecutive_failures: int
    retry_at: Timestamp | None
    created_by: str
    created_at: Timestamp
    updated_at: Timestamp
    secret_hint: str = Field(description="the secret's last four characters")
    previous_secrets_expire_at: list[Timestamp] = Field(
        description="replaced secrets that still sign beside the current one, until then"
    )

    @classmethod
    def of(cls, endpoint: Endpoint) -> EndpointView:
        return cls(
            id=endpoint.id,
            url=endpoint.url,
            events=endpoint.events,
            description=endpoint.description,
            enabled=endpoint.enabled,
            disabled_reason=endpoint.disabled_reason,
            consecutive_failures=endpoint.consecutive_failures,
            retry_at=endpoint.retry_at,
            created_by=endpoint.created_by,
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
            secret_hint=endpoint.secret.hint,
            previous_secrets_expire_at=[
                old.expires_at for old in endpoint.previous_secrets if old.expires_at
            ],
        )


SECRET_NOT_REPEATED = (
    "the secret was shown only in the first answer to this request, and is not kept "
    "to be shown again; if it was lost, rotate it: POST /webhooks/{id}/rotate-secret"
)
SECRET_REPLACED = (
    "the secret this rotation issued is no longer kept as it was (the endpoint's secret "
    "was rotated again, or sealed again under a new BERDAYA_WEBHOOK_SECRET_KEYS key, or "
    "the endpoint removed), so it is not shown again; if you need it, rotate it: "
    "POST /webhooks/{id}/rotate-secret"
)


class EndpointPage(Page[EndpointView]):
    pass


class EndpointRegistered(BaseModel):
    endpoint: EndpointView
    secret: str | None = Field(
        description="shown in this answer: keep it to verify signatures (null in a replay "
        "of a registration's Idempotency-Key, and of a rotation's once that secret was "
        "replaced: see `note`)"
    )
    note: str | None = None

    @classmethod
    def of(cls, issued: Issued) -> EndpointRegistered:
        return cls(endpoint=EndpointView.of(issued.endpoint), secret=issued.secret)

    @classmethod
    def without_secret(cls, endpoint: Endpoint) -> EndpointRegistered:
        """What an Idempotency-Key keeps, and a replay answers: no secret in clear."""
        note = SECRET_NOT_REPEATED.replace("{id}", str(endpoint.id))
        return cls(endpoint=EndpointView.of(endpoint), secret=None, note=note)


class RotationKept(BaseModel):
    """What an Idempotency-Key keeps of a rotation: the answer without the secret, and
    which secret it issued (a digest of its encrypted form). A replay shows the secret
    again, read from the endpoint, while it is still the endpoint's."""

    answer: EndpointRegistered
    secret_fingerprint: str

    @classmethod
    def of(cls, endpoint: Endpoint) -> RotationKept:
        note = SECRET_REPLACED.replace("{id}", str(endpoint.id))
        answer = EndpointRegistered(endpoint=EndpointView.of(endpoint), secret=None, note=note)
        return cls(answer=answer, secret_fingerprint=secret_fingerprint(endpoint.secret))


class EndpointChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, max_length=2000)
    events: list[str] | None = Field(default=None, min_length=1, max_length=50)
    description: Description | None = None

    def to_changes(self) -> dict[str, Any]:
        """The endpoint's fields to change, by the domain's names: those the body sets."""
        # (this body's field, the domain's, the value)
        given = (
            ("url", "url", self.url),
            ("events", "events", self.events),
            ("description", "description", self.description),
        )
        sent = self.model_fields_set
        return {field: value for name, field, value in given if name in sent}


def _webhooks() -> APIRouter:
    router = APIRouter(prefix="/webhooks", tags=["webhooks (city systems)"])

    @router.post(
        "",
        status_code=status.HTTP_201_CREATED,
        response_model=EndpointRegistered,
        summary="Register an endpoint (a retry with the same Idempotency-Key registers once)",
        description=(
            "The answer shows the signing secret once. A retry with the same "
            "Idempotency-Key answers with the endpoint but not the secret, which is "
            "stored only encrypted (see `note`)."
        ),
    )
    async def register(
        wanted: EndpointSettings,
        webhooks: Webhooks,
        actor: CurrentActor,
        correlation_id: CorrelationId,
        key: IdempotencyKey,
    ) -> JSONResponse:
        issued: list[Issued] = []

        async def call(record_answer: RecordAnswer | None) -> Endpoint:
            done = await webhooks.register(actor, wanted, correlation_id, record_answer)
            issued.append(done)  # not reached by a replay: it leaves with the stored answer
            return done.endpoint

        answer = await respond(
            key,
            status_code=status.HTTP_201_CREATED,
            # the stored answer (what a replay gets) holds no secret
            render=EndpointRegistered.without_secret,
            call=call,
        )
        if not issued:
            return answer
        first = EndpointRegistered.of(issued[-1])
        return JSONResponse(first.model_dump(mode="json"), status_code=status.HTTP_201_CREATED)

    @router.post(
        "/{endpoint_id}/rotate-secret",
        response_model=EndpointRegistered,
        summary="Replace the signing secret; the old one signs beside it for a while (a "
        "retry with the same Idempotency-Key rotates once)",
        description=(
            "The new secret is shown in the answer. Deliveries carry signatures with both "
            "the new and the replaced secret (space-separated in `webhook-signature`) until "
            "BERDAYA_WEBHOOK_SECRET_OVERLAP_SECONDS (24 h) have passed, so the receiver "
            "can switch to the new one without losing a delivery. A retry with the same "
            "Idempotency-Key (and body) rotates once and answers as the first time, with "
            "the same secret — read again from the endpoint, where it is kept encrypted, "
            "as long as it is still the endpoint's; once it was rotated again or the "
            "endpoint removed, the replay answers without it (see `note`)."
        ),
    )
    async def rotate_secret(
        endpoint_id: uuid.UUID,
        webhooks: Webhooks,
        actor: CurrentActor,
        correlation_id: CorrelationId,
        key: IdempotencyKey,
        wanted: SecretRotation | None = None,
    ) -> JSONResponse:
        issued: list[Issued] = []

        async def call(record_answer: RecordAnswer | None) -> Endpoint:
            done = await webhooks.rotate_secret(
                actor, endpoint_id, wanted or SecretRotation(), correlation_id, record_answer
            )
            issued.append(done)  # not reached by a replay: it leaves with the stored answer
            return done.endpoint

        async def replayed(stored: Any) -> Any:
            kept = RotationKept.model_validate(stored)
            secret = await webhooks.current_secret(actor, endpoint_id, kept.secret_fingerprint)
            answer = kept.answer
            if secret is not None:
                answer = answer.model_copy(update={"secret": secret, "note": None})
            return answer.model_dump(mode="json")

        answer = await respond(
            key,
            status_code=status.HTTP_200_OK,
            # the stored answer holds no secret, only which one it was
            render=RotationKept.of,
            call=call,
            replayed=replayed,
        )
        if not issued:
            return answer
        first = EndpointRegistered.of(issued[-1])
        return JSONResponse(first.model_dump(mode="json"), status_code=status.HTTP_200_OK)

    @router.get("", summary="Every endpoint, oldest first")
    async def all_endpoints(
        webhooks: Webhooks, actor: CurrentActor, paging: PageWanted
    ) -> EndpointPage:
        # at most MAX_ENDPOINTS: read whole, then paged
        endpoints = await webhooks.all(actor)
        return EndpointPage(
            items=[EndpointView.of(e) for e in paging.of(endpoints)],
            total=len(endpoints),
            page=paging.page,
            page_size=paging.page_size,
        )

    @router.get("/{endpoint_id}", summary="One endpoint")
    async def get(endpoint_id: uuid.UUID, webhooks: Webhooks, actor: CurrentActor) -> EndpointView:
        return EndpointView.of(await webhooks.get(actor, endpoint_id))

    @router.patch(
        "/{endpoint_id}",
        response_model=EndpointView,
        summary="Change URL, event filter, secret or description",
    )
    async def change(
        endpoint_id: uuid.UUID,
        changes: EndpointChanges,
        webhooks: Webhooks,
        actor: CurrentActor,
        correlation_id: CorrelationId,
        key: IdempotencyKey,
    ) -> JSONResponse:
        given = changes.to_changes()
        return await respond(
            key,
            status_code=status.HTTP_200_OK,
            render=EndpointView.of,
            call=lambda record_answer: webhooks.change(
                actor, endpoint_id, given, correlation_id, record_answer=record_answer
            ),
        )

    @router.delete(
        "/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove an endpoint"
    )
    async def remove(
        endpoint_id: uuid.UUID,
        webhooks: Webhooks,
        actor: CurrentActor,
        correlation_id: CorrelationId,
        key: IdempotencyKey,
    ) -> Response:
        return await respond_without_body(
            key,
            call=lambda record_answer: webhooks.remove(
                actor, endpoint_id, correlation_id, record_answer=record_answer
            ),
        )

    for action, enabled in (("enable", True), ("disable", False)):
        _add_switch(router, action, enabled)

    @router.get("/{endpoint_id}/deliveries", summary="The endpoint's delivery log, newest first")
    async def deliveries(
        endpoint_id: uuid.UUID,
        webhooks: Webhooks,
        actor: CurrentActor,
        paging: PageWanted,
        status: Status | None = None,
    ) -> DeliveryPage:
        items, total = await webhooks.deliveries(
            actor, endpoint_id, status, skip=paging.skip, limit=paging.page_size
        )
        return DeliveryPage(
            items=[DeliveryBody.of(d) for d in items],
            total=total,
            page=paging.page,
            page_size=paging.page_size,
        )

    @router.post(
        "/{endpoint_id}/deliveries/{event_id}/redeliver",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=DeliveryBody,
        summary="Send one event to the endpoint again (a new delivery id)",
    )
    async def redeliver(
        endpoint_id: uuid.UUID,
        event_id: uuid.UUID,
        webhooks: Webhooks,
        actor: CurrentActor,
        correlation_id: CorrelationId,
        key: IdempotencyKey,
    ) -> JSONResponse:
        return await respond(
            key,
            status_code=status.HTTP_202_ACCEPTED,
            render=DeliveryBody.of,
            call=lambda record_answer: webhooks.redeliver(
                actor, endpoint_id, event_id, correlation_id, record_answer
            ),
        )

    return router


def _add_switch(router: APIRouter, action: str, enabled: bool) -> None:
    async def switch(
        endpoint_id: uuid.UUID,
        webhooks: Webhooks,
        actor: CurrentActor,
        correlation_id: CorrelationId,
        key: IdempotencyKey,
    ) -> JSONResponse:
        return await respond(
            key,
            status_code=status.HTTP_200_OK,
            render=EndpointView.of,
            call=lambda record_answer: webhooks.set_enabled(
                actor, endpoint_id, enabled, correlation_id, record_answer=record_answer
            ),
        )

    summary = (
        "Enable the endpoint again: failures start over, what waited goes out"
        if enabled
        else "Disable the endpoint: deliveries wait until it is enabled"
    )
    router.add_api_route(
        f"/{{endpoint_id}}/{action}",
        switch,
        methods=["POST"],
        response_model=EndpointView,
        summary=summary,
        name=action,
    )


def _deliveries() -> APIRouter:
    router = APIRouter(prefix="/deliveries", tags=["delivery log"])

    @router.get("", summary="Deliveries, newest first (yours; anyone's for city officers)")
    async def search(
        log: Log,
        actor: CurrentActor,
        paging: PageWanted,
        recipient_id: str | None = None,
        channel: DeliveryChannel | None = None,
        status: Status | None = None,
        event_id: uuid.UUID | None = None,
    ) -> DeliveryPage:
        items, total = await log.search(
            actor,
            recipient_id=recipient_id,
            channel=channel,
            status=status,
            event_id=event_id,
            skip=paging.skip,
            limit=paging.page_size,
        )
        return DeliveryPage(
            items=[DeliveryBody.of(d) for d in items],
            total=total,
            page=paging.page,
            page_size=paging.page_size,
        )

    @router.get("/{delivery_id}", summary="One delivery with its log")
    async def get(delivery_id: uuid.UUID, log: Log, actor: CurrentActor) -> DeliveryBody:
        return DeliveryBody.of(await log.get(actor, delivery_id))

    @router.post(
        "/{delivery_id}/retry",
        response_model=DeliveryBody,
        summary="Try a failed delivery again (city officers)",
    )
    async def retry(
        delivery_id: uuid.UUID,
        log: Log,
        actor: CurrentActor,
        correlation_id: CorrelationId,
        key: IdempotencyKey,
    ) -> JSONResponse:
        return await respond(
            key,
            status_code=status.HTTP_200_OK,
            render=DeliveryBody.of,
            call=lambda record_answer: log.retry(actor, delivery_id, correlation_id, record_answer),
        )

    return router
