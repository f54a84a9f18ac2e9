"""Rebuild: drop the read model and take every event again from the event history.

The history is a RabbitMQ stream bound to the events exchange with `#` (shared/
messaging/topology.py, `history_stream`): read from its first retained event
(`x-stream-offset: first`), with a bounded prefetch and manual acks (a stream needs
both), until nothing more comes for `idle_seconds` — a stream never ends, so "caught
up" is "quiet for a moment". Each event goes through the same `apply` as the
consumers, in a transaction of its own. The consumers may keep running meanwhile: a
fact is kept once by its event id and each view is derived from all the facts, so an
event taken by both is taken once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from services.transparency.adapters.repository import ReadModel
from services.transparency.service.handlers import FOLLOWED_EVENTS, apply
from shared.contracts import CATALOGUE, InvalidEvent
from shared.contracts.catalogue import Producer
from shared.logs import get_logger
from shared.messaging import trust
from shared.storage.unit_of_work import Transactions, UnitOfWork

log = get_logger(__name__)
PREFETCH = 200


@dataclass
class RebuildReport:
    read: int = 0
    applied: int = 0
    skipped: int = 0  # events the page does not follow
    refused: int = 0  # not a valid event, or from a publisher not its producer


@dataclass(frozen=True)
class Rebuild:
    transactions: Transactions
    amqp_url: str
    stream: str
    max_message_bytes: int
    user: str = trust.DEVELOPMENT_USER
    idle_seconds: float = 2.0
    prefetch: int = PREFETCH

    async def run(self) -> RebuildReport:
        await self.transactions.run(self._clear, correlation_id="transparency-rebuild")
        report = RebuildReport()
        connection = await aio_pika.connect_robust(self.amqp_url)
        async with connection:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=self.prefetch)
            queue = await channel.get_queue(self.stream, ensure=True)
            async with queue.iterator(arguments={"x-stream-offset": "first"}) as messages:
                while True:
                    try:
                        async with asyncio.timeout(self.idle_seconds):
                            message = await anext(messages)
                    except TimeoutError:
                        break
                    await self._take(message, report)
                    await message.ack()
        log.info("read model rebuilt from the event history", stream=self.stream, **vars(report))
        return report

    async def _clear(self, uow: UnitOfWork) -> None:
        await ReadModel(uow.db, uow.session).clear()

    async def _take(self, message: AbstractIncomingMessage, report: RebuildReport) -> None:
        report.read += 1
        if message.routing_key not in FOLLOWED_EVENTS:
            report.skipped += 1
            return
        try:
            parsed = CATALOGUE.parse(message.body, max_bytes=self.max_message_bytes)
            contract = CATALOGUE.newest(parsed.envelope.type)
            self._check_publisher(message, parsed.envelope.producer, contract.producer)
            event = CATALOGUE.upcast(parsed, contract.data_model)
        except (InvalidEvent, LookupError) as error:
            report.refused += 1
            log.warning("history event refused", reason=str(error)[:300])
            return
        envelope = event.envelope

        async def work(uow: UnitOfWork) -> None:
            await apply(uow, envelope.event_id, envelope.type, envelope.occurred_at, event.data)

        await self.transactions.run(
            work, correlation_id=envelope.correlation_id, causation_id=str(envelope.event_id)
        )
        report.applied += 1

    def _check_publisher(
        self, message: AbstractIncomingMessage, declared: str, producer: Producer
    ) -> None:
        refusal = trust.publisher_refusal(
            message.routing_key or "",
            declared_producer=declared,
            catalogue_producer=producer,
            publisher=trust.vouched_publisher(message.user_id, message.headers, self.user),
            checks_users=self.user != trust.DEVELOPMENT_USER,
        )
        if refusal is not None:
            raise InvalidEvent(refusal)
