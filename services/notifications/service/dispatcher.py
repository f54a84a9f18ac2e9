"""The dispatcher: sends committed deliveries, one loop per channel.

Like the outbox relay, it leases rows atomically, so any number of replicas never
send the same row at once. A row is marked `sending` when leased; just before the
receiver can have the message (e-mail: before DATA) the attempt records
`handing_over_at`; the outcome is recorded as soon as the receiver answers, in a
transaction that also emits `notification.sent` / `notification.failed`. A sender
that dies leaves the row `sending`; once the lease runs out another attempt takes
it — flagged as a possible duplicate only if the dead one had begun handing over
(see SmtpSender for what SMTP allows). The copy is sent, with the same id
(idempotency key, Message-ID) and a "possible duplicate" mark: a notification lost
is worse than one the reader sees twice and can tell apart.

It is woken, for the channels concerned, once a transaction that wrote deliveries due
now commits (`UnitOfWork.after_commit`), so a committed delivery is attempted within
milliseconds; the poll is the fallback.

One loop per channel, so a failing channel never holds up another: a channel that
fails pauses itself (backoff) and a failing webhook endpoint is held back on its own
while the other endpoints are served. Within a channel several rows are sent at once
(`sends_at_once`), never two to the same recipient, so each recipient still gets its
messages in order and a failing webhook endpoint is not hit by several at a time.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from services.notifications.adapters.deliveries import Claimed, Deliveries
from services.notifications.adapters.endpoints import Endpoints
from services.notifications.adapters.senders import Sender
from services.notifications.domain.deliveries import (
    DeliveryChannel,
    Kind,
    LogEntry,
    NotificationDelivery,
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
from shared.clock import Clock, format_timestamp, utc_now
from shared.contracts.events import NotificationFailedV1, NotificationSentV1
from shared.contracts.types import Contract
from shared.logs import correlation_scope, get_logger
from shared.storage.mongo import Database, Document
from shared.storage.unit_of_work import Transactions, UnitOfWork
from shared.urls import for_logs
from shared.workers import DEFAULT_STOP_GRACE_SECONDS, Every, PollingWorker

log = get_logger(__name__)
MAX_CHANNEL_PAUSE = timedelta(seconds=30)


class Dispatcher(PollingWorker[DeliveryChannel]):
    """A `PollingWorker` with one lane per channel."""

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
        sends_at_once: int = 1,
        batch_size: int = 50,
        clock: Clock = utc_now,
        stop_grace_seconds: float = DEFAULT_STOP_GRACE_SECONDS,
    ) -> None:
        super().__init__(
            "notifications-dispatch",
            poll_seconds=poll_seconds,
            stop_grace_seconds=stop_grace_seconds,
            lanes=[sender.channel for sender in senders],
        )
        self._db = db
        self._transactions = transactions
        self._senders = {sender.channel: sender for sender in senders}
        self._lease = timedelta(seconds=lease_seconds)
        self._send_timeout = send_timeout_seconds
        self._retry_cap = timedelta(seconds=retry_max_seconds)
        self._max_endpoint_failures = max_endpoint_failures
        self._batch_size = batch_size
        self._sends_at_once = sends_at_once
        self._clock = clock
        self.owner = f"{service}-dispatcher-{uuid.uuid4()}"
        self._failures_in_a_row = dict.fromkeys(self._senders, 0)
        self._gauges = {channel: Every() for channel in self._senders}

    def wake(self, channels: set[DeliveryChannel]) -> None:
        """Deliveries of `channels` committed: look now on those that can send (an
        unconfigured one has nothing to send and keeps to its poll)."""
        for channel in channels:
            sender = self._senders.get(channel)
            if sender is not None and sender.problem() is None:
                self._wake[channel].set()

    @property
    def channels(self) -> list[DeliveryChannel]:
        return list(self._senders)

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
        while attempted < self._batch_size and not self.stopping:
            room = min(self._sends_at_once, self._batch_size - attempted)
            wave = await self._claim_wave(repository, channel, held, room)
            if not wave:
                break
            attempted += len(wave)
            failures = await self._attempt_all(sender, wave)
            channel_down = False
            for claimed, failure in zip(wave, failures, strict=True):
                if failure is None or failure.permanent:  # the receiver answered
                    continue
                if channel == "webhook":
                    held.add(claimed.delivery.recipient_id)  # only this endpoint waits
                else:
                    channel_down = True
            if channel_down:
                # the channel itself is likely down: pause it (see `run`), not the others
                self._failures_in_a_row[channel] += 1
                break
            self._failures_in_a_row[channel] = 0
        return attempted

    async def _claim_wave(
        self, repository: Deliveries, channel: DeliveryChannel, held: set[str], room: int
    ) -> list[Claimed]:
        """Up to `room` due rows, each for a different recipient."""
        wave: list[Claimed] = []
        busy = set(held)
        while len(wave) < room:
            claimed = await repository.claim(
                channel, self.owner, self._lease, self._clock(), held_recipients=busy
            )
            if claimed is None:
                break
            wave.append(claimed)
            busy.add(claimed.delivery.recipient_id)
        return wave

    async def _attempt_all(self, sender: Sender, wave: list[Claimed]) -> list[SendFailure | None]:
        """Every attempt runs to its recorded outcome, even if another one raised (a
        cut-off attempt would be sent again as a possible duplicate)."""
        attempts = [asyncio.ensure_future(self._attempt(sender, claimed)) for claimed in wave]
        try:
            await asyncio.wait(attempts)
        except asyncio.CancelledError:  # stopped past the grace: like one attempt was
            for attempt in attempts:
                attempt.cancel()
            raise
        return [attempt.result() for attempt in attempts]  # raises the first error

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
                # it may still go out: leave the row `sending`, handed over, until its
                # lease runs out, so the next attempt is logged as a possible duplicate
                await self._handing_over(delivery)
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
        self, sender: Sender, delivery: NotificationDelivery, endpoint: Endpoint | None
    ) -> SendFailure | None:
        async def handing_over() -> None:
            if not await self._handing_over(delivery):
                raise SendFailure("the lease ran out before the message was handed over")

        try:
            # the channels time out on their own; this bounds a sender that does not
            await asyncio.wait_for(
                sender.send(delivery, endpoint, handing_over), self._send_timeout + 5
            )
        except SendFailure as failure:
            return failure
        except TimeoutError:
            return OutcomeUnknown(f"no outcome within {self._send_timeout + 5:g} s")
        except Exception as error:  # a bug in one sender must not stop the loop
            log.exception("sender failed unexpectedly")
            return SendFailure(f"unexpected error: {error!r}")
        return None

    async def _handing_over(self, delivery: NotificationDelivery) -> bool:
        """Record (committed) that the receiver may have the message from now on."""
        return await Deliveries(self._db).handing_over(delivery.id, self.owner, self._clock())

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
        detail = f"{failure.reason}; next attempt at {format_timestamp(retry_at)}"
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
            log.warning(
                "webhook endpoint disabled",
                endpoint_id=str(endpoint.id),
                url=for_logs(endpoint.url),
            )

    async def cycle(self, lane: DeliveryChannel) -> bool:
        attempted = await self.dispatch_once(lane)
        if self._gauges[lane].due():
            DELIVERIES_WAITING.labels(lane).set(await Deliveries(self._db).count_waiting(lane))
        # a full batch: more are waiting, unless the channel just failed (it pauses)
        return attempted == self._batch_size and not self._failures_in_a_row[lane]

    def pause(self, lane: DeliveryChannel) -> float:
        """A channel that keeps failing waits longer each time (up to 30 s); a failing
        webhook endpoint is held back on its own instead (see `dispatch_once`)."""
        failures = self._failures_in_a_row[lane]
        if lane == "webhook" or failures == 0:
            return self._poll_seconds
        cap = min(self._retry_cap, MAX_CHANNEL_PAUSE)
        return max(self._poll_seconds, retry_delay(failures, cap).total_seconds())

    def start(self) -> None:
        for sender in self._senders.values():
            problem = sender.problem()
            if problem is not None:
                log.warning("notification channel not sending", channel=sender.channel, why=problem)
        super().start()

    async def finish(self) -> None:
        """Attempts in flight finished and recorded their outcome (a cut-off attempt
        would be sent again as a possible duplicate): close the channels."""
        for sender in self._senders.values():
            await sender.close()


def _audit(row: NotificationDelivery, failure: SendFailure | None, outcome: str) -> Contract:
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
