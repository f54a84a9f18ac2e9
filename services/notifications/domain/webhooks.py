"""Outbound webhooks: which events an endpoint wants, and how a delivery is signed
(pure, no I/O).

Signature: `X-Berdaya-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`
with `X-Berdaya-Timestamp: <unix seconds>`; the README shows how to verify it.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, Field

from shared.clock import Timestamp

TIMESTAMP_HEADER = "X-Berdaya-Timestamp"
SIGNATURE_HEADER = "X-Berdaya-Signature"
DELIVERY_HEADER = "X-Berdaya-Delivery-Id"
EVENT_TYPE_HEADER = "X-Berdaya-Event-Type"
EVENT_ID_HEADER = "X-Berdaya-Event-Id"
IDEMPOTENCY_HEADER = "Idempotency-Key"
MIN_SECRET_CHARS = 16


class Endpoint(BaseModel):
    id: uuid.UUID
    url: str
    events: tuple[str, ...] = Field(description='event types, "proposal.*" or "*"')
    secret: str
    description: str = ""
    enabled: bool = True
    disabled_reason: str | None = None
    consecutive_failures: int = 0
    retry_at: Timestamp | None = Field(default=None, description="held back after a failure")
    created_by: str
    created_at: Timestamp
    updated_at: Timestamp


def matches(patterns: Iterable[str], event_type: str) -> bool:
    """True when one of `patterns` takes `event_type`: the type itself, "<prefix>.*" or "*"."""
    for pattern in patterns:
        if pattern in ("*", event_type):
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def problem_with_filter(patterns: Sequence[str], known: Sequence[str]) -> str | None:
    """None if every pattern takes at least one known event type, else what is wrong."""
    if not patterns:
        return 'name at least one event type (or "*" for all of them)'
    unknown = [p for p in patterns if not any(matches([p], t) for t in known)]
    if unknown:
        return (
            f"no event matches {', '.join(repr(p) for p in unknown)}; "
            f'use "*", a prefix such as "proposal.*", or one of: {", ".join(known)}'
        )
    return None


def problem_with_url(url: str) -> str | None:
    if not url.startswith(("https://", "http://")):
        return f"the endpoint URL must start with https:// (or http://), not {url[:40]!r}"
    return None


def problem_with_secret(secret: str) -> str | None:
    if len(secret) < MIN_SECRET_CHARS:
        return f"the secret must have at least {MIN_SECRET_CHARS} characters"
    return None


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def signed_headers(
    secret: str,
    timestamp: int,
    body: bytes,
    *,
    delivery_id: uuid.UUID,
    event_type: str,
    event_id: uuid.UUID | None,
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        DELIVERY_HEADER: str(delivery_id),
        IDEMPOTENCY_HEADER: str(delivery_id),
        EVENT_TYPE_HEADER: event_type,
    }
    if event_id is not None:
        headers[EVENT_ID_HEADER] = str(event_id)
    return headers


def verify(secret: str, timestamp: str, body: bytes, given: str) -> bool:
    """What a receiver does (the README's snippet, tested here)."""
    expected = signature(secret, int(timestamp), body)
    return hmac.compare_digest(expected, given)
