"""GET /audit on every service: its part of the audit trail, newest first.

Operators read all of it; an officer reads their own actions; nobody else reads any.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime

from shared.errors import Forbidden
from shared.identity import OPERATOR_ROLES, Actor
from shared.storage import audit
from shared.storage.audit import AuditQuery, AuditRecord
from shared.storage.mongo import Database
from shared.web.auth import CurrentActor
from shared.web.pages import Page, Paging, paging_up_to

MAX_PAGE_SIZE = 200
# Deep enough for any real reading; beyond it, narrow by officer, action or time.
MAX_PAGE = 1000
AuditPaging = Annotated[Paging, Depends(paging_up_to(MAX_PAGE_SIZE, deepest_page=MAX_PAGE))]


class AuditPage(Page[AuditRecord]):
    pass


def officer_readable_by(actor: Actor, officer: str | None) -> str | None:
    """Whose actions `actor` may read when asking for `officer`'s (None: anyone's)."""
    if actor.role in OPERATOR_ROLES:
        return officer
    if actor.role not in audit.OFFICER_ROLES:
        raise Forbidden(
            f"the audit trail is for operators and officers; you are signed in as "
            f"{actor.role.value}"
        )
    if officer not in (None, actor.id):
        raise Forbidden("an officer reads only their own actions in the audit trail")
    return actor.id


def build_router(db: Database) -> APIRouter:
    router = APIRouter(tags=["audit"])

    @router.get(
        "/audit",
        summary="Officer actions recorded by this service, newest first",
        responses={403: {"description": "not an operator, or another officer's actions"}},
    )
    async def read_audit(
        actor: CurrentActor,
        paging: AuditPaging,
        proposal_id: uuid.UUID | None = None,
        officer: Annotated[
            str | None, Query(max_length=200, description="the acting officer's id")
        ] = None,
        action: Annotated[str | None, Query(max_length=100, examples=["approve"])] = None,
        since: Annotated[
            AwareDatetime | None, Query(alias="from", description="at or after (inclusive)")
        ] = None,
        until: Annotated[AwareDatetime | None, Query(description="before (exclusive)")] = None,
    ) -> AuditPage:
        """Operators (city officers) read every record; any other officer reads only
        their own (`officer` defaults to them); residents and RT heads none."""
        query = AuditQuery(
            proposal_id=proposal_id,
            actor_id=officer_readable_by(actor, officer),
            action=action,
            since=since,
            until=until,
        )
        items, total = await audit.find(db, query, skip=paging.skip, limit=paging.page_size)
        return AuditPage(items=items, total=total, page=paging.page, page_size=paging.page_size)

    return router
