"""The loops a service runs beside its consumers (the outbox relay, the notification
dispatcher, the digest scheduler), and the one back-off everything waits with.

A `PollingWorker` runs one loop per lane (the dispatcher: one per channel, so that a
failing channel never holds up another; the others: one). Each loop runs a cycle,
then runs again at once if the cycle says more is waiting, or waits for a nudge
(work was committed) or the pause (the poll interval, longer while the lane backs
off). A cycle that raises (MongoDB away) is logged and the lane backs off.

The stop is the same for all: no new cycle starts, a cycle in flight finishes — it
checks `stopping` between items, and is never cancelled in the middle of one (a
publish waiting for its confirm, cut off, would close the AMQP channel under the
consumers; a send cut off would be sent again) — bounded by the grace period, past
which what is left is cancelled; then `finish()` (the relay publishes what is
pending, the dispatcher closes its senders).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Generic, TypeVar

from shared.logs import get_logger

log = get_logger(__name__)
Lane = TypeVar("Lane", bound=str)
# A lane whose cycles fail waits longer each time, up to this (or its poll interval).
LONGEST_FAILURE_PAUSE_SECONDS = 5.0
# For a worker built without one: two fifths of the default stop bound, what
# ServiceSettings.worker_stop_seconds gives the workers a service builds.
DEFAULT_STOP_GRACE_SECONDS = 10.0


# A worker's gauge (rows pending, deliveries waiting) is counted at most this often.
GAUGE_SECONDS = 1.0


class Every:
    """`due()` is True at most once per `seconds`: for a gauge that a busy loop would
    otherwise count again after every cycle (the relay's count of pending rows took half
    its time under load, for a figure scraped every few seconds)."""

    def __init__(self, seconds: float = GAUGE_SECONDS) -> None:
        self._seconds = seconds
        self._last = -math.inf

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last < self._seconds:
            return False
        self._last = now
        return True


def backoff(attempt: int, *, first: float, cap: float) -> float:
    """Seconds to wait before attempt `attempt + 1` after `attempt` failures: `first`,
    then doubled each time (2, 4, 8 … times `first`), never more than `cap`. The one back-off of the
    project (outbox rows, deliveries, paused channels, events waiting out an outage,
    start-up); a handler that fails waits in the retry queues instead (their delays are
    configured, `retry_delays_seconds`)."""
    doublings = min(max(attempt - 1, 0), 62)  # past that the cap has long been reached
    return min(first * 2.0**doublings, cap)


class PollingWorker(ABC, Generic[Lane]):
    def __init__(
        self,
        name: str,
        *,
        poll_seconds: float,
        stop_grace_seconds: float,
        lanes: Sequence[Lane],
    ) -> None:
        self.name = name
        self._poll_seconds = poll_seconds
        self._stop_grace_seconds = stop_grace_seconds
        self._lanes = list(lanes)
        self._wake = {lane: asyncio.Event() for lane in self._lanes}
        self._failed_cycles = dict.fromkeys(self._lanes, 0)
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @abstractmethod
    async def cycle(self, lane: Lane) -> bool:
        """Do one batch of `lane`'s work; True if more is waiting right now."""

    def pause(self, lane: Lane) -> float:
        """How long `lane` waits (unless nudged) after a cycle with nothing more waiting."""
        return self._poll_seconds

    async def finish(self) -> None:
        """After the loops stopped: what the worker still does before it is done."""

    @property
    def stopping(self) -> bool:
        """True once `stop()` began: a cycle checks it between items and ends early."""
        return self._stopping.is_set()

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    def nudge(self) -> None:
        """Work was committed: look now rather than at the next poll."""
        for event in self._wake.values():
            event.set()

    async def run(self, lane: Lane) -> None:
        while not self._stopping.is_set():
            self._wake[lane].clear()  # before the cycle: a nudge during it is not lost
            try:
                more = await self.cycle(lane)
            except Exception as error:  # MongoDB away: keep the loop alive, back off
                self._failed_cycles[lane] += 1
                log.warning(f"{self.name} cycle failed", lane=lane or None, error=repr(error))
                wait = backoff(
                    self._failed_cycles[lane],
                    first=min(self._poll_seconds, LONGEST_FAILURE_PAUSE_SECONDS),
                    cap=max(self._poll_seconds, LONGEST_FAILURE_PAUSE_SECONDS),
                )
            else:
                self._failed_cycles[lane] = 0
                if more:
                    continue
                wait = self.pause(lane)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel
            # that arrives as a nudge completes the wait, and stop() then waits forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake[lane].wait()

    def start(self) -> None:
        self._stopping.clear()
        self._tasks = [
            asyncio.create_task(self.run(lane), name=f"{self.name}{'-' if lane else ''}{lane}")
            for lane in self._lanes
        ]

    async def stop(self) -> None:
        """Let the cycles in flight finish (within the grace period), then `finish()`."""
        self._stopping.set()
        self.nudge()
        unfinished: set[asyncio.Task[None]] = set()
        if self._tasks:
            _, unfinished = await asyncio.wait(self._tasks, timeout=self._stop_grace_seconds)
        for task in unfinished:
            log.warning(f"{self.name}: a cycle outlived the stop's grace period; cut off")
            task.cancel()
        for task in unfinished:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.finish()
