"""The dispatcher: sends committed deliveries, one loop per channel.

Like the outbox relay, it leases rows atomically, so any number of replicas never
send the same row at once. A row is marked `sending` before the attempt; the outcome
is recorded afterwards in a transaction that also emits `notification.sent` /
`notification.failed`. A sender that dies in between leaves the row `sending`; once
the lease runs out another attempt takes it and its log says it may be a duplicate.

One loop per channel, so a failing channel never holds up another: a channel that
fails pauses itself (backoff) and a failing webhook endpoint is held back on its own
while the other endpoints are served.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from services.notifications.adapters.deliveries import Claimed, Deliveries
from services.notifications.adapters.endpoints import Endpoints
from services.notifications.adapters.senders import Sender
from services.notifications.domain.deliveries import (
    Delivery,
    DeliveryChannel,
    Kind,
    LogEntry,
    OutcomeUnknown,
    SendFailure,
    Status,
    duplicate_note,
    retry_delay,
)
from services.notifications.domain.webhooks import Endpoint
from services.notifications.metrics import (
    DELIVERIES_WAITING,
    DELIVERY_ATTEMPTS,
    POSSIBLE_DUPLICATES,
    SEND_SECONDS,
    WEBHOOKS_DISABLED,
)
from shared.contracts.events import NotificationFailedV1, NotificationSentV1
from shared.contracts.types import Contract
from shared.logs import correlation_scope, get_logger
from shared.storage.mongo import Database, Document
from shared.storage.unit_of_work import Transactions, UnitOfWork

log = get_logger(__name__)
Clock = Callable[[], datetime]
MAX_CHANNEL_PAUSE = timedelta(seconds=30)
# Within uvicorn's graceful shutdown (10 s): an attempt still running then is cut off.
STOP_GRACE_SECONDS = 8.0


def utc_now() -> datetime:
    return datetime.now(UTC)


class Dispatcher:
    def __init__(
        self,
        db: Database,
        transactions: Transactions,
        senders: Sequence[Sender],
        *,
        service: str,
        poll_seconds: float,
        lease_seconds: float,
        send_timeout_seconds: float,
        retry_max_seconds: float,
        max_endpoint_failures: int,
        batch_size: int = 50,
        clock: Clock = utc_now,
    ) -> None:
        self._db = db
        self._transactions = transactions
        self._senders = {sender.channel: sender for sender in senders}
        self._poll_seconds = poll_seconds
        self._lease = timedelta(seconds=lease_seconds)
        self._send_timeout = send_timeout_seconds
        self._retry_cap = timedelta(seconds=retry_max_seconds)
        self._max_endpoint_failures = max_endpoint_failures
        self._batch_size = batch_size
        self._clock = clock
        self.owner = f"{service}-dispatcher-{uuid.uuid4()}"
        self._wake = {channel: asyncio.Event() for channel in self._senders}
        self._failures_in_a_row = dict.fromkeys(self._senders, 0)
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def channels(self) -> list[DeliveryChannel]:
        return list(self._senders)

    def nudge(self) -> None:
        """Deliveries were committed: look now rather than at the next poll."""
        for event in self._wake.values():
            event.set()

    async def dispatch_once(self, channel: DeliveryChannel) -> int:
        """Attempt up to one batch of due deliveries of `channel`; return how many."""
        sender = self._senders[channel]
        repository = Deliveries(self._db)
        problem = sender.problem()
        if problem is not None:
            await repository.note_waiting(
                channel, LogEntry(at=self._clock(), outcome="waiting", detail=problem)
            )
            return 0
        held = await Endpoints(self._db).held(self._clock()) if channel == "webhook" else set()
        attempted = 0
        while attempted < self._batch_size and not self._stopping.is_set():
            claimed = await repository.claim(
                channel, self.owner, self._lease, self._clock(), held_recipients=held
            )
            if claimed is None:
                break
            attempted += 1
            failure = await self._attempt(sender, claimed)
            if failure is None or failure.permanent:  # the channel answered: it is up
                self._failures_in_a_row[channel] = 0
                continue
            if channel == "webhook":
                held.add(claimed.delivery.recipient_id)  # only this endpoint waits
                continue
            # the channel itself is likely down: pause it (see `run`), not the others
            self._failures_in_a_row[channel] += 1
            break
        return attempted

    async def _attempt(self, sender: Sender, claimed: Claimed) -> SendFailure | None:
        delivery = claimed.delivery
        with correlation_scope(delivery.correlation_id, delivery_id=str(delivery.id)):
            endpoint = None
            if delivery.channel == "webhook":
                endpoint = await Endpoints(self._db).get(delivery.recipient_id)
                if endpoint is not None and not endpoint.enabled:
                    # disabled since this batch began: not sent, back to wait for it
                    return await self._put_back(claimed)
            if claimed.resumed:
                POSSIBLE_DUPLICATES.labels(delivery.channel).inc()
                log.warning("retrying a delivery whose outcome was never recorded")
            started = time.perf_counter()
            failure = await self._send(sender, delivery, endpoint)
            SEND_SECONDS.labels(delivery.channel).observe(time.perf_counter() - started)
            if isinstance(failure, OutcomeUnknown):
                # it may still go out: leave the row `sending` until its lease runs out,
                # so the next attempt is logged as a possible duplicate
                log.warning("delivery outcome unknown", reason=failure.reason)
                return failure
            await self._record(claimed, endpoint, failure)
        return failure

    async def _put_back(self, claimed: Claimed) -> SendFailure:
        delivery = claimed.delivery
        entries: list[LogEntry] = []
        if claimed.resumed:  # keep the earlier attempt's doubt for the one that sends
            note = duplicate_note(delivery.channel, delivery.attempts, claimed.previous_owner)
            entries.append(
                LogEntry(
                    at=self._clock(),
                    outcome="possible_duplicate",
                    attempt=delivery.attempts,
                    detail=note,
                )
            )
        await Deliveries(self._db).put_back(delivery.id, self.owner, entries)
        log.info("endpoint disabled: delivery left waiting", endpoint_id=delivery.recipient_id)
        return SendFailure("the endpoint is disabled")

    async def _send(
        self, sender: Sender, delivery: Delivery, endpoint: Endpoint | None
    ) -> SendFailure | None:
        try:
            # the channels time out on their own; this bounds a sender that does not
            await asyncio.wait_for(sender.send(delivery, endpoint), self._send_timeout + 5)
        except SendFailure as failure:
            return failure
        except TimeoutError:
            return OutcomeUnknown(f"no outcome within {self._send_timeout + 5:g} s")
        except Exception as error:  # a bug in one sender must not stop the loop
            log.exception("sender failed unexpectedly")
            return SendFailure(f"unexpected error: {error!r}")
        return None

    async def _record(
        self, claimed: Claimed, endpoint: Endpoint | None, failure: SendFailure | None
    ) -> None:
        delivery = claimed.delivery
        now = self._clock()
        changes, entries, outcome = self._outcome(claimed, failure, now)

        async def work(uow: UnitOfWork) -> bool:
            repository = Deliveries(uow.db, uow.session)
            if not await repository.settle(delivery.id, self.owner, changes, entries):
                return False  # our lease ran out and another attempt owns the row now
            carried = [delivery]
            if delivery.kind is Kind.DIGEST and outcome != "retrying":
                await repository.settle_included(delivery.includes, changes, entries[-1])
                carried = await repository.get_many(delivery.includes)
            if endpoint is not None:
                await self._endpoint_bookkeeping(uow, endpoint, failure, now)
            for row in carried:
                await uow.emit(_audit(row, failure, outcome))
            return True

        recorded = await self._transactions.run(work, correlation_id=delivery.correlation_id)
        if not recorded:
            log.warning("outcome not recorded: the lease had run out", outcome=outcome)
            return
        DELIVERY_ATTEMPTS.labels(delivery.channel, outcome).inc()
        log.info(
            "delivery attempted",
            channel=delivery.channel,
            outcome=outcome,
            attempt=delivery.attempts,
            reason=failure.reason if failure else None,
        )

    def _outcome(
        self, claimed: Claimed, failure: SendFailure | None, now: datetime
    ) -> tuple[Document, list[LogEntry], str]:
        delivery = claimed.delivery
        attempt = delivery.attempts
        entries: list[LogEntry] = []
        changes: Document = {}
        if claimed.resumed:
            note = duplicate_note(delivery.channel, attempt, claimed.previous_owner)
            entries.append(
                LogEntry(at=now, outcome="possible_duplicate", attempt=attempt, detail=note)
            )
            changes["possible_duplicate"] = True
        if failure is None:
            changes |= {"status": Status.SENT.value, "sent_at": now, "last_error": None}
            entries.append(LogEntry(at=now, outcome="sent", attempt=attempt))
            return changes, entries, "sent"
        changes["last_error"] = failure.reason
        if failure.permanent:
            changes["status"] = Status.FAILED.value
            entries.append(
                LogEntry(at=now, outcome="failed", attempt=attempt, detail=failure.reason)
            )
            return changes, entries, "failed"
        retry_at = now + retry_delay(attempt, self._retry_cap)
        changes |= {"status": Status.PENDING.value, "next_attempt_at": retry_at}
        detail = f"{failure.reason}; next attempt at {retry_at.isoformat(timespec='seconds')}"
        entries.append(LogEntry(at=now, outcome="retrying", attempt=attempt, detail=detail))
        return changes, entries, "retrying"

    async def _endpoint_bookkeeping(
        self, uow: UnitOfWork, endpoint: Endpoint, failure: SendFailure | None, now: datetime
    ) -> None:
        endpoints = Endpoints(uow.db, uow.session)
        if failure is None:
            await endpoints.record_success(endpoint.id)
            return
        retry_in = retry_delay(endpoint.consecutive_failures + 1, self._retry_cap)
        after = await endpoints.record_failure(
            endpoint.id, now, retry_in, self._max_endpoint_failures
        )
        if after is not None and endpoint.enabled and not after.enabled:
            WEBHOOKS_DISABLED.inc()
            log.warning("webhook endpoint disabled", endpoint_id=str(endpoint.id), url=endpoint.url)

    async def run(self, channel: DeliveryChannel) -> None:
        while not self._stopping.is_set():
            try:
                attempted = await self.dispatch_once(channel)
                DELIVERIES_WAITING.labels(channel).set(
                    await Deliveries(self._db).count_waiting(channel)
                )
            except Exception as error:  # MongoDB away: keep the loop alive
                log.warning("dispatch cycle failed", channel=channel, error=repr(error))
                attempted = 0
            if attempted == self._batch_size and not self._failures_in_a_row[channel]:
                continue  # more are waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake[channel].wait(), timeout=self._pause(channel))
            self._wake[channel].clear()

    def _pause(self, channel: DeliveryChannel) -> float:
        failures = self._failures_in_a_row[channel]
        if channel == "webhook" or failures == 0:
            return self._poll_seconds
        cap = min(self._retry_cap, MAX_CHANNEL_PAUSE)
        return max(self._poll_seconds, retry_delay(failures, cap).total_seconds())

    def start(self) -> None:
        for sender in self._senders.values():
            problem = sender.problem()
            if problem is not None:
                log.warning("notification channel not sending", channel=sender.channel, why=problem)
        self._stopping.clear()
        self._tasks = [
            asyncio.create_task(self.run(channel), name=f"notifications-dispatch-{channel}")
            for channel in self._senders
        ]

    async def stop(self) -> None:
        """Let attempts in flight finish and record their outcome (a cut-off attempt
        would be sent again as a possible duplicate), then stop."""
        self._stopping.set()
        self.nudge()
        if self._tasks:
            _, unfinished = await asyncio.wait(self._tasks, timeout=STOP_GRACE_SECONDS)
            for task in unfinished:
                task.cancel()
            for task in unfinished:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._tasks = []
        for sender in self._senders.values():
            await sender.close()


def _audit(row: Delivery, failure: SendFailure | None, outcome: str) -> Contract:
    """The audit event of one attempt on one row (for a digest: on each step it carried)."""
    facts = {
        "notification_id": row.id,
        "recipient_id": row.recipient_id,
        "channel": row.channel,
        "about_event_id": row.event_id or row.id,
        "about_event_type": row.event_type or f"digest.{row.frequency.value}",
        "proposal_id": row.proposal_id,
    }
    if failure is None:
        return NotificationSentV1.model_validate(facts)
    reason = failure.reason if outcome == "failed" else f"{failure.reason} (will retry)"
    return NotificationFailedV1.model_validate({**facts, "reason": reason[:2000]})
