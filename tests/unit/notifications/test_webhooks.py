"""Webhook filters and signatures (the notifications README's verification snippet included)."""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from pathlib import Path

import pytest

from services.notifications.domain.webhooks import (
    matches,
    new_secret,
    problem_with_filter,
    problem_with_secret,
    problem_with_url,
    signature,
    signed_headers,
    verify,
)
from services.notifications.service.handlers import NOTIFIED_EVENTS

SECRET = "s3cret-s3cret-s3cret"
BODY = b'{"event_id": "e1", "type": "work.started"}'
README = Path(__file__).resolve().parents[3] / "services" / "notifications" / "README.md"


@pytest.mark.parametrize(
    ("patterns", "event_type", "expected"),
    [
        (["*"], "work.started", True),
        (["work.started"], "work.started", True),
        (["work.*"], "work.started", True),
        (["work.*"], "workshop.opened", False),
        (["proposal.*", "material.shortage"], "material.shortage", True),
        (["proposal.*"], "material.reserved", False),
    ],
)
def test_matching(patterns: list[str], event_type: str, expected: bool) -> None:
    assert matches(patterns, event_type) is expected


def test_a_filter_naming_nothing_known_is_explained() -> None:
    assert problem_with_filter(["proposal.*", "work.completed"], NOTIFIED_EVENTS) is None
    problem = problem_with_filter(["budget.allocated", "work.*"], NOTIFIED_EVENTS)
    assert problem is not None
    assert problem.startswith("no event matches 'budget.allocated'; use \"*\"")
    assert "work.validated" in problem
    assert problem_with_filter([], NOTIFIED_EVENTS) is not None


def test_urls_and_secrets() -> None:
    assert problem_with_url("https://city.example/hook", https_only=True) is None
    assert problem_with_url("ftp://city.example", https_only=False) is not None
    assert problem_with_secret("short") is not None
    assert problem_with_secret(new_secret()) is None


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, 1_700_000_000, BODY) == f"sha256={expected}"


def test_headers_carry_timestamp_signature_and_the_delivery_id_as_idempotency_key() -> None:
    delivery_id, event_id = uuid.uuid4(), uuid.uuid4()
    headers = signed_headers(
        SECRET,
        1_700_000_000,
        BODY,
        delivery_id=delivery_id,
        event_type="work.started",
        event_id=event_id,
    )
    assert headers["X-Berdaya-Timestamp"] == "1700000000"
    assert verify(SECRET, headers["X-Berdaya-Timestamp"], BODY, headers["X-Berdaya-Signature"])
    assert headers["X-Berdaya-Delivery-Id"] == headers["Idempotency-Key"] == str(delivery_id)
    assert headers["X-Berdaya-Event-Id"] == str(event_id)
    assert headers["X-Berdaya-Event-Type"] == "work.started"


def test_a_tampered_body_or_wrong_secret_does_not_verify() -> None:
    given = signature(SECRET, 1_700_000_000, BODY)
    assert not verify(SECRET, "1700000000", BODY + b" ", given)
    assert not verify("another-secret-entirely", "1700000000", BODY, given)
    assert not verify(SECRET, "1700000001", BODY, given)


def test_the_readme_snippet_verifies_our_signature() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Webhooks") :]
    snippets = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    snippet = next((s for s in snippets if "def verify_berdaya_webhook" in s), None)
    assert snippet is not None, "the README's Webhooks section has the X-Berdaya snippet"
    scope: dict[str, object] = {}
    exec(snippet, scope)  # the reader's code, run as they would
    check = scope["verify_berdaya_webhook"]
    assert callable(check)
    headers = signed_headers(
        SECRET, 1_700_000_000, BODY, delivery_id=uuid.uuid4(), event_type="x.y", event_id=None
    )
    assert check(SECRET, headers, BODY, now=1_700_000_100) is True
    assert check(SECRET, headers, BODY + b"!", now=1_700_000_100) is False
    assert check(SECRET, headers, BODY, now=1_700_009_999) is False  # too old: a replay
