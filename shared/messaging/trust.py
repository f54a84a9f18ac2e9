"""Who may publish which event: the catalogue names the producer, the broker vouches
for the publisher.

RabbitMQ refuses a message whose AMQP `user_id` is not the user of the connection that
publishes it, so `user_id` is the broker's word for who published. A consumer takes an
event only when the envelope's `producer` is the catalogue's producer of that type and
the broker user is that producer's user. A copy a service publishes of an event it
already took (a retry, a dead letter, a replay) carries its own `user_id`, so the
first publisher the broker vouched for travels in a header that only counts on such a
copy: on a message the consuming service itself published.

Under the shared development user `guest` every service is `guest` and the broker
cannot tell them apart: then only the envelope's producer is checked (production
refuses `guest`, see shared/settings.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.contracts.envelope import InvalidEvent
from shared.contracts.registry import Producer
from shared.messaging import headers

# Services publish as the broker user named after them; the city's own systems
# (finance, warehouse) through one integration user.
SERVICE_PRODUCERS = ("proposals", "materials", "notifications", "transparency")
INTEGRATIONS_USER = "city-integrations"
DEVELOPMENT_USER = "guest"


class UntrustedPublisher(InvalidEvent):
    """The event did not come from its producer: dead-lettered with the reason."""


def broker_user(producer: Producer) -> str:
    """The broker user whose messages may carry events of `producer`."""
    return producer if producer in SERVICE_PRODUCERS else INTEGRATIONS_USER


def vouched_publisher(user_id: str | None, found: Mapping[str, Any] | None, own_user: str) -> str:
    """Who the broker vouched for as the first publisher of a message this service
    received: its `user_id`, or — on a copy this service made itself — the header."""
    if user_id == own_user:
        first = (found or {}).get(headers.VOUCHED_PUBLISHER)
        if isinstance(first, bytes):
            first = first.decode(errors="replace")
        if isinstance(first, str) and first:
            return first
    return user_id or ""


def publisher_refusal(
    event_type: str,
    *,
    declared_producer: str,
    catalogue_producer: Producer,
    publisher: str,
    checks_users: bool,
) -> str | None:
    """Why this event may not be taken from this publisher, or None when it may."""
    if declared_producer != catalogue_producer:
        return (
            f"untrusted: {event_type} is produced by {catalogue_producer}, "
            f"but this one says it comes from {declared_producer!r}"
        )
    if not checks_users:
        return None
    expected = broker_user(catalogue_producer)
    if publisher != expected:
        return (
            f"untrusted: {event_type} must be published by the broker user {expected!r}; "
            f"this one was published by {publisher or 'no user_id'!r}"
        )
    return None
