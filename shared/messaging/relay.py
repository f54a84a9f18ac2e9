"""The outbox relay: publishes committed events, with confirms, exactly once per row."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from shared.logs import get_logger
from shared.messaging.publisher import EventPublisher
from shared.metrics import EVENTS_PUBLISHED, OUTBOX_PENDING, PUBLISH_FAILURES
from shared.storage import outbox
from shared.storage.mongo import Database, Document
from shared.workers import PollingWorker, backoff

log = get_logger(__name__)
# A row the broker refused is tried again after 1 s, 2 s, 4 s … at most five minutes.
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 300.0


def retry_delay(attempts: int) -> timedelta:
    """How long a row waits after its `attempts`-th failed publish."""
    return timedelta(seconds=backoff(attempts, first=FIRST_RETRY_SECONDS, cap=MAX_RETRY_SECONDS))


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
        batch_size: int,
        stop_grace_seconds: float,
        drain_seconds: float,
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
        self._batch_size = batch_size
        self._drain_seconds = drain_seconds
        self._owner = f"{service}-{uuid.uuid4()}"

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

    async def cycle(self, lane: str) -> bool:
        published = await self.relay_once()
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
