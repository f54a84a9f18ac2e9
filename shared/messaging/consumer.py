"""Consuming events: validate, deduplicate, handle in a transaction, ack after commit.

Every subscriber of every service goes through `EventConsumers.on`, so the rules
hold everywhere:
- a body that is not a valid event of the queue's type is dead-lettered with the
  reason and acked (never requeued forever, never dropped);
- the handler's effect, its emitted events and the inbox record commit together;
  a duplicate is acked and skipped;
- an event the domain rules refuse (a DomainError) is dead-lettered at once;
- a handler that keeps failing is retried with backoff, then dead-lettered with
  the error as the reason after `max_delivery_attempts`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from faststream.middlewares import AckPolicy
from faststream.rabbit import RabbitBroker
from faststream.rabbit.annotations import RabbitMessage

from shared.contracts import InvalidEvent, ReceivedEvent, parse_event
from shared.contracts.catalogue import CATALOGUE
from shared.errors import DomainError
from shared.logs import correlation_scope, get_logger
from shared.messaging import headers
from shared.messaging.topology import Topology
from shared.metrics import DEAD_LETTERED, EVENTS_CONSUMED, EVENTS_REDELIVERED, HANDLER_SECONDS
from shared.settings import ServiceSettings
from shared.storage import inbox
from shared.storage.unit_of_work import Transactions, UnitOfWork

log = get_logger(__name__)
# True while `faststream docs gen` builds a service (see shared.runtime.documented_app).
DOCUMENTING: ContextVar[bool] = ContextVar("documenting", default=False)

EventHandler = Callable[[ReceivedEvent, UnitOfWork], Awaitable[None]]


class EventConsumers:
    def __init__(
        self,
        broker: RabbitBroker,
        topology: Topology,
        transactions: Transactions,
        settings: ServiceSettings,
    ) -> None:
        self._broker = broker
        self._topology = topology
        self._transactions = transactions
        self._service = settings.service_name
        self._max_attempts = settings.max_delivery_attempts
        self._max_bytes = settings.max_message_bytes
        self.queues: list[str] = []

    def on(self, event_type: str, handler: EventHandler) -> None:
        """Subscribe `handler` to `event_type` through this service's own quorum queue."""
        contracts = [c for (t, _), c in CATALOGUE.items() if t == event_type]
        if not contracts:
            raise LookupError(f"{event_type} is not in the event catalogue")
        queue = self._topology.event_queue(self._service, event_type)
        handler_name = f"{self._service}:{event_type}"

        async def consume(message: RabbitMessage) -> None:
            await self._process(event_type, handler_name, handler, message)

        if DOCUMENTING.get():
            # FastStream documents a subscriber's payload from its handler's signature,
            # but validating in FastStream would reject a bad body before it can be
            # dead-lettered with a reason. So the running handler takes the raw message
            # and the AsyncAPI document is built from this typed twin, which never runs.
            async def consume(body: Any) -> None:  # type: ignore[misc]
                raise AssertionError("documentation only")

            consume.__annotations__["body"] = contracts[-1].message_model

        self._broker.subscriber(
            queue,
            self._topology.events_exchange,
            ack_policy=AckPolicy.MANUAL,
            decoder=_raw_body,
            title=f"{queue.name}:consume",
            description=contracts[-1].summary,
        )(consume)
        self.queues.append(queue.name)

    async def _process(
        self, event_type: str, handler_name: str, handler: EventHandler, message: Any
    ) -> None:
        if message.raw_message.redelivered:
            EVENTS_REDELIVERED.labels(self._service, event_type).inc()
        try:
            event = parse_event(message.body, max_bytes=self._max_bytes)
            if event.envelope.type != event_type:
                raise InvalidEvent(f"{event.envelope.type} arrived on the queue for {event_type}")
        except InvalidEvent as error:
            await self._dead_letter(message, event_type, error.reason, kind="invalid", attempts=1)
            return

        with correlation_scope(
            event.envelope.correlation_id,
            event_id=str(event.envelope.event_id),
            event_type=event_type,
        ):
            await self._handle(event, handler_name, handler, message)

    async def _handle(
        self, event: ReceivedEvent, handler_name: str, handler: EventHandler, message: Any
    ) -> None:
        event_type = event.envelope.type

        async def work(uow: UnitOfWork) -> None:
            await inbox.record(uow.db, uow.session, handler_name, event.envelope)
            await handler(event, uow)

        started = time.perf_counter()
        try:
            await self._transactions.run(
                work,
                correlation_id=event.envelope.correlation_id,
                causation_id=str(event.envelope.event_id),
            )
        except DomainError as refused:
            # The rules refuse this event; retrying cannot change that.
            await self._dead_letter(
                message, event_type, f"refused: {refused.message}", kind="refused", attempts=1
            )
            return
        except inbox.AlreadyHandled:
            EVENTS_CONSUMED.labels(self._service, event_type, "duplicate").inc()
            log.info("duplicate event skipped")
            await message.ack()
            return
        except Exception as error:
            await self._after_failure(message, event_type, error)
            return
        HANDLER_SECONDS.labels(self._service, event_type).observe(time.perf_counter() - started)
        EVENTS_CONSUMED.labels(self._service, event_type, "handled").inc()
        log.debug("event handled")  # metrics count these; logging each costs throughput
        await message.ack()

    async def _after_failure(self, message: Any, event_type: str, error: Exception) -> None:
        attempts = _delivery_count(message) + 1
        if attempts >= self._max_attempts:
            reason = f"handler failed {attempts} times, last error: {error!r}"
            await self._dead_letter(message, event_type, reason, kind="failing", attempts=attempts)
            return
        EVENTS_CONSUMED.labels(self._service, event_type, "retried").inc()
        log.warning("handler failed; will retry", attempts=attempts, error=repr(error))
        # Back off before handing the message back, so a failing dependency is
        # not hammered; the delivery count grows with each requeue.
        await asyncio.sleep(min(0.2 * 2 ** (attempts - 1), 5.0))
        # reject, not nack: from RabbitMQ 4.3 only a reject (or a failed delivery)
        # raises x-delivery-count, which bounds the attempts here and at the broker.
        await message.reject(requeue=True)

    async def _dead_letter(
        self, message: Any, event_type: str, reason: str, *, kind: str, attempts: int
    ) -> None:
        raw = message.raw_message
        await self._broker.publish(
            message.body,
            exchange=self._topology.dead_letter_exchange,
            routing_key=self._service,
            headers={
                **(raw.headers or {}),
                headers.DEAD_LETTER_REASON: reason,
                headers.ORIGINAL_QUEUE: self._topology.queue_name(self._service, event_type),
                headers.ORIGINAL_ROUTING_KEY: raw.routing_key or event_type,
                headers.DEAD_LETTERED_AT: datetime.now(UTC).isoformat(),
                headers.ATTEMPTS: attempts,
            },
            message_id=raw.message_id,
            correlation_id=raw.correlation_id,
            message_type=raw.type,
            content_type=raw.content_type,
            persist=True,
            mandatory=True,
        )
        # Acked only once the dead-letter copy is confirmed: a crash in between
        # leaves the original on its queue, so nothing is lost.
        await message.ack()
        DEAD_LETTERED.labels(self._service, event_type, kind).inc()
        EVENTS_CONSUMED.labels(self._service, event_type, "dead_lettered").inc()
        log.warning(
            "message dead-lettered",
            reason=reason,
            message_id=raw.message_id,
            correlation_id=raw.correlation_id,
        )


async def _raw_body(message: Any) -> bytes:
    """Hand the handler the bytes: the envelope is validated by `parse_event`, not by
    FastStream, so that a body that is not even JSON is dead-lettered with a reason."""
    body: bytes = message.body
    return body


def _delivery_count(message: Any) -> int:
    value = (message.raw_message.headers or {}).get(headers.DELIVERY_COUNT, 0)
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else 0
