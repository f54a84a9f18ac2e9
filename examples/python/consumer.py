"""A city system consuming Berdaya's events: its own queue for what happens from now on,
the event history for what happened since a given time, each event handled once.

Needs only aio-pika (`pip install aio-pika`). Settings, from the environment:

    AMQP_URL      amqp://city-integrations:PASSWORD@HOST:5672/berdaya
    NAMESPACE     berdaya (the prefix of every exchange and queue name)
    SYSTEM        this system's name, in its queue's name (default example-python)
    EVENT_TYPES   routing keys to bind, comma-separated (default "#": every event)
    SINCE         ISO 8601 time to read the history from (default: the first retained)
    PROCESSED     file remembering the event_ids handled (default processed-python.txt)
    STOP_AFTER    exit after handling this many events (default 0: run until stopped)

It prints one line per event: `handled <event_id> <type> <occurred_at>`, or
`duplicate <event_id>` when the same event came again (by the other road, or redelivered).
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import datetime
from pathlib import Path

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

NAMESPACE = os.environ.get("NAMESPACE", "berdaya")
SYSTEM = os.environ.get("SYSTEM", "example-python")
EVENT_TYPES = os.environ.get("EVENT_TYPES", "#").split(",")
SINCE = os.environ.get("SINCE", "")
PROCESSED = Path(os.environ.get("PROCESSED", "processed-python.txt"))
STOP_AFTER = int(os.environ.get("STOP_AFTER", "0"))


class Handler:
    """Handles each event once, by its event_id (the AMQP message_id too).

    A real system records the event_id in the same database transaction as the effect
    (a table with a unique key); this example appends it to a file after the effect."""

    def __init__(self, since: datetime | None) -> None:
        self.since = since
        self.seen = set(PROCESSED.read_text().split()) if PROCESSED.exists() else set()
        self.handled = 0
        self.done = asyncio.Event()

    async def __call__(self, message: AbstractIncomingMessage) -> None:
        try:
            envelope = json.loads(message.body)
            event_id = envelope["event_id"]
        except (ValueError, KeyError):
            await message.reject()  # not an event: never requeued forever
            return
        occurred_at = datetime.fromisoformat(envelope["occurred_at"].replace("Z", "+00:00"))
        if self.since is not None and occurred_at < self.since:
            await message.ack()  # the history starts at a chunk: earlier events may come
            return
        if event_id in self.seen:
            print(f"duplicate {event_id}", flush=True)
        else:
            self.apply(envelope)
            self.remember(event_id)
            self.handled += 1
        await message.ack()  # after the effect: a crash before it means a redelivery
        if STOP_AFTER and self.handled >= STOP_AFTER:
            self.done.set()

    def remember(self, event_id: str) -> None:
        self.seen.add(event_id)
        with PROCESSED.open("a") as remembered:  # a line: quick, no need for a thread
            remembered.write(event_id + "\n")

    def apply(self, envelope: dict[str, object]) -> None:
        # the system's own work goes here; `data` is the event's payload, `version` its
        # schema version (see docs/integrating.md, "Versions")
        print(
            f"handled {envelope['event_id']} {envelope['type']} {envelope['occurred_at']}",
            flush=True,
        )


async def own_queue(channel: AbstractChannel) -> AbstractQueue:
    """This system's durable queue, bound to the event types it wants."""
    queue = await channel.declare_queue(
        f"{NAMESPACE}.city.{SYSTEM}.events",
        durable=True,
        arguments={"x-queue-type": "quorum"},
    )
    for event_type in EVENT_TYPES:
        await queue.bind(f"{NAMESPACE}.events", routing_key=event_type)
    return queue


async def main() -> None:
    since = datetime.fromisoformat(SINCE.replace("Z", "+00:00")) if SINCE else None
    handler = Handler(since)
    connection = await aio_pika.connect_robust(os.environ["AMQP_URL"])
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=50)  # a stream consumer must set one
        # the queue first, then the history: nothing falls between the two, and what
        # comes by both roads is handled once (by event_id)
        live = await own_queue(channel)
        await live.consume(handler)
        history = await channel.get_queue(f"{NAMESPACE}.events.history")
        offset: datetime | str = since if since is not None else "first"
        await history.consume(handler, arguments={"x-stream-offset": offset})
        print("ready", flush=True)
        await handler.done.wait()


if __name__ == "__main__":
    asyncio.run(main())
