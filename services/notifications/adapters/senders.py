"""The channels that deliver: e-mail over SMTP, SMS/WhatsApp through an HTTP gateway,
and signed webhooks. Each raises `SendFailure` when the message did not go out, saying
whether retrying can help; each sends the delivery id where the channel allows an
idempotency key (and as Message-ID in e-mail)."""

from __future__ import annotations

import asyncio
import json
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Protocol

import httpx

from services.notifications.adapters.destinations import (
    Destinations,
    Resolver,
    UnsafeDestination,
    pinned,
    resolve,
)
from services.notifications.adapters.secret_box import SecretBox, SecretBoxError
from services.notifications.domain.deliveries import (
    DeliveryChannel,
    NotificationDelivery,
    OutcomeUnknown,
    SendFailure,
)
from services.notifications.domain.messages import email_subject, email_text, sms_text
from services.notifications.domain.webhooks import (
    DELIVERY_HEADER,
    IDEMPOTENCY_HEADER,
    Endpoint,
    signed_headers,
)
from services.notifications.settings import NotificationSettings
from shared.clock import Clock, utc_now
from shared.logs import redact_http_client_urls

# HTTP answers that retrying the same request can change.
RETRYABLE_STATUS = {408, 425, 429}


class Sender(Protocol):
    channel: DeliveryChannel

    def problem(self) -> str | None:
        """Why this channel cannot send at all (not configured), or None."""

    async def send(self, delivery: NotificationDelivery, endpoint: Endpoint | None) -> None:
        """Deliver, or raise SendFailure."""

    async def close(self) -> None: ...


class SmtpSender:
    channel: DeliveryChannel = "email"

    def __init__(self, settings: NotificationSettings) -> None:
        self._settings = settings
        self._timeout = settings.notification_send_timeout_seconds

    def problem(self) -> str | None:
        if not self._settings.smtp_host:
            return "e-mail is not configured (set BERDAYA_SMTP_HOST); waiting"
        return None

    async def send(self, delivery: NotificationDelivery, endpoint: Endpoint | None = None) -> None:
        if not delivery.address:
            raise SendFailure("no e-mail address", permanent=True)
        message = compose_email(delivery, self._settings.smtp_sender)
        # smtplib blocks; a thread keeps the event loop (and the other channels) free.
        await asyncio.to_thread(self._send_blocking, message, delivery.address)

    def _connect(self) -> smtplib.SMTP:
        """A connection; with TLS (implicit or STARTTLS) the server's certificate is
        verified — against `smtp_ca_file` if set, else the system's CAs — and its name."""
        s = self._settings
        if not (s.smtp_implicit_tls or s.smtp_starttls):
            return smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=self._timeout)
        context = ssl.create_default_context(cafile=s.smtp_ca_file)
        if s.smtp_implicit_tls:
            return smtplib.SMTP_SSL(
                s.smtp_host, s.smtp_port, timeout=self._timeout, context=context
            )
        smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=self._timeout)
        try:
            smtp.starttls(context=context)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _send_blocking(self, message: EmailMessage, address: str) -> None:
        s = self._settings
        try:
            with self._connect() as smtp:
                if s.smtp_username:
                    smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
                try:
                    smtp.send_message(message, to_addrs=[address])
                except TimeoutError as error:
                    # the server may have taken the message without our hearing it
                    raise OutcomeUnknown(
                        f"the mail server did not answer within {self._timeout:g} s"
                    ) from error
        except SendFailure:
            raise
        except smtplib.SMTPRecipientsRefused as error:
            raise SendFailure(
                f"the mail server refused {address}: {error}", permanent=True
            ) from error
        except smtplib.SMTPResponseException as error:
            raise SendFailure(
                f"the mail server answered {error.smtp_code}: {error.smtp_error!r}",
                permanent=500 <= error.smtp_code < 600,
            ) from error
        except ssl.SSLCertVerificationError as error:
            raise SendFailure(
                f"the mail server's certificate is not trusted ({error.verify_message}); "
                "see BERDAYA_SMTP_CA_FILE"
            ) from error
        except smtplib.SMTPNotSupportedError as error:
            raise SendFailure("the mail server does not offer STARTTLS") from error
        except (OSError, smtplib.SMTPException) as error:
            raise SendFailure(f"cannot reach the mail server: {type(error).__name__}") from error

    async def close(self) -> None:
        return None


def compose_email(delivery: NotificationDelivery, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = delivery.address or ""
    message["Subject"] = email_subject(delivery.title, delivery.language)
    message["Date"] = formatdate(localtime=False)
    # The delivery id as Message-ID: a retry after a crash carries the same one, so a
    # reader's mail client can tell the copy (SMTP itself has no idempotency key).
    message["Message-ID"] = f"<{delivery.id}@berdaya>"
    message[DELIVERY_HEADER] = str(delivery.id)
    message.set_content(email_text(delivery.text, delivery.language))
    message["Content-Language"] = delivery.language  # after set_content, which resets it
    return message


class _HttpSender:
    """Holds one HTTP client per channel, made in the loop that uses it. Failures
    say "unreachable" and never the URL, the address or the error's text: a URL may
    hold a token, and an endpoint's owner must not learn what our network holds."""

    what = "the gateway"

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            redact_http_client_urls()  # httpx logs each request's URL
            self._client = self._make_client()
        return self._client

    def _make_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)

    async def _post(
        self,
        url: str | httpx.URL,
        body: bytes,
        headers: dict[str, str],
        extensions: dict[str, Any] | None = None,
    ) -> httpx.Response:
        try:
            return await self.client.post(url, content=body, headers=headers, extensions=extensions)
        except httpx.TimeoutException as error:
            raise SendFailure(
                f"{self.what} is unreachable: no answer within {self._timeout:g} s"
            ) from error
        except httpx.HTTPError as error:
            raise SendFailure(f"{self.what} is unreachable") from error

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class GatewaySender(_HttpSender):
    """Any HTTP SMS/WhatsApp gateway: a JSON body from a template, a token header."""

    channel: DeliveryChannel = "sms"

    def __init__(self, settings: NotificationSettings) -> None:
        super().__init__(settings.notification_send_timeout_seconds)
        self._settings = settings
        self._template_problem: str | None = None
        try:
            self._template: Any = json.loads(settings.sms_gateway_template)
        except ValueError as error:
            self._template_problem = f"BERDAYA_SMS_GATEWAY_TEMPLATE is not JSON: {error}"

    def problem(self) -> str | None:
        if not self._settings.sms_gateway_url:
            return "SMS/WhatsApp is not configured (set BERDAYA_SMS_GATEWAY_URL); waiting"
        return self._template_problem

    async def send(self, delivery: NotificationDelivery, endpoint: Endpoint | None = None) -> None:
        if not delivery.address:
            raise SendFailure("no phone number", permanent=True)
        values = {
            "to": delivery.address,
            "text": sms_text(delivery.title, delivery.text, delivery.language),
            "via": delivery.via or "sms",
            "delivery_id": str(delivery.id),
        }
        body = json.dumps(fill_template(self._template, values)).encode()
        response = await self._post(self._settings.sms_gateway_url, body, self._headers(delivery))
        if not response.is_success:
            raise SendFailure(
                f"the gateway answered {response.status_code}: {response.text[:200]}",
                permanent=response.is_client_error and response.status_code not in RETRYABLE_STATUS,
            )

    def _headers(self, delivery: NotificationDelivery) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: str(delivery.id),
            DELIVERY_HEADER: str(delivery.id),
        }
        token = self._settings.sms_gateway_token.get_secret_value()
        if token:
            scheme = self._settings.sms_gateway_auth_scheme
            headers[self._settings.sms_gateway_auth_header] = f"{scheme} {token}".strip()
        return headers


def fill_template(template: Any, values: dict[str, str]) -> Any:
    """The template with `{name}` replaced in every string; the JSON around stays valid
    whatever the values hold, since they are put in after parsing."""
    if isinstance(template, str):
        for name, value in values.items():
            template = template.replace(f"{{{name}}}", value)
        return template
    if isinstance(template, list):
        return [fill_template(item, values) for item in template]
    if isinstance(template, dict):
        return {key: fill_template(item, values) for key, item in template.items()}
    return template


class WebhookSender(_HttpSender):
    """POSTs the event's envelope, signed, to a city system's endpoint: to the address
    checked just before (see adapters/destinations.py), never to one the name resolves
    to afterwards."""

    channel: DeliveryChannel = "webhook"
    what = "the endpoint"

    def __init__(
        self, settings: NotificationSettings, clock: Clock = utc_now, resolver: Resolver = resolve
    ) -> None:
        super().__init__(settings.notification_send_timeout_seconds)
        self._clock = clock
        self._box = SecretBox.of(settings)
        self._destinations = Destinations.of(settings, resolver)

    def _make_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=self._timeout,
            follow_redirects=False,
            # no proxy from the environment: it would resolve the name itself
            trust_env=False,
            # a kept connection is keyed by address, not name: two endpoints on one
            # address must not share a TLS session verified for the other's name
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    def problem(self) -> str | None:
        return None

    async def send(self, delivery: NotificationDelivery, endpoint: Endpoint | None) -> None:
        if endpoint is None:
            raise SendFailure("the endpoint was removed", permanent=True)
        try:
            destination = await self._destinations.check(endpoint.url)
        except UnsafeDestination as refused:
            raise SendFailure(f"the endpoint is unreachable: {refused.reason}") from refused
        body = delivery.body.encode()
        now = self._clock()
        try:
            current = self._box.open(endpoint.secret.sealed)
            overlapping = [
                self._box.open(old.sealed)
                for old in endpoint.previous_secrets
                if old.expires_at is not None and old.expires_at > now
            ]
        except SecretBoxError as error:
            raise SendFailure(str(error)) from error
        headers = signed_headers(
            current,
            int(now.timestamp()),
            body,
            delivery_id=delivery.id,
            event_type=delivery.event_type or "",
            event_id=delivery.event_id,
            also_signing=overlapping,
        )
        url, host, extensions = pinned(destination)
        response = await self._post(url, body, headers | host, extensions)
        if not response.is_success:
            # the status alone: the body is the receiver's, and may echo anything
            raise SendFailure(f"the endpoint answered {response.status_code}")
