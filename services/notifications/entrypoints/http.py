"""HTTP API of the notifications service: the in-app feed, the people directory and
preferences, following proposals, webhooks for city systems and the delivery log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from services.notifications.adapters.feed import Feed, FeedItem
from services.notifications.adapters.proposals import KnownProposal
from services.notifications.domain.deliveries import Delivery, DeliveryChannel, Status
from services.notifications.domain.people import (
    DirectoryEntry,
    Person,
    PersonChanges,
    Preferences,
)
from services.notifications.domain.webhooks import Endpoint
from services.notifications.service.people import PeopleCommands
from services.notifications.service.webhooks import (
    DeliveryLog,
    EndpointSettings,
    WebhookCommands,
)
from shared.identity import Role
from shared.web.app import CorrelationId
from shared.web.auth import CurrentActor

Limit = Annotated[int, Query(ge=1, le=500)]


def build_routers() -> list[APIRouter]:
    return [_feed(), _people(), _following(), _webhooks(), _deliveries()]


def _feed() -> APIRouter:
    router = APIRouter(prefix="/notifications", tags=["in-app feed"])

    @router.get("", summary="My notifications, newest first")
    async def my_feed(
        request: Request,
        actor: CurrentActor,
        proposal_id: uuid.UUID | None = None,
        recipient_id: Annotated[str | None, Query(description="city officers only")] = None,
        limit: Limit = 100,
    ) -> list[FeedItem]:
        if recipient_id not in (None, actor.id) and actor.role is not Role.CITY_OFFICER:
            raise HTTPException(403, "you can read only your own notifications")
        feed = Feed(request.app.state.runtime.db)
        return await feed.of(recipient_id or actor.id, proposal_id=proposal_id, limit=limit)

    @router.get("/unread-count", summary="How many of my notifications are unread")
    async def unread(request: Request, actor: CurrentActor) -> dict[str, int]:
        return {"unread": await Feed(request.app.state.runtime.db).unread_count(actor.id)}

    @router.post("/{item_id}/read", summary="Mark one of my notifications as read")
    async def mark_read(
        item_id: uuid.UUID, request: Request, actor: CurrentActor
    ) -> dict[str, bool]:
        marked = await Feed(request.app.state.runtime.db).mark_read(actor.id, item_id)
        return {"marked": marked}

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


def _people_commands(request: Request) -> PeopleCommands:
    commands: PeopleCommands = request.app.state.people
    return commands


def _people() -> APIRouter:
    router = APIRouter(prefix="/people", tags=["people and preferences"])

    @router.get("/me", summary="My entry: contact, language, channels and frequency")
    async def me(request: Request, actor: CurrentActor) -> PersonView:
        return _view(await _people_commands(request).me(actor))

    @router.patch("/me", summary="Change my contact details, language or preferences")
    async def change_me(
        changes: PersonChanges,
        request: Request,
        actor: CurrentActor,
        correlation_id: CorrelationId,
    ) -> PersonView:
        return _view(await _people_commands(request).change_me(actor, changes, correlation_id))

    @router.get("", summary="The directory (city officers)")
    async def search(
        request: Request,
        actor: CurrentActor,
        role: Role | None = None,
        kecamatan: str | None = None,
        limit: Limit = 200,
    ) -> list[Person]:
        return await _people_commands(request).search(actor, role, kecamatan, limit)

    @router.get("/{person_id}", summary="One entry (yourself, or anyone for city officers)")
    async def get(person_id: str, request: Request, actor: CurrentActor) -> PersonView:
        return _view(await _people_commands(request).get(actor, person_id))

    @router.put("/{person_id}", summary="Create or replace an entry (city officers)")
    async def put(
        person_id: Annotated[str, Path(min_length=1, max_length=120)],
        entry: DirectoryEntry,
        request: Request,
        actor: CurrentActor,
        correlation_id: CorrelationId,
    ) -> PersonView:
        person = await _people_commands(request).put(actor, person_id, entry, correlation_id)
        return _view(person)

    @router.delete(
        "/{person_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove an entry"
    )
    async def remove(
        person_id: str, request: Request, actor: CurrentActor, correlation_id: CorrelationId
    ) -> Response:
        await _people_commands(request).remove(actor, person_id, correlation_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router


class Following(BaseModel):
    proposal_id: uuid.UUID
    following: bool


def _following() -> APIRouter:
    router = APIRouter(prefix="/following", tags=["following proposals"])

    @router.get("", summary="The proposals I follow")
    async def following(request: Request, actor: CurrentActor) -> list[KnownProposal]:
        return await _people_commands(request).following(actor)

    @router.put("/{proposal_id}", summary="Follow a proposal: hear of each of its steps")
    async def follow(
        proposal_id: uuid.UUID,
        request: Request,
        actor: CurrentActor,
        correlation_id: CorrelationId,
    ) -> Following:
        await _people_commands(request).follow(actor, proposal_id, correlation_id)
        return Following(proposal_id=proposal_id, following=True)

    @router.delete("/{proposal_id}", summary="Stop following a proposal")
    async def unfollow(
        proposal_id: uuid.UUID,
        request: Request,
        actor: CurrentActor,
        correlation_id: CorrelationId,
    ) -> Following:
        await _people_commands(request).unfollow(actor, proposal_id, correlation_id)
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
    retry_at: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    secret_hint: str = Field(description="the secret's last four characters")

    @classmethod
    def of(cls, endpoint: Endpoint) -> EndpointView:
        fields = endpoint.model_dump(exclude={"secret"})
        return cls(**fields, secret_hint=endpoint.secret[-4:])


class EndpointRegistered(BaseModel):
    endpoint: EndpointView
    secret: str = Field(description="shown this once: keep it to verify signatures")


class EndpointChanges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, max_length=2000)
    events: list[str] | None = Field(default=None, min_length=1, max_length=50)
    secret: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=500)


def _webhook_commands(request: Request) -> WebhookCommands:
    commands: WebhookCommands = request.app.state.webhooks
    return commands


def _webhooks() -> APIRouter:
    router = APIRouter(prefix="/webhooks", tags=["webhooks (city systems)"])

    @router.post("", status_code=status.HTTP_201_CREATED, summary="Register an endpoint")
    async def register(
        wanted: EndpointSettings,
        request: Request,
        actor: CurrentActor,
        correlation_id: CorrelationId,
    ) -> EndpointRegistered:
        endpoint = await _webhook_commands(request).register(actor, wanted, correlation_id)
        return EndpointRegistered(endpoint=EndpointView.of(endpoint), secret=endpoint.secret)

    @router.get("", summary="Every endpoint")
    async def all_endpoints(request: Request, actor: CurrentActor) -> list[EndpointView]:
        return [EndpointView.of(e) for e in await _webhook_commands(request).all(actor)]

    @router.get("/{endpoint_id}", summary="One endpoint")
    async def get(endpoint_id: uuid.UUID, request: Request, actor: CurrentActor) -> EndpointView:
        return EndpointView.of(await _webhook_commands(request).get(actor, endpoint_id))

    @router.patch("/{endpoint_id}", summary="Change URL, event filter, secret or description")
    async def change(
        endpoint_id: uuid.UUID,
        changes: EndpointChanges,
        request: Request,
        actor: CurrentActor,
        correlation_id: CorrelationId,
    ) -> EndpointView:
        given: dict[str, Any] = changes.model_dump(exclude_unset=True)
        endpoint = await _webhook_commands(request).change(
            actor, endpoint_id, given, correlation_id
        )
        return EndpointView.of(endpoint)

    @router.delete(
        "/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove an endpoint"
    )
    async def remove(
        endpoint_id: uuid.UUID,
        request: Request,
        actor: CurrentActor,
        correlation_id: CorrelationId,
    ) -> Response:
        await _webhook_commands(request).remove(actor, endpoint_id, correlation_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    for action, enabled in (("enable", True), ("disable", False)):
        _add_switch(router, action, enabled)

    @router.get("/{endpoint_id}/deliveries", summary="The endpoint's delivery log, newest first")
    async def deliveries(
        endpoint_id: uuid.UUID,
        request: Request,
        actor: CurrentActor,
        status: Status | None = None,
        limit: Limit = 100,
    ) -> list[Delivery]:
        return await _webhook_commands(request).deliveries(actor, endpoint_id, status, limit)

    @router.post(
        "/{endpoint_id}/deliveries/{event_id}/redeliver",
        status_code=status.HTTP_202_ACCEPTED,
        summary="Send one event to the endpoint again (a new delivery id)",
    )
    async def redeliver(
        endpoint_id: uuid.UUID,
        event_id: uuid.UUID,
        request: Request,
        actor: CurrentActor,
        correlation_id: CorrelationId,
    ) -> Delivery:
        commands = _webhook_commands(request)
        return await commands.redeliver(actor, endpoint_id, event_id, correlation_id)

    return router


def _add_switch(router: APIRouter, action: str, enabled: bool) -> None:
    async def switch(
        endpoint_id: uuid.UUID,
        request: Request,
        actor: CurrentActor,
        correlation_id: CorrelationId,
    ) -> EndpointView:
        endpoint = await _webhook_commands(request).set_enabled(
            actor, endpoint_id, enabled, correlation_id
        )
        return EndpointView.of(endpoint)

    summary = (
        "Enable the endpoint again: failures start over, what waited goes out"
        if enabled
        else "Disable the endpoint: deliveries wait until it is enabled"
    )
    router.add_api_route(
        f"/{{endpoint_id}}/{action}", switch, methods=["POST"], summary=summary, name=action
    )


def _delivery_log(request: Request) -> DeliveryLog:
    log: DeliveryLog = request.app.state.delivery_log
    return log


def _deliveries() -> APIRouter:
    router = APIRouter(prefix="/deliveries", tags=["delivery log"])

    @router.get("", summary="Deliveries, newest first (yours; anyone's for city officers)")
    async def search(
        request: Request,
        actor: CurrentActor,
        recipient_id: str | None = None,
        channel: DeliveryChannel | None = None,
        status: Status | None = None,
        event_id: uuid.UUID | None = None,
        limit: Limit = 100,
    ) -> list[Delivery]:
        return await _delivery_log(request).search(
            actor,
            recipient_id=recipient_id,
            channel=channel,
            status=status,
            event_id=event_id,
            limit=limit,
        )

    @router.get("/{delivery_id}", summary="One delivery with its log")
    async def get(delivery_id: uuid.UUID, request: Request, actor: CurrentActor) -> Delivery:
        return await _delivery_log(request).get(actor, delivery_id)

    @router.post("/{delivery_id}/retry", summary="Try a failed delivery again (city officers)")
    async def retry(
        delivery_id: uuid.UUID,
        request: Request,
        actor: CurrentActor,
        correlation_id: CorrelationId,
    ) -> Delivery:
        return await _delivery_log(request).retry(actor, delivery_id, correlation_id)

    return router
