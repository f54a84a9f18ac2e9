"""HTTP API of the notifications service: each person's in-app feed."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request

from services.notifications.adapters.feed import Feed, FeedItem
from shared.identity import Role
from shared.web.auth import CurrentActor


def build_router() -> APIRouter:
    router = APIRouter(prefix="/notifications", tags=["notifications"])

    @router.get("", summary="My notifications, newest first")
    async def my_feed(
        request: Request,
        actor: CurrentActor,
        proposal_id: uuid.UUID | None = None,
        recipient_id: Annotated[str | None, Query(description="city officers only")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
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
