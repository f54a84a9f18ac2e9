"""The one way a service builds its RabbitMQ broker."""

from __future__ import annotations

import asyncio
import logging

from faststream.rabbit import RabbitBroker
from faststream.rabbit.schemas import Channel
from yarl import URL

from shared.settings import ServiceSettings

# Sooner than a probe's own timeout: readiness must answer quickly.
ANSWER_SECONDS = 2.0


def with_heartbeat(amqp_url: str, seconds: int) -> str:
    """The URL asking for `seconds` between heartbeats, unless it names its own."""
    url = URL(amqp_url)
    return amqp_url if "heartbeat" in url.query else str(url.update_query(heartbeat=seconds))


def build_broker(settings: ServiceSettings) -> RabbitBroker:
    return RabbitBroker(
        with_heartbeat(settings.amqp_url, settings.amqp_heartbeat_seconds),
        timeout=settings.amqp_connect_timeout_seconds,
        default_channel=Channel(
            prefetch_count=settings.prefetch_count,
            publisher_confirms=True,
            # mandatory publishes that no queue takes must fail loudly, not vanish
            on_return_raises=True,
        ),
        app_id=settings.service_name,
        # stopping waits this long for the events in flight to commit and ack
        graceful_timeout=settings.consumer_drain_seconds,
        logger=logging.getLogger(f"{settings.service_name}.broker"),
        # FastStream logs every message at INFO by default, which costs about a
        # quarter of consumer throughput; our consumer logs what matters.
        log_level=logging.DEBUG,
        description=f"Berdaya {settings.service_name} service",
    )


async def broker_answers(broker: RabbitBroker) -> bool:
    """True if the broker answers a round trip (a channel opened and closed) in time.

    A connection looks connected until its heartbeats run out, long after a partition
    began: only an answer tells that the broker is reachable now."""
    connection = broker._connection  # FastStream offers no public handle on it
    transport = connection.transport if connection is not None else None
    if transport is None or not await broker.ping(timeout=ANSWER_SECONDS):
        return False
    try:
        async with asyncio.timeout(ANSWER_SECONDS):
            channel = await transport.connection.channel(publisher_confirms=False)
            await channel.close()
    except Exception:
        return False
    return True
