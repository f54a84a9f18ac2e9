"""The outbox relay: publishes committed events, with confirms, exactly once per row.

A relay leases the rows it publishes for a short while (`lease_seconds`, 2 s by
default) and renews the lease every `heartbeat_seconds` until the broker confirmed
them: a relay alive but slow keeps its rows, a relay killed stops renewing and any
other replica takes its rows over once the lease lapsed — within about lease + poll,
not the tens of seconds of one long lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

from opentelemetry.trace import Tracer

from shared.logs import get_logger
from shared.messaging.consumer import is_outage
from shared.messaging.publisher import EventPublisher, is_refusal
from shared.metrics import EVENTS_PUBLISHED, OUTBOX_PENDING, PUBLISH_FAILURES
from shared.storage import outbox
from shared.storage.mongo import Database, Document
from shared.tracing import NO_TRACER, TRACEPARENT, outbox_publish_span
from shared.workers import Every, PollingWorker, backoff

log = get_logger(__name__)
# A row the broker refused is tried again after 1 s, 2 s, 4 s … at most five minutes.
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 300.0
# A row whose publish failed because the broker went away (relay_once then waits for
# the connection before it claims again).
OUTAGE_RETRY = timedelta(seconds=FIRST_RETRY_SECONDS)
# A row the broker nacked (it could not take it now) waits at most this long.
REFUSED_RETRY = timedelta(seconds=10)


def retry_delay(attempts: int) -> timedelta:
    """How long a row waits after its `attempts`-th failed publish."""
    return timedelta(seconds=backoff(attempts, first=FIRST_RETRY_SECONDS, cap=MAX_RETRY_SECONDS))


def delay_after(error: BaseException, attempts: int) -> timedelta:
    """How long a row waits after its `attempts`-th publish failed with `error`."""
    if is_outage(error):
        return OUTAGE_RETRY
    if is_refusal(error):  # it passes (a leader elected, a queue drained): not minutes
        return min(retry_delay(attempts), REFUSED_RETRY)
    return retry_delay(attempts)


class OutboxRelay(PollingWorker[str]):
    """A `PollingWorker` with one lane; `stop(drain=True)` also publishes what is pending."""

    def __init__(
        self,
        db: Database,
        publisher: EventPublisher,
        service: str,
        *,
        poll_seconds: float,
        lease_seconds: float,
        heartbeat_seconds: float,
        batch_size: int,
        stop_grace_seconds: float,
        drain_seconds: float,
        tracer: Tracer = NO_TRACER,
    ) -> None:
        super().__init__(
            f"{service}-outbox-relay",
            poll_seconds=poll_seconds,
            stop_grace_seconds=stop_grace_seconds,
            lanes=("",),
        )
        self._db = db
        self._publisher = publisher
        self._service = service
        self._lease = timedelta(seconds=lease_seconds)
        self._heartbeat_seconds = heartbeat_seconds
        self._batch_size = batch_size
        self._drain_seconds = drain_seconds
        self._owner = f"{service}-{uuid.uuid4()}"
        self._gauge = Every()
        self._tracer = tracer

    async def relay_once(self) -> int:
        """Publish up to one batch; return how many rows were confirmed."""
        if not await self._publisher.connected():
            return 0  # the broker is away: the rows wait unclaimed, nothing is counted
        rows = await outbox.claim(self._db, self._owner, self._lease, self._batch_size)
        if not rows:
            return 0
        # Published together: the confirms come back pipelined on one channel
        # instead of one round trip per event.
        async with self._lease_kept(rows):
            outcomes = await asyncio.gather(
                *(self._publish(row) for row in rows), return_exceptions=True
            )
        sent = [row["_id"] for row, outcome in zip(rows, outcomes, strict=True) if outcome is None]
        await outbox.mark_sent(self._db, sent)
        for row, outcome in zip(rows, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                await self._after_failure(row, outcome)
        if any(isinstance(o, BaseException) and is_refusal(o) for o in outcomes):
            await self._renew_channel()
        return len(sent)

    async def _renew_channel(self) -> None:
        try:
            await self._publisher.renew_channel()
        except Exception as error:  # the connection went meanwhile: it restores itself
            log.warning("publishing channel not renewed", error=repr(error))

    @contextlib.asynccontextmanager
    async def _lease_kept(self, rows: list[Document]) -> AsyncIterator[None]:
        """Renew the claim's lease every heartbeat while the body runs. The renewing
        task is asked to end, not cancelled: an update already sent finishes before
        the rows are marked sent or released."""
        done = asyncio.Event()
        renewing = asyncio.create_task(
            self._renew_until(done, [row["_id"] for row in rows], rows[0]["lease_owner"])
        )
        try:
            yield
        finally:
            done.set()
            await renewing

    async def _renew_until(self, done: asyncio.Event, event_ids: list[str], token: str) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._heartbeat_seconds):
                    await done.wait()
            if done.is_set():
                return
            try:
                held = await outbox.renew(self._db, event_ids, token, self._lease)
            except Exception as error:  # MongoDB away: the next beat tries again
                log.warning("outbox lease not renewed", error=repr(error))
                continue
            if held < len(event_ids):
                # Stalled past the lease (a paused machine, MongoDB out of reach): another
                # relay took rows over and may publish them too — the same message_id,
                # which the consumers' inbox drops.
                log.warning(
                    "outbox lease lapsed on rows another relay took over",
                    lost=len(event_ids) - held,
                )

    async def _publish(self, row: Document) -> None:
        # A child of the span that wrote the row; the message carries on its trace.
        with outbox_publish_span(
            self._tracer,
            event_type=row["type"],
            event_id=row["_id"],
            traceparent=row.get(TRACEPARENT),
            written_at=row.get("seq"),
            attempts=row["attempts"],
        ):
            await self._publisher.publish(
                row["type"], row["body"], event_id=row["_id"], correlation_id=row["correlation_id"]
            )
        EVENTS_PUBLISHED.labels(self._service, row["type"]).inc()

    async def _after_failure(self, row: Document, error: BaseException) -> None:
        """The broker said no: try this row again later, with backoff. The broker away
        (connection or channel gone) is no fault of the row: it is tried again as soon
        as the broker is back, not minutes later after an outage grew its backoff."""
        PUBLISH_FAILURES.labels(self._service, row["type"]).inc()
        log.warning(
            "outbox publish failed; will retry",
            event_id=row["_id"],
            event_type=row["type"],
            attempts=row["attempts"],
            error=repr(error),
            correlation_id=row["correlation_id"],
        )
        await outbox.release_after_failure(
            self._db,
            row["_id"],
            row["lease_owner"],
            repr(error),
            delay_after(error, row["attempts"]),
        )

    async def cycle(self, lane: str) -> bool:
        published = await self.relay_once()
        if self._gauge.due():
            OUTBOX_PENDING.labels(self._service).set(await outbox.count_pending(self._db))
        return published == self._batch_size  # a full batch: more are waiting

    async def stop(self, *, drain: bool = False) -> None:
        """Stop the loop (a cycle in flight finishes: cancelling a publish that waits
        for its confirm closes the AMQP channel under everyone sharing the connection,
        the consumers too); with `drain`, then publish what is pending (a stopping
        service's last events go out now, not when some replica next polls)."""
        was_running = self.running
        await super().stop()
        if drain and was_running:
            await self._drain()

    async def _drain(self) -> None:
        published = 0
        try:
            async with asyncio.timeout(self._drain_seconds):
                while sent := await self.relay_once():
                    published += sent
        except Exception as error:  # the broker or MongoDB went away: the rows wait
            log.warning("outbox not drained; the rows wait for the next relay", error=repr(error))
        log.info("outbox drained", published=published)
