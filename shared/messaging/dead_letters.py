"""Inspect and replay a service's dead letters.

Peeking takes messages without acking them and closes the channel, which hands
them all back to the queue untouched. Replay sends messages back to the very queue
each came from (not to the exchange, so other services do not see them again) with
the attempt counters cleared — through the service's replay exchange, which reaches only
its own work queues — one by message id, or every one that matches a filter
(event type, a piece of the reason, a time range) in a single pass over the queue.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.messaging import headers, trust
from shared.messaging.topology import Topology

_INTERNAL_HEADERS = {
    headers.DEAD_LETTER_REASON,
    headers.ORIGINAL_QUEUE,
    headers.ORIGINAL_ROUTING_KEY,
    headers.DEAD_LETTERED_AT,
    headers.ATTEMPTS,
    headers.DELIVERY_COUNT,
    headers.FAILED_ATTEMPTS,
    headers.LAST_ERROR,
    "x-death",
    "x-first-death-exchange",
    "x-first-death-queue",
    "x-first-death-reason",
    "x-last-death-exchange",
    "x-last-death-queue",
    "x-last-death-reason",
}
BODY_PREVIEW_CHARS = 2000


class DeadLetter(BaseModel):
    message_id: str | None
    correlation_id: str | None
    type: str | None
    event_type: str | None = None
    reason: str
    original_queue: str | None
    dead_lettered_at: str | None
    attempts: int | None
    body_preview: str


class ReplayFilter(BaseModel):
    """Which dead letters to send back; every given condition must hold."""

    model_config = ConfigDict(extra="forbid")

    event_type: str | None = Field(default=None, description="e.g. proposal.approved")
    reason_contains: str | None = Field(
        default=None, min_length=1, description="a piece of the reason, any case"
    )
    dead_lettered_from: AwareDatetime | None = Field(
        default=None, description="dead-lettered at or after this instant"
    )
    dead_lettered_until: AwareDatetime | None = Field(
        default=None, description="dead-lettered before this instant"
    )
    message_id: str | None = None

    def matches(self, message: AbstractIncomingMessage) -> bool:
        if self.message_id is not None and message.message_id != self.message_id:
            return False
        if self.event_type is not None and _event_type(message) != self.event_type:
            return False
        wanted_reason = (self.reason_contains or "").casefold()
        if wanted_reason and wanted_reason not in _reason(message).casefold():
            return False
        if self.dead_lettered_from is not None or self.dead_lettered_until is not None:
            at = _dead_lettered_at(message)
            if at is None:
                return False
            if self.dead_lettered_from is not None and at < self.dead_lettered_from:
                return False
            if self.dead_lettered_until is not None and at >= self.dead_lettered_until:
                return False
        return True


class ReplayReport(BaseModel):
    replayed: list[DeadLetter]
    scanned: int = Field(description="dead letters looked at, in one pass over the queue")
    complete: bool = Field(
        description="false if the scan stopped (at its limit, or at `limit` replayed) "
        "before the end of the queue: run it again for the rest"
    )
    no_original_queue: int = Field(
        default=0, description="matching dead letters left alone: their queue is unknown"
    )


class DeadLetters:
    def __init__(self, amqp_url: str, topology: Topology, service: str, *, user: str) -> None:
        self._url = amqp_url
        self._queue_name = topology.dead_letter_queue(service).name
        self._replay_exchange = topology.replay_exchange(service).name
        self._user = user

    async def peek(self, limit: int = 50) -> list[DeadLetter]:
        async with self._queue() as (_, queue):
            return [_describe(m) for m in await _take(queue, limit)]

    async def replay(self, message_id: str, scan_limit: int = 10_000) -> DeadLetter | None:
        """Send one dead letter back to its original queue; None if not found."""
        report = await self.replay_matching(
            ReplayFilter(message_id=message_id), limit=1, scan_limit=scan_limit
        )
        return report.replayed[0] if report.replayed else None

    async def replay_matching(
        self, wanted: ReplayFilter, *, limit: int = 1000, scan_limit: int = 10_000
    ) -> ReplayReport:
        """Send every dead letter that matches `wanted` back to the queue it came from
        (at most `limit`), in one pass over at most `scan_limit` of them.

        Each one is published with a confirm, and only then acked; the ones that do not
        match are handed back untouched when the channel closes. Replayed events start
        with a fresh count of attempts."""
        replayed: list[DeadLetter] = []
        sent_back: set[str] = set()
        scanned = unknown = 0
        async with self._queue() as (channel, queue):
            while scanned < scan_limit and len(replayed) < limit:
                message = await queue.get(no_ack=False, fail=False, timeout=5)
                # One already sent back this pass is dead-lettered again (refused at
                # once): the pass went round the whole queue, and stops there.
                if message is None or message.message_id in sent_back:
                    return ReplayReport(
                        replayed=replayed, scanned=scanned, complete=True, no_original_queue=unknown
                    )
                scanned += 1
                if not wanted.matches(message):
                    continue
                target = _original_queue(message)
                if target is None:
                    unknown += 1
                    continue
                await self._send_back(channel, message, target)
                replayed.append(_describe(message))
                if message.message_id is not None:
                    sent_back.add(message.message_id)
                await message.ack()
        return ReplayReport(
            replayed=replayed, scanned=scanned, complete=False, no_original_queue=unknown
        )

    @asynccontextmanager
    async def _queue(self) -> AsyncIterator[tuple[AbstractChannel, AbstractQueue]]:
        connection = await aio_pika.connect(self._url, timeout=10)
        try:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            queue = await channel.get_queue(self._queue_name, ensure=True)
            yield channel, queue
        finally:
            await connection.close()  # unacked messages go back to the queue

    async def _send_back(
        self, channel: AbstractChannel, message: AbstractIncomingMessage, target: str
    ) -> None:
        """To the very queue it came from (not to the events exchange: other services
        do not see it again), without the counters of its earlier attempts, still
        naming the publisher the broker first vouched for; returns once confirmed."""
        kept = {k: v for k, v in (message.headers or {}).items() if k not in _INTERNAL_HEADERS}
        kept[headers.VOUCHED_PUBLISHER] = trust.vouched_publisher(
            message.user_id, message.headers, self._user
        )
        exchange = await channel.get_exchange(self._replay_exchange, ensure=False)
        await exchange.publish(
            aio_pika.Message(
                message.body,
                headers=kept,
                message_id=message.message_id,
                correlation_id=message.correlation_id,
                type=message.type,
                content_type=message.content_type,
                user_id=self._user,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=target,
            mandatory=True,
        )


async def _take(queue: AbstractQueue, limit: int) -> list[AbstractIncomingMessage]:
    taken: list[AbstractIncomingMessage] = []
    while len(taken) < limit:
        message = await queue.get(no_ack=False, fail=False, timeout=5)
        if message is None:
            break
        taken.append(message)
    return taken


def _original_queue(message: AbstractIncomingMessage) -> str | None:
    found: Any = (message.headers or {}).get(headers.ORIGINAL_QUEUE)
    if found is None:  # dead-lettered by RabbitMQ itself (delivery limit)
        deaths: Any = (message.headers or {}).get("x-death") or []
        found = deaths[0].get("queue") if deaths else None
    return _text(found)


def _reason(message: AbstractIncomingMessage) -> str:
    found = message.headers or {}
    reason = _text(found.get(headers.DEAD_LETTER_REASON))
    if reason is None:
        cause = _text(found.get("x-first-death-reason")) or "unknown"
        reason = f"dead-lettered by RabbitMQ: {cause}"
    return reason


def _event_type(message: AbstractIncomingMessage) -> str | None:
    found = message.headers or {}
    given = message.type or _text(found.get(headers.ORIGINAL_ROUTING_KEY))
    if given is None:  # dead-lettered by RabbitMQ itself: the key it was published with
        deaths: Any = found.get("x-death") or []
        keys: Any = deaths[-1].get("routing-keys") if deaths else None
        given = _text(keys[0]) if keys else None
    return given


def _dead_lettered_at(message: AbstractIncomingMessage) -> datetime | None:
    found = message.headers or {}
    text = _text(found.get(headers.DEAD_LETTERED_AT))
    if text is not None:
        try:
            at = datetime.fromisoformat(text)
        except ValueError:
            return None
        return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    deaths: Any = found.get("x-death") or []
    when: Any = deaths[0].get("time") if deaths else None
    if isinstance(when, datetime):
        return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return None


def _describe(message: AbstractIncomingMessage) -> DeadLetter:
    found = message.headers or {}
    attempts: Any = found.get(headers.ATTEMPTS)
    return DeadLetter(
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        type=message.type,
        event_type=_event_type(message),
        reason=_reason(message),
        original_queue=_original_queue(message),
        dead_lettered_at=_text(found.get(headers.DEAD_LETTERED_AT)),
        attempts=int(attempts) if isinstance(attempts, int) else None,
        body_preview=message.body[:BODY_PREVIEW_CHARS].decode("utf-8", errors="replace"),
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
