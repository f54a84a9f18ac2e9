"""Prometheus metrics of the notifications service (served on /metrics with the rest)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DELIVERY_ATTEMPTS = Counter(
    "berdaya_notification_attempts_total",
    "Delivery attempts by channel and outcome (sent, retrying, failed).",
    ["channel", "outcome"],
)
DELIVERIES_WAITING = Gauge(
    "berdaya_notification_deliveries_waiting",
    "Deliveries pending or being sent, by channel (digest steps not counted).",
    ["channel"],
)
POSSIBLE_DUPLICATES = Counter(
    "berdaya_notification_possible_duplicates_total",
    "Attempts that repeat one whose sender stopped before recording its outcome.",
    ["channel"],
)
SEND_SECONDS = Histogram(
    "berdaya_notification_send_seconds",
    "Time one attempt took to send, by channel.",
    ["channel"],
)
WEBHOOKS_DISABLED = Counter(
    "berdaya_webhook_endpoints_disabled_total",
    "Webhook endpoints disabled after too many failed deliveries in a row.",
)
DIGESTS_BUILT = Counter(
    "berdaya_notification_digests_total",
    "Digests built, by frequency and channel.",
    ["frequency", "channel"],
)
