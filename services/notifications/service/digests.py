"""The digest scheduler: when a period ends, one digest per person and channel.

Every replica runs it. A digest's id is derived from (channel, person, period) and
is unique, and it is written in the same transaction that marks the steps it carries
as digested: whichever replica commits first builds it, any other finds the steps
taken or the id used, so one digest goes out per period whatever the number of
replicas. The dispatcher then sends it like any other delivery.
"""

from __future__ import annotations

from collections.abc import Callable

from pymongo.errors import DuplicateKeyError

from services.notifications.adapters.deliveries import Deliveries
from services.notifications.domain.deliveries import DeliveryChannel, LogEntry
from services.notifications.domain.digests import DigestCalendar, Period, digest_delivery
from services.notifications.domain.people import DIGEST_FREQUENCIES
from services.notifications.metrics import DIGESTS_BUILT
from shared.clock import Clock, utc_now
from shared.logs import get_logger
from shared.storage.mongo import Database
from shared.storage.unit_of_work import Transactions, UnitOfWork
from shared.workers import DEFAULT_STOP_GRACE_SECONDS, PollingWorker

log = get_logger(__name__)


class DigestScheduler(PollingWorker[str]):
    """A `PollingWorker` with one lane. A stop lets the digest being built commit
    (each digest is its own transaction) and builds no more."""

    def __init__(
        self,
        db: Database,
        transactions: Transactions,
        calendar: DigestCalendar,
        *,
        poll_seconds: float,
        clock: Clock = utc_now,
        on_built: Callable[[], None] = lambda: None,
        stop_grace_seconds: float = DEFAULT_STOP_GRACE_SECONDS,
    ) -> None:
        super().__init__(
            "notifications-digests",
            poll_seconds=poll_seconds,
            stop_grace_seconds=stop_grace_seconds,
            lanes=("",),
        )
        self._db = db
        self._transactions = transactions
        self._calendar = calendar
        self._clock = clock
        self._on_built = on_built

    async def run_once(self) -> int:
        """Build every digest that is due now; return how many this call built."""
        now = self._clock()
        built = 0
        for frequency in DIGEST_FREQUENCIES:
            if self.stopping:
                break
            period = self._calendar.last_ended(now, frequency)
            groups = await Deliveries(self._db).digest_groups(frequency, before=period.end)
            for recipient_id, channel in groups:
                if self.stopping:
                    break  # what is left waits for the next cycle (of some replica)
                if await self._build(recipient_id, channel, period):
                    built += 1
        if built:
            self._on_built()
        return built

    async def _build(self, recipient_id: str, channel: DeliveryChannel, period: Period) -> bool:
        now = self._clock()

        async def work(uow: UnitOfWork) -> bool:
            repository = Deliveries(uow.db, uow.session)
            rows = await repository.batched(recipient_id, channel, period.frequency, period.end)
            if not rows:
                return False  # another replica took them first
            digest = digest_delivery(recipient_id, channel, period, rows, now)
            await repository.insert(digest)
            entry = LogEntry(at=now, outcome="digested", detail=f"carried by digest {digest.id}")
            await repository.mark_digested([row.id for row in rows], digest.id, entry)
            return True

        try:
            built = await self._transactions.run(work, correlation_id=f"digest:{period.key}")
        except DuplicateKeyError:
            # This period's digest exists already; what is left waits for the next one.
            return False
        if built:
            DIGESTS_BUILT.labels(period.frequency.value, channel).inc()
            log.info("digest built", recipient_id=recipient_id, channel=channel, period=period.key)
        return built

    async def cycle(self, lane: str) -> bool:
        await self.run_once()
        return False  # what was due is built; the next period ends later
