"""Safe webhooks without I/O: where they may go, how they are signed (Standard Webhooks,
verified with the `standardwebhooks` library), secrets strong and encrypted at rest,
and URLs kept out of logs."""

from __future__ import annotations

import base64
import logging
import secrets
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from cryptography.fernet import Fernet
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.notifications.adapters.destinations import (
    Destination,
    Destinations,
    UnsafeDestination,
    pinned,
)
from services.notifications.adapters.secret_box import SecretBox, SecretBoxError
from services.notifications.domain.webhooks import (
    new_secret,
    problem_with_address,
    problem_with_secret,
    problem_with_url,
    secret_key,
    signed_headers,
)
from services.notifications.settings import (
    DEVELOPMENT_WEBHOOK_SECRET_KEY,
    NotificationSettings,
    webhook_production_problems,
)
from shared.logs import RedactUrls
from shared.urls import for_logs

BODY = b'{"event_id": "e1", "type": "work.started"}'


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),  # fc00::/7
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1%eth0", "link-local"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped IPv6
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:a00:1::", "private"),  # 6to4 of 10.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("192.0.2.1", "private"),  # documentation (TEST-NET-1)
    ],
)
def test_addresses_that_are_not_public_are_refused(address: str, kind: str) -> None:
    problem = problem_with_address(address)
    assert problem == (
        f"the endpoint's host resolves to a {kind} address; webhooks go only to public ones"
    )


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700:4700::1111", "8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert problem_with_address(address) is None


def test_the_development_escape_hatch_lets_private_networks_through_but_not_metadata() -> None:
    for address in ("127.0.0.1", "::1", "10.0.0.5", "100.64.0.1", "::ffff:127.0.0.1"):
        assert problem_with_address(address, allow_private=True) is None
    for address in ("169.254.169.254", "fe80::1", "224.0.0.1", "0.0.0.0"):
        assert problem_with_address(address, allow_private=True) is not None


def test_urls_https_only_in_production_and_never_with_credentials() -> None:
    assert problem_with_url("http://city.example/hook", https_only=False) is None
    assert problem_with_url("http://city.example/hook", https_only=True) == (
        "the endpoint URL must start with https://"
    )
    with_password = problem_with_url("https://u:hunter2@city.example/", https_only=False)
    assert with_password is not None and "credentials" in with_password
    assert "hunter2" not in with_password
    assert problem_with_url("https://user@city.example/", https_only=False) is not None
    assert problem_with_url("https://city.example:99999/", https_only=False) is not None
    assert problem_with_url("https:///path", https_only=False) == "the endpoint URL names no host"


async def test_every_address_a_name_resolves_to_is_checked() -> None:
    async def rebinding(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "10.0.0.7"]  # one public, one private

    async def nothing(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    async def public(host: str, port: int) -> list[str]:
        return ["93.184.215.14"]

    strict = Destinations(https_only=True, allow_private=False, resolver=rebinding)
    with pytest.raises(UnsafeDestination, match="private address"):
        await strict.check("https://hooks.example/in")
    unresolved = Destinations(https_only=True, allow_private=False, resolver=nothing)
    with pytest.raises(UnsafeDestination, match="does not resolve"):
        await unresolved.check("https://hooks.example/in")
    with pytest.raises(UnsafeDestination, match="loopback"):
        await Destinations(https_only=False, allow_private=False).check("http://127.0.0.1:9/")
    found = await Destinations(https_only=True, allow_private=False, resolver=public).check(
        "https://hooks.example:8443/in?token=abc"
    )
    assert (found.host, found.address) == ("hooks.example", "93.184.215.14")


def test_a_delivery_connects_to_the_checked_address_with_the_name_for_host_and_tls() -> None:
    url, headers, extensions = pinned(
        destination("https://hooks.example:8443/in?t=1", "93.184.215.14")
    )
    assert str(url) == "https://93.184.215.14:8443/in?t=1"
    assert headers == {"Host": "hooks.example:8443"}
    assert extensions == {"sni_hostname": "hooks.example"}
    v6 = destination("http://hooks.example/in", "2606:4700::1")
    url, headers, extensions = pinned(v6)
    assert str(url) == "http://[2606:4700::1]/in"
    assert headers == {"Host": "hooks.example"} and extensions == {}


def destination(url: str, address: str) -> Destination:
    return Destination(url=url, host=urlsplit(url).hostname or "", address=address)


def test_secrets_are_whsec_random_bytes_and_weak_ones_are_refused() -> None:
    made = new_secret()
    assert made.startswith("whsec_") and len(base64.b64decode(made[6:])) == 32
    assert made != new_secret()
    assert problem_with_secret(made) is None
    assert (
        problem_with_secret("whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()) is None
    )
    for weak in (
        "a-long-but-plain-password-0001",  # not whsec_
        "whsec_" + base64.b64encode(secrets.token_bytes(16)).decode(),  # too short
        "whsec_" + base64.b64encode(b"a" * 32).decode(),  # a pattern
        "whsec_" + base64.b64encode(b"password" * 4).decode(),
        "whsec_not base64!",
    ):
        assert problem_with_secret(weak) is not None, weak


def test_signatures_verify_with_the_standard_webhooks_library_for_each_secret() -> None:
    new, old = new_secret(), new_secret()
    delivery_id = uuid.uuid4()
    now = int(datetime.now(UTC).timestamp())
    headers = signed_headers(
        new,
        now,
        BODY,
        delivery_id=delivery_id,
        event_type="work.started",
        event_id=None,
        also_signing=[old],
    )
    assert headers["webhook-id"] == str(delivery_id)
    assert headers["webhook-timestamp"] == str(now)
    assert [s.split(",")[0] for s in headers["webhook-signature"].split(" ")] == ["v1", "v1"]
    assert Webhook(new).verify(BODY, headers) == {"event_id": "e1", "type": "work.started"}
    assert Webhook(old).verify(BODY, headers)  # the receiver still on the old secret
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(BODY + b" ", headers)
    tampered_id = {**headers, "webhook-id": str(uuid.uuid4())}  # the id is signed
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(BODY, tampered_id)


def test_a_secret_of_before_standard_webhooks_signs_with_its_bytes() -> None:
    legacy = "city-dashboard-secret-0001"
    assert secret_key(legacy) == legacy.encode()
    now = int(datetime.now(UTC).timestamp())
    headers = signed_headers(
        legacy, now, BODY, delivery_id=uuid.uuid4(), event_type="x.y", event_id=None
    )
    assert Webhook("whsec_" + base64.b64encode(legacy.encode()).decode()).verify(BODY, headers)


def test_the_secret_box_encrypts_and_rotates_keys() -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    secret = new_secret()
    sealed_before = SecretBox(old_key).seal(secret)
    assert secret not in sealed_before
    both = SecretBox(f"{new_key},{old_key}")
    assert both.open(sealed_before) == secret
    assert not both.sealed_with_first_key(sealed_before)
    resealed = both.reseal(sealed_before)
    assert both.sealed_with_first_key(resealed)
    assert SecretBox(new_key).open(resealed) == secret  # the old key can go now
    with pytest.raises(SecretBoxError):
        SecretBox(new_key).open(sealed_before)
    with pytest.raises(ValueError, match="Fernet keys") as refused:
        SecretBox("not-a-key")
    assert "not-a-key" not in str(refused.value)


def test_production_refuses_private_networks_and_the_development_key() -> None:
    key = Fernet.generate_key().decode()
    assert webhook_production_problems(allow_private=False, secret_keys=key) == []
    (private,) = webhook_production_problems(allow_private=True, secret_keys=key)
    assert private.startswith("BERDAYA_WEBHOOK_ALLOW_PRIVATE_NETWORKS is for development")
    (development,) = webhook_production_problems(
        allow_private=False, secret_keys=f"{key},{DEVELOPMENT_WEBHOOK_SECRET_KEY}"
    )
    assert development.startswith("BERDAYA_WEBHOOK_SECRET_KEYS is the development key")
    # development takes them (the settings check production only)
    assert NotificationSettings(webhook_allow_private_networks=True).webhook_allow_private_networks


def test_https_only_in_production() -> None:
    production = Destinations.of(NotificationSettings.model_construct(environment="production"))
    assert production.problem_with_url("http://hooks.example/") == (
        "the endpoint URL must start with https://"
    )
    assert Destinations.of(NotificationSettings()).problem_with_url("http://hooks.example/") is None


def test_urls_in_logs_keep_only_scheme_host_and_port() -> None:
    assert for_logs("https://u:p@hooks.example:8443/T1/B2?token=abc#x") == (
        "https://hooks.example:8443/…"
    )
    assert for_logs("http://127.0.0.1:9") == "http://127.0.0.1:9"
    record = logging.LogRecord(
        "httpx",
        logging.INFO,
        __file__,
        1,
        'HTTP Request: %s %s "%s %d %s"',
        ("POST", "https://hooks.example/in?token=abc", "HTTP/1.1", 200, "OK"),
        None,
    )
    assert RedactUrls().filter(record)
    assert record.getMessage() == 'HTTP Request: POST https://hooks.example/… "HTTP/1.1 200 OK"'
