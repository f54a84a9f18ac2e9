"""Webhook endpoints of the city's systems, in MongoDB."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession

from services.notifications.adapters.secret_box import SecretBox, SecretBoxError
from services.notifications.domain.webhooks import Endpoint, matches
from shared.logs import get_logger
from shared.storage.documents import from_document, to_document
from shared.storage.mongo import Database, Document

COLLECTION = "webhook_endpoints"


log = get_logger(__name__)


async def create_indexes(db: Database) -> None:
    await db[COLLECTION].create_indexes([IndexModel([("created_at", ASCENDING)])])


def sealing_secrets(box: SecretBox) -> Callable[[Database], Awaitable[None]]:
    """A start step: every secret encrypted with the first of the configured keys.

    Endpoints registered before secrets were encrypted at rest hold theirs in clear:
    they are encrypted here, and keep signing as before (the receiver's secret does
    not change; see `domain.webhooks.secret_key`). Secrets sealed with an older key
    are sealed again with the first, so that the old key can then be removed."""

    async def seal_all(db: Database) -> None:
        async for document in db[COLLECTION].find({}, {"secret": 1, "previous_secrets": 1}):
            try:
                update = _sealed_again(box, document)
            except SecretBoxError as error:
                log.error("webhook secret unreadable", endpoint_id=document["_id"], why=str(error))
                continue
            if update:
                # only if unchanged meanwhile (a rotation by an operator wins)
                await db[COLLECTION].update_one(
                    {"_id": document["_id"], "secret": document["secret"]}, {"$set": update}
                )

    return seal_all


def _sealed_again(box: SecretBox, document: Document) -> Document:
    secret = document["secret"]
    if isinstance(secret, str):  # in clear, from before encryption at rest
        return {"secret": {"sealed": box.seal(secret), "hint": secret[-4:], "expires_at": None}}
    assert isinstance(secret, dict)
    previous: list[dict[str, Any]] = document.get("previous_secrets") or []
    if all(box.sealed_with_first_key(s["sealed"]) for s in [secret, *previous]):
        return {}
    return {
        "secret": {**secret, "sealed": box.reseal(secret["sealed"])},
        "previous_secrets": [{**s, "sealed": box.reseal(s["sealed"])} for s in previous],
    }


class Endpoints:
    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        self._collection = db[COLLECTION]
        self._session = session

    async def get(self, endpoint_id: uuid.UUID | str) -> Endpoint | None:
        found = await self._collection.find_one({"_id": str(endpoint_id)}, session=self._session)
        return None if found is None else from_document(Endpoint, found)

    async def all(self) -> list[Endpoint]:
        cursor = self._collection.find({}, session=self._session).sort("created_at", ASCENDING)
        return [from_document(Endpoint, d) async for d in cursor]

    async def subscribed_to(self, event_type: str) -> list[Endpoint]:
        """Endpoints whose filter takes `event_type`, disabled ones included: what they
        miss while disabled waits for them."""
        return [e for e in await self.all() if matches(e.events, event_type)]

    async def save(self, endpoint: Endpoint) -> None:
        await self._collection.replace_one(
            {"_id": str(endpoint.id)},
            to_document(endpoint, endpoint.id),
            upsert=True,
            session=self._session,
        )

    async def update(self, endpoint: Endpoint, fields: Collection[str]) -> None:
        """Write only `fields` of `endpoint`: whatever else changed meanwhile (disabled
        by an operator or after failures, failures counted) stays as it is."""
        document = to_document(endpoint, endpoint.id)
        await self._collection.update_one(
            {"_id": str(endpoint.id)},
            {"$set": {name: document[name] for name in fields}},
            session=self._session,
        )

    async def remove(self, endpoint_id: uuid.UUID) -> bool:
        result = await self._collection.delete_one({"_id": str(endpoint_id)}, session=self._session)
        return result.deleted_count == 1

    async def held(self, now: datetime) -> set[str]:
        """Endpoints not to call now: disabled, or waiting out a failure's backoff."""
        cursor = self._collection.find(
            {"$or": [{"enabled": False}, {"retry_at": {"$gt": now}}]},
            {"_id": 1},
            session=self._session,
        )
        return {d["_id"] async for d in cursor}

    async def record_success(self, endpoint_id: uuid.UUID) -> None:
        # Matches (and writes) nothing while the endpoint is healthy: every delivery's
        # outcome transaction calls this, and a needless write to the one endpoint
        # document would make replicas' transactions conflict on it.
        await self._collection.update_one(
            {
                "_id": str(endpoint_id),
                "$or": [{"consecutive_failures": {"$ne": 0}}, {"retry_at": {"$ne": None}}],
            },
            {"$set": {"consecutive_failures": 0, "retry_at": None}},
            session=self._session,
        )

    async def record_failure(
        self, endpoint_id: uuid.UUID, now: datetime, retry_in: timedelta, max_failures: int
    ) -> Endpoint | None:
        """Count one more failure in a row, hold the endpoint back for `retry_in`, and
        disable it at `max_failures`. Returns the endpoint as it is now."""
        found = await self._collection.find_one_and_update(
            {"_id": str(endpoint_id)},
            {"$inc": {"consecutive_failures": 1}, "$set": {"retry_at": now + retry_in}},
            return_document=True,
            session=self._session,
        )
        if found is None:
            return None
        endpoint = from_document(Endpoint, found)
        if endpoint.enabled and endpoint.consecutive_failures >= max_failures:
            endpoint = endpoint.model_copy(
                update={
                    "enabled": False,
                    "disabled_reason": (
                        f"disabled after {endpoint.consecutive_failures} failed deliveries "
                        "in a row; fix the endpoint, then enable it again"
                    ),
                    "updated_at": now,
                }
            )
            await self.update(endpoint, ("enabled", "disabled_reason", "updated_at"))
        return endpoint
