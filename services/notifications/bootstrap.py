"""Wires the notifications service: settings → runtime → handlers → HTTP and consumers."""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI
from faststream import FastStream

from services.notifications.adapters import feed
from services.notifications.entrypoints.http import build_router
from services.notifications.service.handlers import NOTIFIED_EVENTS, notify
from shared.runtime import ServiceRuntime, build_runtime, documented_app
from shared.settings import ServiceSettings
from shared.web.app import create_app

SERVICE: Final = "notifications"


def build(settings: ServiceSettings | None = None) -> tuple[ServiceRuntime, FastAPI]:
    settings = settings or ServiceSettings(service_name=SERVICE)
    # notification.sent / notification.failed come with the delivery channels;
    # the in-app feed alone publishes nothing yet.
    runtime = build_runtime(settings, SERVICE, [feed.create_indexes], publishes=())
    for event_type in NOTIFIED_EVENTS:
        runtime.consumers.on(event_type, notify)
    app = create_app(
        runtime,
        title="Berdaya notifications",
        description="Tells each person what concerns them about each job.",
        routers=[build_router()],
    )
    return runtime, app


def asyncapi_app() -> FastStream:
    """For `faststream docs gen --factory services.notifications.bootstrap:asyncapi_app`."""
    return documented_app(SERVICE, build)
