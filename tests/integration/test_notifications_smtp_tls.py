"""E-mail over STARTTLS to a real SMTP server (aiosmtpd) whose certificate comes from a
CA made in the test: sent when the service trusts that CA, refused — and recorded as
a failure that says why — when it does not."""

from __future__ import annotations

import ssl
import uuid
from pathlib import Path

from services.notifications.domain.deliveries import Status
from tests.support.infrastructure import Infrastructure
from tests.support.notifications import (
    RT_HEAD_ENTRY,
    channel_settings,
    deliveries_of,
    journey_event,
    notifications_api,
    preferences,
    register,
    smtp_sink,
)
from tests.support.people import RT_HEAD
from tests.support.probe import eventually, until_async
from tests.support.runtime import publish_envelope
from tests.support.tls import make_test_pki


def server_context(pki_dir: Path) -> tuple[ssl.SSLContext, Path]:
    """The SMTP server's TLS context (a certificate for localhost and 127.0.0.1) and
    the CA file that vouches for it."""
    pki = make_test_pki(pki_dir)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    return context, pki.ca


async def test_starttls_sends_when_the_server_certificate_is_trusted(
    infra: Infrastructure, namespace: str, tmp_path: Path
) -> None:
    context, ca = server_context(tmp_path / "pki")
    with smtp_sink(tls=context) as smtp:
        settings = channel_settings(smtp) | {"smtp_starttls": True, "smtp_ca_file": ca}
        async with notifications_api(infra, namespace, **settings) as (runtime, api):
            await register(api, RT_HEAD.id, **RT_HEAD_ENTRY, preferences=preferences("email"))
            await publish_envelope(
                infra, namespace, journey_event("proposal.verified", uuid.uuid4())
            )
            await eventually(lambda: len(smtp.messages) == 1, what="the e-mail over TLS")
            rows = await until_async(
                lambda: deliveries_of(runtime, channel="email"),
                lambda found: [r.status for r in found] == [Status.SENT],
                what="the delivery recorded as sent",
            )
    assert rows[0].last_error is None
    assert smtp.messages[0]["To"] == RT_HEAD_ENTRY["email"]


async def test_starttls_to_an_untrusted_certificate_is_refused_and_recorded(
    infra: Infrastructure, namespace: str, tmp_path: Path
) -> None:
    context, _ = server_context(tmp_path / "server-pki")
    other_ca = make_test_pki(tmp_path / "other-pki").ca  # not the one that signed the server
    with smtp_sink(tls=context) as smtp:
        settings = channel_settings(smtp) | {"smtp_starttls": True, "smtp_ca_file": other_ca}
        async with notifications_api(infra, namespace, **settings) as (runtime, api):
            await register(api, RT_HEAD.id, **RT_HEAD_ENTRY, preferences=preferences("email"))
            await publish_envelope(
                infra, namespace, journey_event("proposal.verified", uuid.uuid4())
            )
            rows = await until_async(
                lambda: deliveries_of(runtime, channel="email"),
                lambda found: len(found) == 1 and found[0].last_error is not None,
                what="the failed attempt to be recorded",
            )
    (row,) = rows
    assert smtp.messages == []
    assert row.status is Status.PENDING  # retried later: a CA file can be fixed
    assert row.last_error is not None
    assert row.last_error.startswith("the mail server's certificate is not trusted (")
    assert "BERDAYA_SMTP_CA_FILE" in row.last_error
    assert row.log[-1].outcome == "retrying"
