"""Consuming events: validate, deduplicate, handle in a transaction, ack after commit.

Every subscriber of every service goes through `EventConsumers.on`, registered by
the payload model it handles, so the rules hold everywhere:
- a body that is not a valid event of the queue's type is dead-lettered with the
  reason and acked (never requeued forever, never dropped);
- an event whose publisher is not its producer (the envelope's `producer`, and the
  AMQP `user_id` the broker vouches for — shared/messaging/trust.py) is dead-lettered;
- an older version of the event is upcast to the handler's model first;
- the handler's effect, its emitted events and the inbox record commit together;
  a duplicate is acked and skipped;
- an event the domain rules refuse (a DomainError) is dead-lettered at once;
- MongoDB or RabbitMQ being away (unreachable, no primary, timeouts) is not the
  handler's failure: the event is kept and tried again with backoff — consumption
  pauses — and none of its attempts is spent;
- a handler that fails otherwise is retried later: a copy goes to a retry queue
  (10 s, 1 min, 5 min… — `BERDAYA_RETRY_DELAYS_SECONDS`) carrying its count of failed
  attempts in a header, confirmed by the broker before the original is acked; after
  `max_delivery_attempts` it is dead-lettered with the last error as the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import aiormq.exceptions
from faststream.middlewares import AckPolicy
from faststream.rabbit import RabbitBroker, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage
from opentelemetry.trace import Tracer
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

from shared.clock import format_timestamp, utc_now
from shared.contracts.envelope import InvalidEvent, ReceivedEvent
from shared.contracts.registry import EventContract, contract_of
from shared.contracts.types import Contract
from shared.errors import DomainError
from shared.logs import correlation_scope, get_logger
from shared.messaging import headers, trust
from shared.messaging.topology import Topology
from shared.metrics import (
    CONSUMPTION_PAUSED,
    DEAD_LETTERED,
    EVENTS_CONSUMED,
    EVENTS_REDELIVERED,
    HANDLER_SECONDS,
)
from shared.settings import ServiceSettings
from shared.storage import inbox
from shared.storage.unit_of_work import Transactions, UnitOfWork
from shared.tracing import NO_TRACER, span
from shared.workers import backoff

log = get_logger(__name__)
# True while `faststream docs gen` builds a service (see shared.runtime.documented_app).
DOCUMENTING: ContextVar[bool] = ContextVar("documenting", default=False)

M = TypeVar("M", bound=Contract)
EventHandler = Callable[[ReceivedEvent[M], UnitOfWork], Awaitable[None]]

# While MongoDB or RabbitMQ is away, an event is tried again after these waits.
OUTAGE_FIRST_WAIT = 0.5
OUTAGE_LONGEST_WAIT = 10.0
# A publish that failed while the channel still works (the broker refused it): the
# event goes back to its queue after this pause, not in a tight loop.
REQUEUE_PAUSE = 1.0
# MongoDB server errors that mean "not now" rather than "not this": no primary, a
# node shutting down or stepping down, unreachable, timeouts.
UNAVAILABLE_CODES = frozenset({6, 7, 64, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})
UNAVAILABLE_LABELS = ("TransientTransactionError", "RetryableWriteError")


def is_outage(error: BaseException) -> bool:
    """True if `error` says MongoDB or RabbitMQ is unavailable, not that the handler
    failed: connection failures, no primary, timeouts, a broker connection gone.

    A handler's own `ConnectionError` (a city system that does not answer) is a
    failure of the handler, retried with its attempts counted."""
    for found in (error, error.__cause__):
        if isinstance(found, ConnectionFailure):  # AutoReconnect, NotPrimaryError, …
            return True
        if isinstance(found, OperationFailure) and found.code in UNAVAILABLE_CODES:
            return True
        if isinstance(found, PyMongoError) and (
            found.timeout  # a transaction out of time (contention) is not the handler's fault
            or any(found.has_error_label(label) for label in UNAVAILABLE_LABELS)
        ):
            return True
        if isinstance(
            found,
            aiormq.exceptions.AMQPConnectionError | aiormq.exceptions.ChannelInvalidStateError,
        ):
            return True
    return False


@dataclass(frozen=True)
class _Subscription:
    contract: EventContract[Any]
    handler: EventHandler[Any]
    handler_name: str

    @property
    def event_type(self) -> str:
        return self.contract.event_type


class EventConsumers:
    def __init__(
        self,
        broker: RabbitBroker,
        topology: Topology,
        transactions: Transactions,
        settings: ServiceSettings,
        tracer: Tracer = NO_TRACER,
    ) -> None:
        self._broker = broker
        self._tracer = tracer
        self._topology = topology
        self._transactions = transactions
        self._service = settings.service_name
        self._user = settings.amqp_user
        # guest is every service at once in development: only the envelope is checked
        self._checks_users = settings.amqp_user != trust.DEVELOPMENT_USER
        self._max_attempts = settings.max_delivery_attempts
        self._max_bytes = settings.max_message_bytes
        self._stopping = asyncio.Event()
        self.queues: list[str] = []
        self.subscribed: list[RabbitQueue] = []

    def on(self, model: type[M], handler: EventHandler[M]) -> None:
        """Subscribe `handler` to the event whose payload is `model`, through this
        service's own quorum queue for that event type.

        Every version of the event up to `model`'s arrives there; older ones are upcast
        to `model` before `handler` sees them (a missing upcaster fails here, at start).
        """
        contract = contract_of(model)
        contract.registry.check_upcastable(contract)
        event_type = contract.event_type
        queue = self._topology.event_queue(self._service, event_type)
        subscription = _Subscription(contract, handler, f"{self._service}:{event_type}")

        async def consume(message: RabbitMessage) -> None:
            await self._process(subscription, message)

        if DOCUMENTING.get():
            # FastStream documents a subscriber's payload from its handler's signature,
            # but validating in FastStream would reject a bad body before it can be
            # dead-lettered with a reason. So the running handler takes the raw message
            # and the AsyncAPI document is built from this typed twin, which never runs.
            async def consume(body: Any) -> None:  # type: ignore[misc]
                raise AssertionError("documentation only")

            consume.__annotations__["body"] = contract.message_model

        self._broker.subscriber(
            queue,
            self._topology.events_exchange,
            ack_policy=AckPolicy.MANUAL,
            decoder=_raw_body,
            title=f"{queue.name}:consume",
            description=contract.summary,
        )(consume)
        self.queues.append(queue.name)
        self.subscribed.append(queue)

    def stop(self) -> None:
        """Stop waiting out outages: events kept for one go back to their queues."""
        self._stopping.set()

    def restart(self) -> None:
        self._stopping.clear()

    async def _process(self, subscription: _Subscription, message: Any) -> None:
        event_type = subscription.event_type
        if message.raw_message.redelivered:
            EVENTS_REDELIVERED.labels(self._service, event_type).inc()
        registry = subscription.contract.registry
        try:
            parsed = registry.parse(message.body, max_bytes=self._max_bytes)
            if parsed.envelope.type != event_type:
                raise InvalidEvent(f"{parsed.envelope.type} arrived on the queue for {event_type}")
            self._check_publisher(parsed.envelope.producer, subscription, message)
            event = registry.upcast(parsed, subscription.contract.data_model)
        except InvalidEvent as error:
            kind = "untrusted" if isinstance(error, trust.UntrustedPublisher) else "invalid"
            await self._dead_letter(message, event_type, error.reason, kind=kind, attempts=1)
            return

        envelope = event.envelope
        with (
            correlation_scope(
                envelope.correlation_id, event_id=str(envelope.event_id), event_type=event_type
            ),
            # Inside FastStream's consumer span, which took the trace context from the
            # message headers (shared/tracing.py): the handler and its transaction.
            span(
                self._tracer,
                f"handle {event_type}",
                attributes={
                    "berdaya.handler": subscription.handler_name,
                    "berdaya.event_type": event_type,
                    "messaging.message.id": str(envelope.event_id),
                    "messaging.message.conversation_id": envelope.correlation_id,
                },
            ),
        ):
            await self._handle(event, subscription, message)

    def _check_publisher(self, producer: str, subscription: _Subscription, message: Any) -> None:
        raw = message.raw_message
        refusal = trust.publisher_refusal(
            subscription.event_type,
            declared_producer=producer,
            catalogue_producer=subscription.contract.producer,
            publisher=trust.vouched_publisher(raw.user_id, raw.headers, self._user),
            checks_users=self._checks_users,
        )
        if refusal is not None:
            raise trust.UntrustedPublisher(refusal)

    async def _handle(
        self, event: ReceivedEvent[Contract], subscription: _Subscription, message: Any
    ) -> None:
        event_type = subscription.event_type

        async def work(uow: UnitOfWork) -> None:
            await inbox.record(uow.db, uow.session, subscription.handler_name, event.envelope)
            await subscription.handler(event, uow)

        outages = 0  # attempts lost to an outage so far: they spend no delivery attempt
        while True:
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
                await self._ack(message)
                return
            except Exception as error:
                if not is_outage(error):
                    await self._after_failure(message, event_type, error)
                    return
                outages += 1
                wait = backoff(outages, first=OUTAGE_FIRST_WAIT, cap=OUTAGE_LONGEST_WAIT)
                if not await self._wait_out_outage(event_type, error, wait):
                    return  # stopping: unacked, the event goes back to its queue
                continue
            break
        HANDLER_SECONDS.labels(self._service, event_type).observe(time.perf_counter() - started)
        EVENTS_CONSUMED.labels(self._service, event_type, "handled").inc()
        log.debug("event handled")  # metrics count these; logging each costs throughput
        await self._ack(message)

    async def _wait_out_outage(self, event_type: str, error: Exception, wait: float) -> bool:
        """Keep the event while a dependency is away; False if the service is stopping."""
        CONSUMPTION_PAUSED.labels(self._service, event_type).inc()
        log.warning(
            "MongoDB or RabbitMQ unavailable: the event waits and is tried again; no attempt spent",
            error=f"{type(error).__name__}: {error}"[:300],
            retry_in_seconds=wait,
        )
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self._stopping.wait()
        return not self._stopping.is_set()

    async def _after_failure(self, message: Any, event_type: str, error: Exception) -> None:
        failed = failed_attempts(message) + 1
        if failed >= self._max_attempts:
            reason = f"handler failed {failed} times, last error: {error!r}"
            await self._dead_letter(message, event_type, reason, kind="failing", attempts=failed)
            return
        route = self._topology.retry_route(self._service, failed)
        raw = message.raw_message
        queue = self._topology.queue_name(self._service, event_type)
        published = await self._publish_then_ack(
            message,
            what="retry copy",
            body=message.body,
            exchange=route.exchange,
            # the retry queue dead-letters it by this key through the default
            # exchange: straight back to this work queue, no other service sees it
            routing_key=queue,
            headers={
                **_carried_headers(raw.headers),
                headers.FAILED_ATTEMPTS: failed,
                headers.LAST_ERROR: repr(error)[:500],
            },
        )
        if published:
            EVENTS_CONSUMED.labels(self._service, event_type, "retried").inc()
            log.warning(
                "handler failed; will retry",
                attempts=failed,
                retry_in_seconds=route.delay_seconds,
                error=repr(error),
            )

    async def _dead_letter(
        self, message: Any, event_type: str, reason: str, *, kind: str, attempts: int
    ) -> None:
        raw = message.raw_message
        published = await self._publish_then_ack(
            message,
            what="dead letter",
            body=message.body,
            exchange=self._topology.dead_letter_exchange,
            routing_key=self._service,
            headers={
                **_carried_headers(raw.headers),
                headers.DEAD_LETTER_REASON: reason,
                headers.ORIGINAL_QUEUE: self._topology.queue_name(self._service, event_type),
                # the event type: after a retry round it came back by the queue's name
                headers.ORIGINAL_ROUTING_KEY: event_type,
                headers.DEAD_LETTERED_AT: format_timestamp(utc_now()),
                headers.ATTEMPTS: attempts,
            },
        )
        if not published:
            return
        DEAD_LETTERED.labels(self._service, event_type, kind).inc()
        EVENTS_CONSUMED.labels(self._service, event_type, "dead_lettered").inc()
        log.warning(
            "message dead-lettered",
            reason=reason,
            message_id=raw.message_id,
            correlation_id=raw.correlation_id,
        )

    async def _publish_then_ack(
        self, message: Any, *, what: str, body: bytes, **publish: Any
    ) -> bool:
        """Publish a copy of `message` (confirmed), then ack the original.

        Acked only once the copy is confirmed: a crash or an outage in between leaves
        the original on its queue, so nothing is lost (at worst it is handled again,
        and the inbox makes that harmless)."""
        raw = message.raw_message
        first_publisher = trust.vouched_publisher(raw.user_id, raw.headers, self._user)
        publish["headers"] = {**publish["headers"], headers.VOUCHED_PUBLISHER: first_publisher}
        try:
            await self._broker.publish(
                body,
                message_id=raw.message_id,
                correlation_id=raw.correlation_id,
                message_type=raw.type,
                content_type=raw.content_type,
                user_id=self._user,
                persist=True,
                mandatory=True,
                **publish,
            )
        except Exception as error:
            log.warning(
                f"{what} not published; the event goes back to its queue",
                error=f"{type(error).__name__}: {error}"[:300],
            )
            await asyncio.sleep(REQUEUE_PAUSE)
            with contextlib.suppress(Exception):  # a closed channel hands it back anyway
                await message.reject(requeue=True)
            return False
        await self._ack(message)
        return True

    async def _ack(self, message: Any) -> None:
        try:
            await message.ack()
        except Exception as error:
            # The channel is gone (the broker restarted): RabbitMQ delivers the event
            # again and the inbox skips what was done.
            log.warning(
                "ack failed; the event will be delivered again and skipped as a duplicate",
                error=f"{type(error).__name__}: {error}"[:300],
            )


async def _raw_body(message: Any) -> bytes:
    """Hand the handler the bytes: the envelope is validated by the registry, not by
    FastStream, so that a body that is not even JSON is dead-lettered with a reason."""
    body: bytes = message.body
    return body


def failed_attempts(message: Any) -> int:
    """How often the handler has failed on this event before (from its header)."""
    value = (message.raw_message.headers or {}).get(headers.FAILED_ATTEMPTS, 0)
    return value if isinstance(value, int) and value >= 0 else 0


def _carried_headers(found: dict[str, Any] | None) -> dict[str, Any]:
    """The original headers, less RabbitMQ's own bookkeeping of earlier rounds."""
    dropped = {headers.DELIVERY_COUNT, headers.FAILED_ATTEMPTS, headers.LAST_ERROR}
    return {k: v for k, v in (found or {}).items() if k not in dropped}
