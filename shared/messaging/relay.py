"""The outbox relay: publishes committed events, with confirms, exactly once per row."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta

from shared.logs import get_logger
from shared.messaging.publisher import EventPublisher
from shared.metrics import EVENTS_PUBLISHED, OUTBOX_PENDING, PUBLISH_FAILURES
from shared.storage import outbox
from shared.storage.mongo import Database, Document

log = get_logger(__name__)
MAX_RETRY_DELAY = timedelta(minutes=5)
# How long stop() lets a publish cycle in flight finish before cancelling it, and how
# long it then spends publishing what is still pending.
STOP_GRACE_SECONDS = 5.0
DRAIN_SECONDS = 5.0


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff: 1 s, 2 s, 4 s … capped at five minutes."""
    return min(timedelta(seconds=2 ** max(attempts - 1, 0)), MAX_RETRY_DELAY)


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        publisher: EventPublisher,
        service: str,
        *,
        poll_seconds: float,
        lease_seconds: float,
        batch_size: int,
    ) -> None:
        self._db = db
        self._publisher = publisher
        self._service = service
        self._poll_seconds = poll_seconds
        self._lease = timedelta(seconds=lease_seconds)
        self._batch_size = batch_size
        self._owner = f"{service}-{uuid.uuid4()}"
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def nudge(self) -> None:
        """A transaction committed events: publish now rather than at the next poll."""
        self._wake.set()

    async def relay_once(self) -> int:
        """Publish up to one batch; return how many rows were confirmed."""
        rows = await outbox.claim(self._db, self._owner, self._lease, self._batch_size)
        # Published together: the confirms come back pipelined on one channel
        # instead of one round trip per event.
        outcomes = await asyncio.gather(
            *(self._publish(row) for row in rows), return_exceptions=True
        )
        sent = [row["_id"] for row, outcome in zip(rows, outcomes, strict=True) if outcome is None]
        await outbox.mark_sent(self._db, sent)
        for row, outcome in zip(rows, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                await self._after_failure(row, outcome)
        return len(sent)

    async def _publish(self, row: Document) -> None:
        await self._publisher.publish(
            row["type"], row["body"], event_id=row["_id"], correlation_id=row["correlation_id"]
        )
        EVENTS_PUBLISHED.labels(self._service, row["type"]).inc()

    async def _after_failure(self, row: Document, error: BaseException) -> None:
        """The broker said no or is away: try this row again later, with backoff."""
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
            self._db, row["_id"], row["lease_owner"], repr(error), retry_delay(row["attempts"])
        )

    async def run(self) -> None:
        while not self._stopping:
            self._wake.clear()  # before the cycle: a nudge during it is not lost
            try:
                published = await self.relay_once()
                OUTBOX_PENDING.labels(self._service).set(await outbox.count_pending(self._db))
            except Exception as error:  # MongoDB away: keep the loop alive
                log.warning("outbox relay cycle failed", error=repr(error))
                published = 0
            if published == self._batch_size:
                continue  # more are waiting
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel
            # that arrives as a nudge completes the wait, and stop() then waits forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_seconds):
                    await self._wake.wait()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self.run(), name=f"{self._service}-outbox-relay")

    async def stop(self, *, drain: bool = False) -> None:
        """Stop the loop; with `drain`, first publish what is pending (a stopping
        service's last events go out now, not when some replica next polls)."""
        if self._task is None:
            return
        # Let a cycle in flight finish: cancelling a publish that waits for its confirm
        # closes the AMQP channel under everyone sharing the connection (the consumers).
        self._stopping = True
        self._wake.set()
        _, pending = await asyncio.wait({self._task}, timeout=STOP_GRACE_SECONDS)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None
        if drain:
            await self._drain()

    async def _drain(self) -> None:
        published = 0
        try:
            async with asyncio.timeout(DRAIN_SECONDS):
                while sent := await self.relay_once():
                    published += sent
        except Exception as error:  # the broker or MongoDB went away: the rows wait
            log.warning("outbox not drained; the rows wait for the next relay", error=repr(error))
        log.info("outbox drained", published=published)
