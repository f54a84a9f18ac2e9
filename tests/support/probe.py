"""A listener on the events exchange that records what really went over the wire."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from shared.messaging.dead_letters import DeadLetter
from shared.messaging.topology import Topology
from shared.runtime import ServiceRuntime


class EventProbe:
    """Binds a private auto-delete queue to `routing_keys` and keeps every message.

    `lasting=True`: a durable quorum queue instead, that outlives a broker restart and
    keeps what is published while the probe reconnects (deleted at the end)."""

    def __init__(
        self, amqp_url: str, namespace: str, routing_keys: list[str], *, lasting: bool = False
    ) -> None:
        self._lasting = lasting
        self._queue_name = f"{namespace}.probe.{id(self):x}" if lasting else ""
        self._url = amqp_url
        self._exchange = Topology(namespace).events_exchange.name
        self._routing_keys = routing_keys
        self._connection: AbstractRobustConnection | None = None
        self.messages: list[AbstractIncomingMessage] = []

    async def __aenter__(self) -> EventProbe:
        # back within a second of the broker (or a node of a cluster) answering again
        self._connection = await aio_pika.connect_robust(self._url, reconnect_interval=1)
        channel = await self._connection.channel()
        exchange = await channel.declare_exchange(
            self._exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        if self._lasting:
            queue = await channel.declare_queue(
                self._queue_name, durable=True, arguments={"x-queue-type": "quorum"}
            )
        else:
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for key in self._routing_keys:
            await queue.bind(exchange, routing_key=key)
        await queue.consume(self._keep, no_ack=not self._lasting)
        return self

    async def __aexit__(
        self, *_: type[BaseException] | BaseException | TracebackType | None
    ) -> None:
        if self._connection is not None:
            if self._lasting:
                channel = await self._connection.channel()
                await channel.queue_delete(self._queue_name)
            await self._connection.close()

    async def _keep(self, message: AbstractIncomingMessage) -> None:
        self.messages.append(message)
        if self._lasting:
            # a message whose channel went with a broker restart comes again: kept twice,
            # which the counts by event id see through
            with contextlib.suppress(Exception):
                await message.ack()

    def of_type(self, event_type: str) -> list[AbstractIncomingMessage]:
        return [m for m in self.messages if m.routing_key == event_type]

    async def wait_for(
        self, condition: Callable[[], bool], within: float = 20.0, what: str = "condition"
    ) -> None:
        await eventually(condition, within, what)


async def eventually(condition: Callable[[], bool], within: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what or 'condition'}")
        await asyncio.sleep(0.05)


async def until_async(
    probe: Callable[[], Awaitable[Any]],
    accept: Callable[[Any], bool],
    within: float = 20.0,
    what: str = "",
) -> Any:
    """Poll the awaited `probe()` until `accept` says yes; return what it found."""
    deadline = time.monotonic() + within
    while not accept(found := await probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or 'value'}; last: {found!r}")
        await asyncio.sleep(0.1)
    return found


async def eventually_async(
    probe: Callable[[], Awaitable[Any]], expected: Any, within: float = 20.0, what: str = ""
) -> None:
    """Wait until the awaited `probe()` equals `expected`."""
    await until_async(probe, lambda found: found == expected, within, what)


async def dead_letters_eventually(
    runtime: ServiceRuntime, count: int, within: float = 20.0
) -> list[DeadLetter]:
    """The service's dead letters, once there are `count` of them."""
    deadline = time.monotonic() + within
    while len(found := await runtime.dead_letters.peek()) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} dead letters, found {len(found)}")
        await asyncio.sleep(0.1)
    return found
