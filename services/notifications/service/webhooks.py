"""Use cases of webhook endpoints and of the delivery log (city officers operate them)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from services.notifications.adapters.deliveries import Deliveries
from services.notifications.adapters.endpoints import Endpoints
from services.notifications.domain import deliveries
from services.notifications.domain.deliveries import (
    DeliveryChannel,
    LogEntry,
    NotificationDelivery,
    Status,
)
from services.notifications.domain.webhooks import (
    Endpoint,
    problem_with_filter,
    problem_with_secret,
    problem_with_url,
)
from services.notifications.service.handlers import NOTIFIED_EVENTS
from services.notifications.service.people import require_operator
from shared.clock import Clock, utc_now
from shared.errors import Conflict, NotFound, Unprocessable
from shared.identity import OPERATOR_ROLES, Actor
from shared.storage.mongo import Database, Document
from shared.storage.unit_of_work import Transactions, UnitOfWork
from shared.web.idempotency import RecordAnswer

T = TypeVar("T")


class EndpointSettings(BaseModel):
    """What an operator sets on an endpoint; on a change, fields left out stay."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, examples=["https://dashboard.jambikota.go.id/hooks/berdaya"])
    events: list[str] = Field(
        min_length=1, max_length=50, examples=[["proposal.*", "work.completed"]]
    )
    secret: str | None = Field(
        default=None, max_length=200, description="at least 16 characters; generated if left out"
    )
    description: str = Field(default="", max_length=500)


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
        correlation_id: str,
        record_answer: RecordAnswer | None = None,
    ) -> T:
        """Run `work` in a transaction (with the Idempotency-Key's record, if any); once
        it committed, wake the dispatcher."""
        done = await self._transactions.run(
            record_answer(work) if record_answer else work, correlation_id=correlation_id
        )
        self._on_due()
        return done


class WebhookCommands(_Operations):
    async def register(
        self,
        actor: Actor,
        wanted: EndpointSettings,
        correlation_id: str,
        record_answer: RecordAnswer | None = None,
    ) -> Endpoint:
        require_operator(actor, "register webhooks")
        now = self._clock()
        endpoint = Endpoint(
            id=uuid.uuid4(),
            url=wanted.url,
            events=tuple(wanted.events),
            secret=wanted.secret or secrets.token_urlsafe(32),
            description=wanted.description,
            created_by=actor.id,
            created_at=now,
            updated_at=now,
        )
        _check(endpoint)
        await self._save(endpoint, correlation_id, record_answer)
        return endpoint

    async def change(
        self, actor: Actor, endpoint_id: uuid.UUID, changes: Document, correlation_id: str
    ) -> Endpoint:
        """`changes`: any of url, events, secret, description (None: unchanged).

        Read and written in one transaction, and only the changed fields are written: an
        edit never undoes a disable (by an operator or after failures) that came first."""
        require_operator(actor, "change webhooks")
        changes = {name: value for name, value in changes.items() if value is not None}
        if "events" in changes:
            changes["events"] = tuple(changes["events"])
        now = self._clock()

        async def work(uow: UnitOfWork) -> Endpoint:
            endpoints = Endpoints(uow.db, uow.session)
            current = await _existing(endpoints, endpoint_id)
            endpoint = current.model_copy(update={**changes, "updated_at": now})
            _check(endpoint)
            await endpoints.update(endpoint, [*changes, "updated_at"])
            return endpoint

        return await self._transactions.run(work, correlation_id=correlation_id)

    async def set_enabled(
        self, actor: Actor, endpoint_id: uuid.UUID, enabled: bool, correlation_id: str
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
            return endpoint

        return await self._run_and_wake(work, correlation_id)

    async def remove(self, actor: Actor, endpoint_id: uuid.UUID, correlation_id: str) -> None:
        """Remove an endpoint; what still waited for it is cancelled (kept in the log)."""
        require_operator(actor, "remove webhooks")
        entry = LogEntry(
            at=self._clock(), outcome="cancelled", detail=f"endpoint removed by {actor.id}"
        )

        async def work(uow: UnitOfWork) -> bool:
            await Deliveries(uow.db, uow.session).cancel_waiting(str(endpoint_id), entry)
            return await Endpoints(uow.db, uow.session).remove(endpoint_id)

        if not await self._transactions.run(work, correlation_id=correlation_id):
            raise NotFound(f"no webhook endpoint {endpoint_id}")

    async def get(self, actor: Actor, endpoint_id: uuid.UUID) -> Endpoint:
        require_operator(actor, "read webhooks")
        return await _existing(Endpoints(self._db), endpoint_id)

    async def all(self, actor: Actor) -> list[Endpoint]:
        require_operator(actor, "read webhooks")
        return await Endpoints(self._db).all()

    async def deliveries(
        self, actor: Actor, endpoint_id: uuid.UUID, status: Status | None, limit: int
    ) -> list[NotificationDelivery]:
        """The endpoint's delivery log, newest first."""
        await self.get(actor, endpoint_id)
        query: Document = {"recipient_id": str(endpoint_id), "channel": "webhook"}
        if status is not None:
            query["status"] = status.value
        return await Deliveries(self._db).search(query, limit)

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
            return again

        return await self._run_and_wake(work, correlation_id, record_answer)

    async def _save(
        self, endpoint: Endpoint, correlation_id: str, record_answer: RecordAnswer | None = None
    ) -> Endpoint:
        async def work(uow: UnitOfWork) -> Endpoint:
            await Endpoints(uow.db, uow.session).save(endpoint)
            return endpoint

        return await self._transactions.run(
            record_answer(work) if record_answer else work, correlation_id=correlation_id
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
        limit: int,
    ) -> list[NotificationDelivery]:
        """City officers read every log; anybody else only their own deliveries."""
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
        return await Deliveries(self._db).search(query, limit)

    async def get(self, actor: Actor, delivery_id: uuid.UUID) -> NotificationDelivery:
        found = await Deliveries(self._db).get(delivery_id)
        if found is None:
            raise NotFound(f"no delivery {delivery_id}")
        if found.recipient_id != actor.id:
            require_operator(actor, "read other people's deliveries")
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
                    raise NotFound(f"no delivery {delivery_id}")
                raise Conflict(
                    f"delivery {delivery_id} is {found.status.value}; only a failed "
                    "delivery can be retried"
                )
            found = await repository.get(delivery_id)
            assert found is not None
            return found

        return await self._run_and_wake(work, correlation_id, record_answer)


async def _existing(endpoints: Endpoints, endpoint_id: uuid.UUID) -> Endpoint:
    found = await endpoints.get(endpoint_id)
    if found is None:
        raise NotFound(f"no webhook endpoint {endpoint_id}")
    return found


def _check(endpoint: Endpoint) -> None:
    problem = (
        problem_with_url(endpoint.url)
        or problem_with_filter(endpoint.events, NOTIFIED_EVENTS)
        or problem_with_secret(endpoint.secret)
    )
    if problem:
        raise Unprocessable(problem)
