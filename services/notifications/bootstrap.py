"""Wires the notifications service: settings → runtime → handlers, dispatcher and
digest scheduler → HTTP and consumers."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from fastapi import FastAPI
from faststream import FastStream

from services.notifications.adapters import deliveries, directory, endpoints, feed, proposals
from services.notifications.adapters.destinations import Destinations
from services.notifications.adapters.secret_box import SecretBox
from services.notifications.adapters.senders import GatewaySender, SmtpSender, WebhookSender
from services.notifications.domain.digests import DigestCalendar
from services.notifications.entrypoints.http import build_routers
from services.notifications.service.digests import DigestScheduler
from services.notifications.service.dispatcher import Dispatcher
from services.notifications.service.handlers import NOTIFIED_MODELS, Notifier
from services.notifications.service.people import PeopleCommands
from services.notifications.service.webhooks import DeliveryLog, WebhookCommands
from services.notifications.settings import NotificationSettings
from shared.runtime import ServiceRuntime, build_runtime, documented_app
from shared.settings import ServiceSettings
from shared.web.app import create_app

SERVICE: Final = "notifications"
SETTINGS: Final = NotificationSettings
# Every collection this service keeps besides the runtime's outbox and inbox: its
# MongoDB role names exactly these (shared/storage/access.py).
COLLECTIONS: Final = (
    feed.COLLECTION,
    deliveries.COLLECTION,
    directory.PEOPLE,
    directory.FOLLOWS,
    endpoints.COLLECTION,
    proposals.COLLECTION,
)
AUDIT_QUEUE_NOTE = (
    "notification.sent / notification.failed (one per delivery attempt, and one per "
    "in-app entry) also go to the durable quorum queue `<namespace>.audit.notifications`, "
    "bound to `notification.*`, for the city's audit system to read. It is a bounded "
    "buffer (its policy `<namespace>.audit-buffer` sets max-length and overflow "
    "drop-head): when nobody reads it, the oldest entries make room; the delivery log "
    "over HTTP is the record."
)


def build(given: ServiceSettings | None = None) -> tuple[ServiceRuntime, FastAPI]:
    settings = NotificationSettings.extending(given) if given else NotificationSettings()
    box = SecretBox.of(settings)
    runtime = build_runtime(
        settings,
        SERVICE,
        [
            feed.create_indexes,
            deliveries.create_indexes,
            directory.create_indexes,
            endpoints.create_indexes,
            endpoints.sealing_secrets(box),
            proposals.create_indexes,
        ],
    )
    dispatcher = _dispatcher(runtime, settings)
    # a committed event's e-mail goes out within milliseconds, not at the next poll
    notifier = Notifier(on_due=dispatcher.wake)
    for model in NOTIFIED_MODELS:
        runtime.consumers.on(model, notifier)
    digests = DigestScheduler(
        runtime.db,
        runtime.transactions,
        DigestCalendar(settings.digest_timezone, settings.digest_hour, settings.digest_day_seconds),
        poll_seconds=settings.digest_poll_seconds,
        on_built=dispatcher.nudge,
        stop_grace_seconds=settings.worker_stop_seconds,
    )
    runtime.workers += [dispatcher, digests]
    runtime.asyncapi_description = AUDIT_QUEUE_NOTE
    app = create_app(
        runtime,
        title="Berdaya notifications",
        description=(
            "Tells each person what concerns them about each job — by e-mail, SMS/WhatsApp "
            "and in the app, now or in a digest — and city systems by signed webhooks."
        ),
        routers=build_routers(),
    )
    app.state.people = PeopleCommands(runtime.db, runtime.transactions)
    app.state.webhooks = WebhookCommands(
        runtime.db,
        runtime.transactions,
        box=box,
        destinations=Destinations.of(settings),
        secret_overlap=timedelta(seconds=settings.webhook_secret_overlap_seconds),
        on_due=dispatcher.nudge,
    )
    app.state.delivery_log = DeliveryLog(runtime.db, runtime.transactions, on_due=dispatcher.nudge)
    return runtime, app


def _dispatcher(runtime: ServiceRuntime, settings: NotificationSettings) -> Dispatcher:
    return Dispatcher(
        runtime.db,
        runtime.transactions,
        [SmtpSender(settings), GatewaySender(settings), WebhookSender(settings)],
        service=SERVICE,
        poll_seconds=settings.notification_poll_seconds,
        lease_seconds=settings.notification_lease_seconds,
        send_timeout_seconds=settings.notification_send_timeout_seconds,
        retry_max_seconds=settings.notification_retry_max_seconds,
        max_endpoint_failures=settings.webhook_max_consecutive_failures,
        sends_at_once=settings.notification_sends_at_once,
        stop_grace_seconds=settings.worker_stop_seconds,
    )


def asyncapi_app() -> FastStream:
    """For `faststream docs gen --factory services.notifications.bootstrap:asyncapi_app`."""
    return documented_app(SERVICE, build)
