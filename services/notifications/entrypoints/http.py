"""HTTP API of the notifications service: the in-app feed, the people directory and
preferences, following proposals, webhooks for city systems and the delivery log."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.notifications.adapters.feed import Feed, FeedItem
from services.notifications.domain.deliveries import DeliveryChannel, NotificationDelivery, Status
from services.notifications.domain.people import (
    DirectoryEntry,
    Person,
    PersonChanges,
    Preferences,
)
from services.notifications.domain.webhooks import Endpoint
from services.notifications.service.people import FollowedProposal, PeopleCommands
from services.notifications.service.webhooks import (
    DeliveryLog,
    EndpointSettings,
    WebhookCommands,
)
from shared.clock import Timestamp
from shared.identity import Role
from shared.web.app import CorrelationId, ServiceDatabase, app_state
from shared.web.auth import CurrentActor
from shared.web.idempotency import IdempotencyKey, respond

Limit = Annotated[int, Query(ge=1, le=500)]
People = Annotated[PeopleCommands, app_state("people")]
Webhooks = Annotated[WebhookCommands, app_state("webhooks")]
Log = Annotated[DeliveryLog, app_state("delivery_log")]


def _feed_of(db: ServiceDatabase) -> Feed:
    return Feed(db)


Feeds = Annotated[Feed, Depends(_feed_of)]


def build_routers() -> list[APIRouter]:
    return [_feed(), _people(), _following(), _webhooks(), _deliveries()]


def _feed() -> APIRouter:
    router = APIRouter(prefix="/notifications", tags=["in-app feed"])

    @router.get("", summary="My notifications, newest first")
    async def my_feed(
        feed: Feeds,
        actor: CurrentActor,
        proposal_id: uuid.UUID | None = None,
        recipient_id: Annotated[str | None, Query(description="city officers only")] = None,
        limit: Limit = 100,
    ) -> list[FeedItem]:
        if recipient_id not in (None, actor.id) and actor.role is not Role.CITY_OFFICER:
            raise HTTPException(403, "you can read only your own notifications")
        return await feed.of(recipient_id or actor.id, proposal_id=proposal_id, limit=limit)

    @router.get("/unread-count", summary="How many of my notifications are unread")
    async def unread(feed: Feeds, actor: CurrentActor) -> dict[str, int]:
        return {"unread": await feed.unread_count(actor.id)}

    @router.post("/{item_id}/read", summary="Mark one of my notifications as read")
    async def mark_read(item_id: uuid.UUID, feed: Feeds, actor: CurrentActor) -> dict[str, bool]:
        return {"marked": await feed.mark_read(actor.id, item_id)}

    return router


class PersonView(BaseModel):
    person: Person
    preferences: Preferences = Field(description="what applies: the person's own, or defaults")
    using_defaults: bool


def _view(person: Person) -> PersonView:
    return PersonView(
        person=person,
        preferences=person.effective_preferences,
        using_defaults=person.preferences is None,
    )


def _people() -> APIRouter:
    router = APIRouter(prefix="/people", tags=["people and preferences"])

    @router.get("/me", summary="My entry: contact, language, channels and frequency")
    async def me(people: People, actor: CurrentActor) -> PersonView:
        return _view(await people.me(actor))

    @router.patch("/me", summary="Change my contact details, language or preferences")
    async def change_me(
        changes: PersonChanges,
        people: People,
        actor: CurrentActor,
        correlation_id: CorrelationId,
    ) -> PersonView:
        return _view(await people.change_me(actor, changes, correlation_id))

    @router.get("", summary="The directory (city officers)")
    async def search(
        people: People,
        actor: CurrentActor,
        role: Role | None = None,
        kecamatan: str | None = None,
        limit: Limit = 200,
    ) -> list[Person]:
        return await people.search(actor, role, kecamatan, limit)

    @router.get("/{person_id}", summary="One entry (yourself, or anyone for city officers)")
    async def get(person_id: str, people: People, actor: CurrentActor) -> PersonView:
        return _view(await people.get(actor, person_id))

    @router.put("/{person_id}", summary="Create or replace an entry (city officers)")
    async def put(
        person_id: Annotated[str, Path(min_length=1, max_length=120)],
        entry: DirectoryEntry,
        people: People,
        actor: CurrentActor,
        correlation_id: CorrelationId,
    ) -> PersonView:
        return _view(await people.put(actor, person_id, entry, correlation_id))

    @router.delete(
        "/{person_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove an entry"
    )
    async def remove(
        person_id: str, people: People, actor: CurrentActor, correlation_id: CorrelationId
    ) -> Response:
        await people.remove(actor, person_id, correlation_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router


class Following(BaseModel):
    proposal_id: uuid.UUID
    following: bool


def _following() -> APIRouter:
    router = APIRouter(prefix="/following", tags=["following proposals"])

    @router.get("", summary="The proposals I follow")
    async def following(people: People, actor: CurrentActor) -> list[FollowedProposal]:
        return await people.following(actor)

    @router.put("/{proposal_id}", summary="Follow a proposal: hear of each of its steps")
    async def follow(
        proposal_id: uuid.UUID,
        people: People,
        actor: CurrentActor,
        correlation_id: CorrelationId,
    ) -> Following:
        await people.follow(actor, proposal_id, correlation_id)
        return Following(proposal_id=proposal_id, following=True)

    @router.delete("/{proposal_id}", summary="Stop following a proposal")
    async def unfollow(
        proposal_id: uuid.UUID,
        people: People,
        actor: CurrentActor,
        correlation_id: CorrelationId,
    ) -> Following:
        await people.unfollow(actor, proposal_id, correlation_id)
        return Following(proposal_id=proposal_id, following=False)

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

    @classmethod
    def of(cls, endpoint: Endpoint) -> EndpointView:
        fields = endpoint.model_dump(exclude={"secret"})
        return cls(**fields, secret_hint=endpoint.secret[-4:])


class EndpointRegistered(BaseModel):
    endpoint: EndpointView
    secret: str = Field(description="shown this once: keep it to verify signatures")

    @classmethod
    def of(cls, endpoint: Endpoint) -> EndpointRegistered:
        return cls(endpoint=EndpointView.of(endpoint), secret=endpoint.secret)


def _as_it_is(delivery: NotificationDelivery) -> NotificationDelivery:
    return delivery


class EndpointChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, max_length=2000)
    events: list[str] | None = Field(default=None, min_length=1, max_length=50)
    secret: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=500)


def _webhooks() -> APIRouter:
    router = APIRouter(prefix="/webhooks", tags=["webhooks (city systems)"])

    @router.post(
        "",
        status_code=status.HTTP_201_CREATED,
        response_model=EndpointRegistered,
        summary="Register an endpoint (a retry with the same Idempotency-Key registers once)",
    )
    async def register(
        wanted: EndpointSettings,
        webhooks: Webhooks,
        actor: CurrentActor,
        correlation_id: CorrelationId,
        key: IdempotencyKey,
    ) -> JSONResponse:
        return await respond(
            key,
            status_code=status.HTTP_201_CREATED,
            render=EndpointRegistered.of,
            call=lambda record_answer: webhooks.register(
                actor, wanted, correlation_id, record_answer
            ),
        )

    @router.get("", summary="Every endpoint")
    async def all_endpoints(webhooks: Webhooks, actor: CurrentActor) -> list[EndpointView]:
        return [EndpointView.of(e) for e in await webhooks.all(actor)]

    @router.get("/{endpoint_id}", summary="One endpoint")
    async def get(endpoint_id: uuid.UUID, webhooks: Webhooks, actor: CurrentActor) -> EndpointView:
        return EndpointView.of(await webhooks.get(actor, endpoint_id))

    @router.patch("/{endpoint_id}", summary="Change URL, event filter, secret or description")
    async def change(
        endpoint_id: uuid.UUID,
        changes: EndpointChanges,
        webhooks: Webhooks,
        actor: CurrentActor,
        correlation_id: CorrelationId,
    ) -> EndpointView:
        given: dict[str, Any] = changes.model_dump(exclude_unset=True)
        return EndpointView.of(await webhooks.change(actor, endpoint_id, given, correlation_id))

    @router.delete(
        "/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove an endpoint"
    )
    async def remove(
        endpoint_id: uuid.UUID,
        webhooks: Webhooks,
        actor: CurrentActor,
        correlation_id: CorrelationId,
    ) -> Response:
        await webhooks.remove(actor, endpoint_id, correlation_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    for action, enabled in (("enable", True), ("disable", False)):
        _add_switch(router, action, enabled)

    @router.get("/{endpoint_id}/deliveries", summary="The endpoint's delivery log, newest first")
    async def deliveries(
        endpoint_id: uuid.UUID,
        webhooks: Webhooks,
        actor: CurrentActor,
        status: Status | None = None,
        limit: Limit = 100,
    ) -> list[NotificationDelivery]:
        return await webhooks.deliveries(actor, endpoint_id, status, limit)

    @router.post(
        "/{endpoint_id}/deliveries/{event_id}/redeliver",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=NotificationDelivery,
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
            render=_as_it_is,
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
    ) -> EndpointView:
        endpoint = await webhooks.set_enabled(actor, endpoint_id, enabled, correlation_id)
        return EndpointView.of(endpoint)

    summary = (
        "Enable the endpoint again: failures start over, what waited goes out"
        if enabled
        else "Disable the endpoint: deliveries wait until it is enabled"
    )
    router.add_api_route(
        f"/{{endpoint_id}}/{action}", switch, methods=["POST"], summary=summary, name=action
    )


def _deliveries() -> APIRouter:
    router = APIRouter(prefix="/deliveries", tags=["delivery log"])

    @router.get("", summary="Deliveries, newest first (yours; anyone's for city officers)")
    async def search(
        log: Log,
        actor: CurrentActor,
        recipient_id: str | None = None,
        channel: DeliveryChannel | None = None,
        status: Status | None = None,
        event_id: uuid.UUID | None = None,
        limit: Limit = 100,
    ) -> list[NotificationDelivery]:
        return await log.search(
            actor,
            recipient_id=recipient_id,
            channel=channel,
            status=status,
            event_id=event_id,
            limit=limit,
        )

    @router.get("/{delivery_id}", summary="One delivery with its log")
    async def get(delivery_id: uuid.UUID, log: Log, actor: CurrentActor) -> NotificationDelivery:
        return await log.get(actor, delivery_id)

    @router.post(
        "/{delivery_id}/retry",
        response_model=NotificationDelivery,
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
            render=_as_it_is,
            call=lambda record_answer: log.retry(actor, delivery_id, correlation_id, record_answer),
        )

    return router
