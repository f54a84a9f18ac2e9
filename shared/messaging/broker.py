"""The one way a service builds its RabbitMQ broker."""

from __future__ import annotations

import logging

from faststream.rabbit import RabbitBroker
from faststream.rabbit.schemas import Channel

from shared.settings import ServiceSettings


def build_broker(settings: ServiceSettings) -> RabbitBroker:
    return RabbitBroker(
        settings.amqp_url,
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
