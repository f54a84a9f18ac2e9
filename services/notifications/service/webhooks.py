"""Use cases of webhook endpoints and of the delivery log (city officers operate them)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from services.notifications.adapters.deliveries import Deliveries
from services.notifications.adapters.destinations import Destinations, UnsafeDestination
from services.notifications.adapters.endpoints import Endpoints
from services.notifications.adapters.secret_box import SecretBox
from services.notifications.domain import deliveries
from services.notifications.domain.deliveries import (
    DeliveryChannel,
    LogEntry,
    NotificationDelivery,
    Status,
)
from services.notifications.domain.webhooks import (
    Endpoint,
    EndpointSecret,
    new_secret,
    problem_with_filter,
    problem_with_secret,
)
from services.notifications.service.handlers import NOTIFIED_EVENTS
from services.notifications.service.people import require_operator
from shared.clock import Clock, utc_now
from shared.contracts.types import PLAIN_LINE
from shared.errors import Conflict, NotFound, Unprocessable
from shared.identity import OPERATOR_ROLES, Actor
from shared.storage.mongo import Database, Document
from shared.storage.unit_of_work import RecordAnswer, Transactions, UnitOfWork

T = TypeVar("T")
# Each endpoint is one more delivery of every event it takes: caps against runaway
# registration (a script in a loop), far above what a city's systems need.
MAX_ENDPOINTS_PER_OWNER = 10
MAX_ENDPOINTS = 50
# What an operator writes about an endpoint: one line of plain text.
Description = Annotated[str, Field(max_length=500), PLAIN_LINE]


class EndpointSettings(BaseModel):
    """What an operator sets on an endpoint; on a change, fields left out stay."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, examples=["https://dashboard.jambikota.go.id/hooks/berdaya"])
    events: list[str] = Field(
        min_length=1, max_length=50, examples=[["proposal.*", "work.completed"]]
    )
    secret: str | None = Field(
        default=None,
        max_length=200,
        description="whsec_<base64 of 24 to 64 random bytes>; generated if left out (best)",
    )
    description: Description = ""


class SecretRotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: str | None = Field(
        default=None,
        max_length=200,
        description="the new secret, whsec_<base64 of 24 to 64 random bytes>; generated if "
        "left out (best)",
    )


@dataclass(frozen=True)
class Issued:
    """An endpoint with its new secret in clear: shown once, in the answer to the
    registration or rotation that made it, and never stored that way."""

    endpoint: Endpoint
    secret: str


class _Operations:
    """Use cases that may make deliveries due, which the dispatcher then sends."""

    def __init__(
        self,
        db: Database,
        transactions: Transactions,
        clock: Clock = utc_now,
        on_due: Callable[[], None] = lambda: None,
    ) -> None:
        self._db = db
        self._transactions = transactions
        self._clock = clock
        self._on_due = on_due  # deliveries became due: wake the dispatcher

    async def _run_and_wake(
        self,
        work: Callable[[UnitOfWork], Awaitable[T]],
        *,
        correlation_id: str,
        record_answer: RecordAnswer | None = None,
    ) -> T:
        """`Transactions.run`, then wake the dispatcher: deliveries became due."""
        done = await self._transactions.run(
            work, correlation_id=correlation_id, record_answer=record_answer
        )
        self._on_due()
        return done


class WebhookCommands(_Operations):
    def __init__(
        self,
        db: Database,
        transactions: Transactions,
        *,
        box: SecretBox,
        destinations: Destinations,
        secret_overlap: timedelta,
        clock: Clock = utc_now,
        on_due: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(db, transactions, clock, on_due)
        self._box = box
        self._destinations = destinations
        self._secret_overlap = secret_overlap  # how long a replaced secret still signs

    async def register(
        self,
        actor: Actor,
        wanted: EndpointSettings,
        correlation_id: str,
        record_answer: RecordAnswer | None = None,
    ) -> Issued:
        require_operator(actor, "register webhooks")
        secret = self._chosen_or_new(wanted.secret)
        await self._check_url(wanted.url)
        now = self._clock()
        endpoint = Endpoint(
            id=uuid.uuid4(),
            url=wanted.url,
            events=tuple(wanted.events),
            secret=self._sealed(secret),
            description=wanted.description,
            created_by=actor.id,
            created_at=now,
            updated_at=now,
        )
        _check(endpoint)
        _check_room(await Endpoints(self._db).all(), actor)
        await self._save(actor, endpoint, correlation_id, record_answer)
        return Issued(endpoint, secret)

    async def rotate_secret(
        self,
        actor: Actor,
        endpoint_id: uuid.UUID,
        wanted: SecretRotation,
        correlation_id: str,
        record_answer: RecordAnswer | None = None,
    ) -> Issued:
        """A new secret signs from now on; the one it replaces signs beside it (both
        in `webhook-signature`) for BERDAYA_WEBHOOK_SECRET_OVERLAP_SECONDS, so the
        receiver can switch without losing a delivery. Older ones past their time go.

        `record_answer` (an Idempotency-Key's) stores what `render` makes of the
        endpoint: never the secret in clear (see `current_secret`)."""
        require_operator(actor, "rotate webhook secrets")
        secret = self._chosen_or_new(wanted.secret)
        now = self._clock()

        async def work(uow: UnitOfWork) -> Endpoint:
            endpoints = Endpoints(uow.db, uow.session)
            current = await _existing(endpoints, endpoint_id)
            replaced = current.secret.model_copy(update={"expires_at": now + self._secret_overlap})
            still_signing = [
                old
                for old in (replaced, *current.previous_secrets)
                if old.expires_at is not None and old.expires_at > now
            ]
            endpoint = current.model_copy(
                update={
                    "secret": self._sealed(secret),
                    "previous_secrets": tuple(still_signing),
                    "updated_at": now,
                }
            )
            await endpoints.update(endpoint, ("secret", "previous_secrets", "updated_at"))
            await _audit(uow, actor, "rotate_webhook_secret", endpoint_id)
            return endpoint

        endpoint = await self._transactions.run(
            work, correlation_id=correlation_id, record_answer=record_answer
        )
        return Issued(endpoint, secret)

    async def current_secret(
        self, actor: Actor, endpoint_id: uuid.UUID, fingerprint: str
    ) -> str | None:
        """The endpoint's signing secret in clear, if it is still the one whose
        `secret_fingerprint` is `fingerprint`; None once it was replaced (rotated again,
        or resealed under a new key) or the endpoint removed.

        How a replayed rotation shows the secret it issued again without any copy of it
        being kept beside the endpoint's own (encrypted) one."""
        require_operator(actor, "rotate webhook secrets")
        found = await Endpoints(self._db).get(endpoint_id)
        if found is None or secret_fingerprint(found.secret) != fingerprint:
            return None
        return self._box.open(found.secret.sealed)

    def _chosen_or_new(self, chosen: str | None) -> str:
        if chosen is None:
            return new_secret()
        problem = problem_with_secret(chosen)
        if problem:
            raise Unprocessable(problem)
        return chosen

    def _sealed(self, secret: str) -> EndpointSecret:
        return EndpointSecret(sealed=self._box.seal(secret), hint=secret[-4:])

    async def _check_url(self, url: str) -> None:
        """Refused unless its host resolves to public addresses only (checked again
        before each delivery)."""
        try:
            await self._destinations.check(url)
        except UnsafeDestination as refused:
            raise Unprocessable(refused.reason) from refused

    async def change(
        self,
        actor: Actor,
        endpoint_id: uuid.UUID,
        changes: Document,
        correlation_id: str,
        *,
        record_answer: RecordAnswer | None = None,
    ) -> Endpoint:
        """`changes`: any of url, events, secret, description (None: unchanged).

        Read and written in one transaction, and only the changed fields are written: an
        edit never undoes a disable (by an operator or after failures) that came first."""
        require_operator(actor, "change webhooks")
        changes = {name: value for name, value in changes.items() if value is not None}
        if "secret" in changes:
            raise Unprocessable(
                f"a secret is changed by rotating it: POST /webhooks/{endpoint_id}/rotate-secret"
            )
        if "events" in changes:
            changes["events"] = tuple(changes["events"])
        if "url" in changes:
            await self._check_url(changes["url"])
        now = self._clock()

        async def work(uow: UnitOfWork) -> Endpoint:
            endpoints = Endpoints(uow.db, uow.session)
            current = await _existing(endpoints, endpoint_id)
            endpoint = current.model_copy(update={**changes, "updated_at": now})
            _check(endpoint)
            await endpoints.update(endpoint, [*changes, "updated_at"])
            # The names of what changed, never the values: a secret stays out of the trail.
            await _audit(uow, actor, "change_webhook", endpoint_id, changed=sorted(changes))
            return endpoint

        return await self._transactions.run(
            work, correlation_id=correlation_id, record_answer=record_answer
        )

    async def set_enabled(
        self,
        actor: Actor,
        endpoint_id: uuid.UUID,
        enabled: bool,
        correlation_id: str,
        *,
        record_answer: RecordAnswer | None = None,
    ) -> Endpoint:
        """Disable, or enable again: the count of failures starts over and whatever
        waited meanwhile goes out now."""
        require_operator(actor, "enable or disable webhooks")
        now = self._clock()

        async def work(uow: UnitOfWork) -> Endpoint:
            endpoints = Endpoints(uow.db, uow.session)
            current = await _existing(endpoints, endpoint_id)
            reason = None if enabled else f"disabled by {actor.id}"
            endpoint = current.model_copy(
                update={
                    "enabled": enabled,
                    "disabled_reason": reason,
                    "consecutive_failures": 0 if enabled else current.consecutive_failures,
                    "retry_at": None,
                    "updated_at": now,
                }
            )
            await endpoints.update(
                endpoint,
                ("enabled", "disabled_reason", "consecutive_failures", "retry_at", "updated_at"),
            )
            if enabled:
                await Deliveries(uow.db, uow.session).release_held(str(endpoint_id), now)
            await _audit(
                uow, actor, "enable_webhook" if enabled else "disable_webhook", endpoint_id
            )
            return endpoint

        return await self._run_and_wake(
            work, correlation_id=correlation_id, record_answer=record_answer
        )

    async def remove(
        self,
        actor: Actor,
        endpoint_id: uuid.UUID,
        correlation_id: str,
        *,
        record_answer: RecordAnswer | None = None,
    ) -> None:
        """Remove an endpoint; what still waited for it is cancelled (kept in the log)."""
        require_operator(actor, "remove webhooks")
        entry = LogEntry(
            at=self._clock(), outcome="cancelled", detail=f"endpoint removed by {actor.id}"
        )

        async def work(uow: UnitOfWork) -> None:
            await Deliveries(uow.db, uow.session).cancel_waiting(str(endpoint_id), entry)
            if not await Endpoints(uow.db, uow.session).remove(endpoint_id):
                # inside, so that nothing is kept: no answer to a key, no cancellation
                raise NotFound(f"no webhook endpoint {endpoint_id}")
            await _audit(uow, actor, "delete_webhook", endpoint_id)

        await self._transactions.run(
            work, correlation_id=correlation_id, record_answer=record_answer
        )

    async def get(self, actor: Actor, endpoint_id: uuid.UUID) -> Endpoint:
        require_operator(actor, "read webhooks")
        return await _existing(Endpoints(self._db), endpoint_id)

    async def all(self, actor: Actor) -> list[Endpoint]:
        require_operator(actor, "read webhooks")
        return await Endpoints(self._db).all()

    async def deliveries(
        self, actor: Actor, endpoint_id: uuid.UUID, status: Status | None, *, skip: int, limit: int
    ) -> tuple[list[NotificationDelivery], int]:
        """One page of the endpoint's delivery log, newest first, and its length."""
        await self.get(actor, endpoint_id)
        query: Document = {"recipient_id": str(endpoint_id), "channel": "webhook"}
        if status is not None:
            query["status"] = status.value
        return await Deliveries(self._db).search(query, skip=skip, limit=limit)

    async def redeliver(
        self,
        actor: Actor,
        endpoint_id: uuid.UUID,
        event_id: uuid.UUID,
        correlation_id: str,
        record_answer: RecordAnswer | None = None,
    ) -> NotificationDelivery:
        """Send one event to the endpoint again, as a new delivery with its own id."""
        await self.get(actor, endpoint_id)

        async def work(uow: UnitOfWork) -> NotificationDelivery:
            repository = Deliveries(uow.db, uow.session)
            earlier = await repository.of_recipient_and_event(str(endpoint_id), event_id, "webhook")
            if not earlier:
                raise NotFound(
                    f"endpoint {endpoint_id} was never sent event {event_id}; only events "
                    "it was sent can be redelivered"
                )
            again = deliveries.redelivery(earlier[0], actor.id, self._clock())
            await repository.insert(again)
            await _audit(
                uow, actor, "redeliver_webhook", endpoint_id, event_id=event_id, delivery=again.id
            )
            return again

        return await self._run_and_wake(
            work, correlation_id=correlation_id, record_answer=record_answer
        )

    async def _save(
        self,
        actor: Actor,
        endpoint: Endpoint,
        correlation_id: str,
        record_answer: RecordAnswer | None = None,
    ) -> Endpoint:
        async def work(uow: UnitOfWork) -> Endpoint:
            await Endpoints(uow.db, uow.session).save(endpoint)
            await _audit(
                uow,
                actor,
                "create_webhook",
                endpoint.id,
                # the host alone: a path or query may hold a token
                host=urlsplit(endpoint.url).hostname,
                events=list(endpoint.events),
            )
            return endpoint

        return await self._transactions.run(
            work, correlation_id=correlation_id, record_answer=record_answer
        )


class DeliveryLog(_Operations):
    """Who was sent what, when, through which channel, and how each attempt went."""

    async def search(
        self,
        actor: Actor,
        *,
        recipient_id: str | None,
        channel: DeliveryChannel | None,
        status: Status | None,
        event_id: uuid.UUID | None,
        skip: int,
        limit: int,
    ) -> tuple[list[NotificationDelivery], int]:
        """One page of the log and its length: city officers read every log, anybody
        else only their own deliveries."""
        if recipient_id not in (None, actor.id):
            require_operator(actor, "read other people's deliveries")
        if recipient_id is None and actor.role not in OPERATOR_ROLES:
            recipient_id = actor.id
        query: Document = {}
        for name, value in (
            ("recipient_id", recipient_id),
            ("channel", channel),
            ("status", status.value if status else None),
            ("event_id", event_id),
        ):
            if value is not None:
                query[name] = value
        if actor.role not in OPERATOR_ROLES:  # a webhook's recipient id is its endpoint's
            query["channel"] = {"$ne": "webhook"} if channel is None else channel
            if channel == "webhook":
                return [], 0
        return await Deliveries(self._db).search(query, skip=skip, limit=limit)

    async def get(self, actor: Actor, delivery_id: uuid.UUID) -> NotificationDelivery:
        found = await Deliveries(self._db).get(delivery_id)
        # someone else's delivery is as unknown as one that never was (not a 403)
        if found is None or not found.visible_to(actor):
            raise deliveries.no_delivery(delivery_id)
        return found

    async def retry(
        self,
        actor: Actor,
        delivery_id: uuid.UUID,
        correlation_id: str,
        record_answer: RecordAnswer | None = None,
    ) -> NotificationDelivery:
        """Try a failed delivery again (say, once the person's address is fixed)."""
        require_operator(actor, "retry deliveries")
        entry = LogEntry(at=self._clock(), outcome="retrying", detail=f"retry asked by {actor.id}")

        async def work(uow: UnitOfWork) -> NotificationDelivery:
            repository = Deliveries(uow.db, uow.session)
            if not await repository.retry_now(delivery_id, entry, self._clock()):
                found = await repository.get(delivery_id)
                if found is None:
                    raise deliveries.no_delivery(delivery_id)
                raise Conflict(
                    f"delivery {delivery_id} is {found.status.value}; only a failed "
                    "delivery can be retried"
                )
            found = await repository.get(delivery_id)
            assert found is not None
            await uow.audit(actor, "retry_delivery", "delivery", delivery_id)
            return found

        return await self._run_and_wake(
            work, correlation_id=correlation_id, record_answer=record_answer
        )


def secret_fingerprint(secret: EndpointSecret) -> str:
    """Tells one stored secret from another: a digest of its encrypted form (random per
    sealing), which says nothing of the secret itself."""
    return hashlib.sha256(secret.sealed.encode()).hexdigest()


async def _audit(
    uow: UnitOfWork, actor: Actor, action: str, endpoint_id: uuid.UUID, **details: object
) -> None:
    await uow.audit(actor, action, "webhook_endpoint", endpoint_id, details=details)


def _check_room(existing: list[Endpoint], actor: Actor) -> None:
    owned = sum(1 for e in existing if e.created_by == actor.id)
    if owned >= MAX_ENDPOINTS_PER_OWNER:
        raise Conflict(
            f"you registered {owned} webhook endpoints, the most one person may; "
            "remove one you no longer use"
        )
    if len(existing) >= MAX_ENDPOINTS:
        raise Conflict(f"{len(existing)} webhook endpoints are registered, the most there may be")


async def _existing(endpoints: Endpoints, endpoint_id: uuid.UUID) -> Endpoint:
    found = await endpoints.get(endpoint_id)
    if found is None:
        raise NotFound(f"no webhook endpoint {endpoint_id}")
    return found


def _check(endpoint: Endpoint) -> None:
    problem = problem_with_filter(endpoint.events, NOTIFIED_EVENTS)
    if problem:
        raise Unprocessable(problem)
