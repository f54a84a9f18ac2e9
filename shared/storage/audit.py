"""The audit trail: every officer action, appended and never changed.

A record says who (id, role, area) did what (action) to what (target kind and id), in
which service, when, as part of which request (correlation id), with a few bounded
details (amounts, reasons). It is written in the transaction of the action it records
(`UnitOfWork.audit`), so an action that fails or is refused leaves no record, and a
committed one always has its record.

This module only inserts and finds: the MongoDB role of each service may then forbid
update and delete on the collection. No TTL index either — the server would delete.
The collection name is fixed here so the MongoDB roles can name it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession

from shared.clock import Timestamp, utc_now
from shared.identity import Actor, Role
from shared.storage.documents import from_document, to_document
from shared.storage.mongo import Database, Document

COLLECTION = "audit_log"

# Officers: who the trail is about, and who may read their own part of it.
OFFICER_ROLES = frozenset(set(Role) - {Role.RESIDENT, Role.RT_HEAD})

# Bounds on `details`, so a record stays small whatever an action carries: longer
# strings are cut (the full text stays with the action itself, e.g. a timeline).
MAX_DETAILS = 20
MAX_DETAIL_KEY_CHARS = 50
MAX_DETAIL_TEXT_CHARS = 500
MAX_DETAIL_LIST_ITEMS = 20
CUT = "…"

DetailValue = str | int | float | bool | None | list[str]


class ActorArea(BaseModel):
    """The area the officer's token scoped them to (none for city-wide roles)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kecamatan: str | None = None
    kelurahan: str | None = None
    rt: str | None = None


class AuditRecord(BaseModel):
    """One officer action, as it was committed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    at: Timestamp = Field(default_factory=utc_now)
    service: str = Field(description="the service that recorded the action")
    actor_id: str
    role: Role
    area: ActorArea = ActorArea()
    action: str = Field(examples=["approve", "dispatch", "replay_dead_letter"])
    target_kind: str = Field(examples=["proposal", "shipment", "webhook_endpoint"])
    target_id: str
    proposal_id: uuid.UUID | None = Field(
        default=None, description="the proposal the action concerns, if any"
    )
    details: Annotated[dict[str, DetailValue], Field(description="amounts, reasons (bounded)")] = (
        Field(default_factory=dict)
    )
    correlation_id: str = ""

    @field_validator("details", mode="before")
    @classmethod
    def _bounded(cls, details: Any) -> Any:
        if isinstance(details, Mapping):
            return bounded_details(details)
        return details

    @classmethod
    def of(
        cls,
        actor: Actor,
        action: str,
        target_kind: str,
        target_id: object,
        *,
        service: str,
        correlation_id: str,
        proposal_id: uuid.UUID | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> AuditRecord:
        return cls(
            service=service,
            actor_id=actor.id,
            role=actor.role,
            area=ActorArea(kecamatan=actor.kecamatan, kelurahan=actor.kelurahan, rt=actor.rt),
            action=action,
            target_kind=target_kind,
            target_id=str(target_id),
            proposal_id=proposal_id,
            details=dict(details or {}),
            correlation_id=correlation_id,
        )


def bounded_details(details: Mapping[str, Any]) -> dict[str, DetailValue]:
    """At most MAX_DETAILS entries; keys, texts and lists cut to their bounds; anything
    else (a UUID, an enum, a date) as its text."""
    kept: dict[str, DetailValue] = {}
    for key, value in list(details.items())[:MAX_DETAILS]:
        kept[_cut(str(key), MAX_DETAIL_KEY_CHARS)] = _bounded_value(value)
    return kept


def _bounded_value(value: Any) -> DetailValue:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value) if isinstance(value, set | frozenset) else list(value)
        return [_cut(str(item), MAX_DETAIL_TEXT_CHARS) for item in items[:MAX_DETAIL_LIST_ITEMS]]
    return _cut(str(value), MAX_DETAIL_TEXT_CHARS)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(CUT)] + CUT


async def create_indexes(db: Database) -> None:
    # The reads: one proposal's record, one officer's actions, everything — newest first.
    await db[COLLECTION].create_indexes(
        [
            IndexModel([("proposal_id", ASCENDING), ("at", DESCENDING)]),
            IndexModel([("actor_id", ASCENDING), ("at", DESCENDING)]),
            IndexModel([("at", DESCENDING)]),
        ]
    )


async def append(db: Database, session: AsyncClientSession | None, record: AuditRecord) -> None:
    """Insert `record`; with `session`, inside the caller's transaction (commits with it).

    Without a session only for an action that is no MongoDB write of this service's (a
    dead-letter replay on the broker): appended once the action is done."""
    await db[COLLECTION].insert_one(to_document(record, record.id), session=session)


@dataclass(frozen=True)
class AuditQuery:
    """Which records to read; every given condition must hold."""

    proposal_id: uuid.UUID | None = None
    actor_id: str | None = None
    action: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    def to_filter(self) -> Document:
        query: Document = {}
        if self.proposal_id is not None:
            query["proposal_id"] = self.proposal_id
        if self.actor_id is not None:
            query["actor_id"] = self.actor_id
        if self.action is not None:
            query["action"] = self.action
        at: Document = {}
        if self.since is not None:
            at["$gte"] = self.since
        if self.until is not None:
            at["$lt"] = self.until
        if at:
            query["at"] = at
        return query


async def find(
    db: Database, query: AuditQuery, *, skip: int, limit: int
) -> tuple[list[AuditRecord], int]:
    """One page of the records that match, newest first, and how many match in all."""
    wanted = query.to_filter()
    cursor = (
        db[COLLECTION]
        .find(wanted)
        .sort([("at", DESCENDING), ("_id", DESCENDING)])
        .skip(skip)
        .limit(limit)
    )
    records = [from_document(AuditRecord, document) async for document in cursor]
    return records, await db[COLLECTION].count_documents(wanted)
