"""Inspect and replay a service's dead letters.

Peeking takes messages without acking them and closes the channel, which hands
them all back to the queue untouched. Replay sends one message back to the very
queue it came from (not to the exchange, so other services do not see it again)
with the attempt counters cleared.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from pydantic import BaseModel

from shared.messaging import headers
from shared.messaging.topology import Topology

_INTERNAL_HEADERS = {
    headers.DEAD_LETTER_REASON,
    headers.ORIGINAL_QUEUE,
    headers.ORIGINAL_ROUTING_KEY,
    headers.DEAD_LETTERED_AT,
    headers.ATTEMPTS,
    headers.DELIVERY_COUNT,
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
    reason: str
    original_queue: str | None
    dead_lettered_at: str | None
    attempts: int | None
    body_preview: str


class DeadLetters:
    def __init__(self, amqp_url: str, topology: Topology, service: str) -> None:
        self._url = amqp_url
        self._queue_name = topology.dead_letter_queue(service).name

    async def peek(self, limit: int = 50) -> list[DeadLetter]:
        async with self._queue() as (_, queue):
            return [_describe(m) for m in await _take(queue, limit)]

    async def replay(self, message_id: str, scan_limit: int = 10_000) -> DeadLetter | None:
        """Send one dead letter back to its original queue; None if not found."""
        async with self._queue() as (channel, queue):
            for message in await _take(queue, scan_limit, stop_at=message_id):
                if message.message_id != message_id:
                    continue
                target = _original_queue(message)
                if target is None:
                    return None
                await channel.default_exchange.publish(
                    aio_pika.Message(
                        message.body,
                        headers={
                            k: v
                            for k, v in (message.headers or {}).items()
                            if k not in _INTERNAL_HEADERS
                        },
                        message_id=message.message_id,
                        correlation_id=message.correlation_id,
                        type=message.type,
                        content_type=message.content_type,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=target,
                    mandatory=True,
                )
                described = _describe(message)
                await message.ack()
                return described
        return None

    @asynccontextmanager
    async def _queue(self) -> AsyncIterator[tuple[AbstractChannel, AbstractQueue]]:
        connection = await aio_pika.connect(self._url, timeout=10)
        try:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            queue = await channel.get_queue(self._queue_name, ensure=True)
            yield channel, queue
        finally:
            await connection.close()  # unacked messages go back to the queue


async def _take(
    queue: AbstractQueue, limit: int, stop_at: str | None = None
) -> list[AbstractIncomingMessage]:
    taken: list[AbstractIncomingMessage] = []
    while len(taken) < limit:
        message = await queue.get(no_ack=False, fail=False, timeout=5)
        if message is None:
            break
        taken.append(message)
        if stop_at is not None and message.message_id == stop_at:
            break
    return taken


def _original_queue(message: AbstractIncomingMessage) -> str | None:
    found: Any = (message.headers or {}).get(headers.ORIGINAL_QUEUE)
    if found is None:  # dead-lettered by RabbitMQ itself (delivery limit)
        deaths: Any = (message.headers or {}).get("x-death") or []
        found = deaths[0].get("queue") if deaths else None
    return _text(found)


def _describe(message: AbstractIncomingMessage) -> DeadLetter:
    found = message.headers or {}
    reason: Any = found.get(headers.DEAD_LETTER_REASON)
    if reason is None:
        cause = _text(found.get("x-first-death-reason")) or "unknown"
        reason = f"dead-lettered by RabbitMQ: {cause}"
    attempts: Any = found.get(headers.ATTEMPTS)
    return DeadLetter(
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        type=message.type,
        reason=_text(reason) or "",
        original_queue=_original_queue(message),
        dead_lettered_at=_text(found.get(headers.DEAD_LETTERED_AT)),
        attempts=int(attempts) if isinstance(attempts, int) else None,
        body_preview=message.body[:BODY_PREVIEW_CHARS].decode("utf-8", errors="replace"),
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
