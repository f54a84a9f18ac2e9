"""Prometheus metrics shared by every service (labelled by service)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter(
    "berdaya_events_consumed_total",
    "Events taken from a queue, by outcome (handled, duplicate, retried, dead_lettered).",
    ["service", "event_type", "outcome"],
)
EVENTS_REDELIVERED = Counter(
    "berdaya_events_redelivered_total",
    "Events the broker delivered again (a failed attempt, or a consumer gone before "
    "its ack); a storm of these after a stop means the stop was not graceful.",
    ["service", "event_type"],
)
EVENTS_PUBLISHED = Counter(
    "berdaya_events_published_total",
    "Events published from the outbox and confirmed by the broker.",
    ["service", "event_type"],
)
PUBLISH_FAILURES = Counter(
    "berdaya_publish_failures_total",
    "Outbox publishes that failed (broker down, unroutable, refused); retried later.",
    ["service", "event_type"],
)
DEAD_LETTERED = Counter(
    "berdaya_dead_lettered_total",
    "Messages moved to the dead-letter queue, by kind of reason (invalid, failing).",
    ["service", "event_type", "kind"],
)
HANDLER_SECONDS = Histogram(
    "berdaya_handler_seconds",
    "Time to handle one event, transaction included.",
    ["service", "event_type"],
)
OUTBOX_PENDING = Gauge(
    "berdaya_outbox_pending",
    "Events written but not yet confirmed by the broker.",
    ["service"],
)
CONSUMPTION_PAUSED = Counter(
    "berdaya_consumption_paused_total",
    "Waits of an event because MongoDB or RabbitMQ was unavailable: the event is kept and "
    "tried again, without spending one of its attempts.",
    ["service", "event_type"],
)
HTTP_REQUESTS = Counter(
    "berdaya_http_requests_total",
    "HTTP requests answered, by route template, method and status class (2xx, 4xx, 5xx).",
    ["service", "method", "route", "status_class"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "berdaya_http_request_seconds",
    "Time to answer an HTTP request, by route template, method and status class.",
    ["service", "method", "route", "status_class"],
)
