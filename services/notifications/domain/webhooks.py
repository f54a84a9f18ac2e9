"""Outbound webhooks: which events an endpoint wants, where they may go, and how a
delivery is signed (pure, no I/O).

Signatures follow the Standard Webhooks specification (standardwebhooks.com):
`webhook-id` (the delivery id), `webhook-timestamp` (Unix seconds) and
`webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, one per
secret that still signs (space-separated: during a rotation, the new and the old).
Secrets have the specification's form `whsec_<base64 of 24 to 64 random bytes>`.
The older `X-Berdaya-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`
with `X-Berdaya-Timestamp` stays beside them, signed with the current secret only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit

from pydantic import BaseModel, Field
from standardwebhooks.webhooks import Webhook

from shared.clock import Timestamp

TIMESTAMP_HEADER = "X-Berdaya-Timestamp"
SIGNATURE_HEADER = "X-Berdaya-Signature"
DELIVERY_HEADER = "X-Berdaya-Delivery-Id"
EVENT_TYPE_HEADER = "X-Berdaya-Event-Type"
EVENT_ID_HEADER = "X-Berdaya-Event-Id"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Standard Webhooks
WEBHOOK_ID_HEADER = "webhook-id"
WEBHOOK_TIMESTAMP_HEADER = "webhook-timestamp"
WEBHOOK_SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # what a generated secret has
MIN_SECRET_BYTES, MAX_SECRET_BYTES = 24, 64  # the specification's bounds
# 24 random bytes have ~23 distinct values; fewer than this is a pattern, not chance.
MIN_DISTINCT_SECRET_BYTES = 16


class EndpointSecret(BaseModel):
    """A signing secret as stored: encrypted, with a hint to tell secrets apart."""

    sealed: str = Field(description="the secret, encrypted with BERDAYA_WEBHOOK_SECRET_KEYS")
    hint: str = Field(description="the secret's last four characters")
    expires_at: Timestamp | None = Field(
        default=None, description="a replaced secret still signs until then"
    )


class Endpoint(BaseModel):
    id: uuid.UUID
    url: str
    events: tuple[str, ...] = Field(description='event types, "proposal.*" or "*"')
    secret: EndpointSecret
    previous_secrets: tuple[EndpointSecret, ...] = Field(
        default=(), description="replaced secrets that still sign until they expire"
    )
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


def problem_with_url(url: str, *, https_only: bool) -> str | None:
    """What is wrong with `url` as an endpoint, before resolving its host. Messages
    never repeat the URL: it may hold a token."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        return "the endpoint URL must start with https:// (or http:// in development)"
    if https_only and parts.scheme != "https":
        return "the endpoint URL must start with https://"
    if parts.username is not None or parts.password is not None:
        return (
            "the endpoint URL must not hold credentials (user:password@); the signature "
            "tells the receiver the request is ours"
        )
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number in range)
    except ValueError:
        return "the endpoint URL's port must be a number from 1 to 65535"
    if not parts.hostname:
        return "the endpoint URL names no host"
    return None


# Networks that are not the public internet beyond what `ipaddress` flags.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _embedded_ipv4(ip: IpAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64), if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _kind(ip: IpAddress) -> str | None:
    """What makes `ip` other than a public unicast address, or None."""
    checks = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),  # 169.254/16, fe80::/10: cloud metadata lives here
        (ip.is_multicast, "multicast"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED, "shared (CGNAT)"),
        (ip.is_reserved, "reserved"),
        (ip.is_private, "private"),
        (not ip.is_global, "non-public"),
    )
    return next((kind for flagged, kind in checks if flagged), None)


# What BERDAYA_WEBHOOK_ALLOW_PRIVATE_NETWORKS lets through (a local receiver in
# development); link-local, multicast and the rest stay refused.
_PRIVATE_KINDS = frozenset({"loopback", "private", "shared (CGNAT)"})


def problem_with_address(address: str, *, allow_private: bool = False) -> str | None:
    """None if a webhook may connect to `address` (an IP, as the resolver gives it)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # without an IPv6 zone
    except ValueError:
        return "the endpoint's host resolves to something that is not an IP address"
    embedded = _embedded_ipv4(ip)
    kind = _kind(embedded) if embedded is not None else None
    kind = kind or (_kind(ip) if embedded is None else None)
    if kind is None or (allow_private and kind in _PRIVATE_KINDS):
        return None
    return f"the endpoint's host resolves to a {kind} address; webhooks go only to public ones"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def problem_with_secret(secret: str) -> str | None:
    """A secret a caller chose must be as good as one we make."""
    form = (
        f"a secret must be {SECRET_PREFIX}<base64 of {MIN_SECRET_BYTES} to "
        f"{MAX_SECRET_BYTES} random bytes> (leave it out and one is generated)"
    )
    if not secret.startswith(SECRET_PREFIX):
        return form
    try:
        raw = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return form
    if not MIN_SECRET_BYTES <= len(raw) <= MAX_SECRET_BYTES:
        return form
    if len(set(raw)) < MIN_DISTINCT_SECRET_BYTES:
        return "the secret is too regular to be random; leave it out and one is generated"
    return None


def secret_key(secret: str) -> bytes:
    """The HMAC key of `secret`: the bytes a `whsec_` secret encodes; a secret of
    before Standard Webhooks (any text) signs with its UTF-8 bytes, so a receiver
    verifies with `whsec_` + base64 of them."""
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret[len(SECRET_PREFIX) :])
    return secret.encode()


def standard_signature(
    secrets_in_use: Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> str:
    """`v1,<base64>` for each secret, space-separated (Standard Webhooks)."""
    at = datetime.fromtimestamp(timestamp, UTC)
    text = body.decode()
    return " ".join(Webhook(secret_key(s)).sign(msg_id, at, text) for s in secrets_in_use)


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
    also_signing: Sequence[str] = (),
) -> dict[str, str]:
    """`also_signing`: replaced secrets still in their overlap."""
    msg_id = str(delivery_id)  # the same on every retry, as the specification asks
    headers = {
        "Content-Type": "application/json",
        WEBHOOK_ID_HEADER: msg_id,
        WEBHOOK_TIMESTAMP_HEADER: str(timestamp),
        WEBHOOK_SIGNATURE_HEADER: standard_signature(
            [secret, *also_signing], msg_id, timestamp, body
        ),
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
