"""The channels that deliver: e-mail over SMTP, SMS/WhatsApp through an HTTP gateway,
and signed webhooks. Each raises `SendFailure` when the message did not go out, saying
whether retrying can help; each sends the delivery id where the channel allows an
idempotency key (and as Message-ID in e-mail).

Each calls `handing_over()` at the last moment the receiver certainly does not have
the message, and goes on only once it returned (the dispatcher records it): an
attempt that dies before that point certainly sent nothing, one that dies after it
may have. For e-mail that moment is just before the DATA command; see
`SmtpSender` for what the SMTP conversation allows."""

from __future__ import annotations

import asyncio
import json
import smtplib
import ssl
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
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
# On a copy sent after an attempt whose outcome is unknown (same Message-ID).
POSSIBLE_DUPLICATE_HEADER = "X-Berdaya-Possible-Duplicate"
# Records that the receiver may have the message from now on (see the module's doc).
HandOver = Callable[[], Coroutine[Any, Any, None]]


async def _nothing_to_record() -> None:
    return None


class Sender(Protocol):
    channel: DeliveryChannel

    def problem(self) -> str | None:
        """Why this channel cannot send at all (not configured), or None."""

    async def send(
        self, delivery: NotificationDelivery, endpoint: Endpoint | None, handing_over: HandOver
    ) -> None:
        """Deliver, or raise SendFailure; await `handing_over()` just before the
        receiver can have the message."""

    async def close(self) -> None: ...


class SmtpSender:
    """E-mail over SMTP, one connection per message.

    What the SMTP conversation allows (RFC 5321): the server takes responsibility for
    a message only by its 250 reply to the end of DATA (§4.1.1.4, §6.1); a connection
    lost before the final "." makes it discard the message. So:
    - before DATA (connect, TLS, AUTH, MAIL, RCPT) nothing can be delivered: an
      attempt cut off there is simply tried again;
    - `handing_over()` is recorded (committed) just before DATA;
    - a 250 is the only acceptance, and the dispatcher records `sent` as soon as it is
      read (the QUIT goes after, off the critical path);
    - between the final "." and that record, the outcome cannot be known: the server
      may have accepted while we never read its 250 (a timeout, a lost connection), or
      we read it and died before recording (RFC 1047 describes this window). SMTP has
      no idempotency key to close it; the copy carries the same Message-ID, by which
      mail stores and clients recognise it (Gmail keeps one; Sieve's duplicate test,
      RFC 7352, and most clients can drop it).
    """

    channel: DeliveryChannel = "email"

    def __init__(self, settings: NotificationSettings) -> None:
        self._settings = settings
        self._timeout = settings.notification_send_timeout_seconds
        self._quitting: set[asyncio.Task[None]] = set()
        # Its own threads: a conversation's thread waits on the event loop (the
        # hand-over record), which must never wait on a thread of the loop's own pool.
        self._threads: ThreadPoolExecutor | None = None

    def problem(self) -> str | None:
        if not self._settings.smtp_host:
            return "e-mail is not configured (set BERDAYA_SMTP_HOST); waiting"
        return None

    async def send(
        self,
        delivery: NotificationDelivery,
        endpoint: Endpoint | None = None,
        handing_over: HandOver = _nothing_to_record,
    ) -> None:
        if not delivery.address:
            raise SendFailure("no e-mail address", permanent=True)
        message = compose_email(delivery, self._settings.smtp_sender)
        loop = asyncio.get_running_loop()

        def before_data() -> None:
            # in smtplib's thread: wait until the hand-over is recorded in MongoDB
            asyncio.run_coroutine_threadsafe(handing_over(), loop).result()

        # smtplib blocks; a thread keeps the event loop (and the other channels) free.
        if self._threads is None:
            self._threads = ThreadPoolExecutor(
                self._settings.notification_sends_at_once, thread_name_prefix="smtp"
            )
        smtp = await loop.run_in_executor(
            self._threads, self._send_blocking, message, delivery.address, before_data
        )
        # accepted: the caller records it now; the QUIT need not hold that up
        quitting = asyncio.create_task(asyncio.to_thread(_quit, smtp))
        self._quitting.add(quitting)
        quitting.add_done_callback(self._quitting.discard)

    def _connect(self) -> _Smtp:
        """A connection; with TLS (implicit or STARTTLS) the server's certificate is
        verified — against `smtp_ca_file` if set, else the system's CAs — and its name."""
        s = self._settings
        if not (s.smtp_implicit_tls or s.smtp_starttls):
            return _Smtp(s.smtp_host, s.smtp_port, timeout=self._timeout)
        context = ssl.create_default_context(cafile=s.smtp_ca_file)
        if s.smtp_implicit_tls:
            return _SmtpSsl(s.smtp_host, s.smtp_port, timeout=self._timeout, context=context)
        smtp = _Smtp(s.smtp_host, s.smtp_port, timeout=self._timeout)
        try:
            smtp.starttls(context=context)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _send_blocking(
        self, message: EmailMessage, address: str, before_data: Callable[[], None]
    ) -> _Smtp:
        """The conversation up to the server's 250 after DATA; the connection, open."""
        s = self._settings
        smtp: _Smtp | None = None
        try:
            smtp = self._connect()
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
            smtp.before_data = before_data
            smtp.send_message(message, to_addrs=[address])
            return smtp
        except Exception as error:
            if smtp is not None:
                smtp.close()
            failure = self._failure(error, address, handed_over=smtp is not None and smtp.in_data)
            if failure is error:
                raise
            raise failure from error
        finally:
            if smtp is not None:
                smtp.before_data = _no_hook

    def _failure(self, error: Exception, address: str, *, handed_over: bool) -> Exception:
        """What `error` means for the delivery."""
        if isinstance(error, SendFailure | smtplib.SMTPResponseException):
            pass  # an answer, or the hand-over not recorded: nothing was accepted
        elif handed_over and isinstance(error, OSError | smtplib.SMTPException):
            # DATA began and no answer came: the server may have taken the message
            return OutcomeUnknown(
                f"no answer from the mail server after the message ({type(error).__name__}); "
                "it may have been accepted"
            )
        if isinstance(error, SendFailure):
            return error
        if isinstance(error, smtplib.SMTPRecipientsRefused):
            return SendFailure(f"the mail server refused {address}: {error}", permanent=True)
        if isinstance(error, smtplib.SMTPResponseException):
            return SendFailure(
                f"the mail server answered {error.smtp_code}: {error.smtp_error!r}",
                permanent=500 <= error.smtp_code < 600,
            )
        if isinstance(error, ssl.SSLCertVerificationError):
            return SendFailure(
                f"the mail server's certificate is not trusted ({error.verify_message}); "
                "see BERDAYA_SMTP_CA_FILE"
            )
        if isinstance(error, smtplib.SMTPNotSupportedError):
            return SendFailure("the mail server does not offer STARTTLS")
        if isinstance(error, TimeoutError):
            return SendFailure(f"the mail server did not answer within {self._timeout:g} s")
        if isinstance(error, OSError | smtplib.SMTPException):
            return SendFailure(f"cannot reach the mail server: {type(error).__name__}")
        return error

    async def close(self) -> None:
        if self._quitting:
            await asyncio.wait(self._quitting)
        if self._threads is not None:
            self._threads.shutdown(wait=False)  # a conversation cut off by the stop ends alone
            self._threads = None


def _no_hook() -> None:
    return None


class _Smtp(smtplib.SMTP):
    """smtplib's client, calling `before_data` just before DATA (see `SmtpSender`)."""

    before_data: Callable[[], None] = staticmethod(_no_hook)
    in_data = False

    def data(self, msg: Any) -> tuple[int, bytes]:
        self.before_data()
        self.in_data = True
        return super().data(msg)


class _SmtpSsl(_Smtp, smtplib.SMTP_SSL):
    pass


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


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
    if delivery.possible_duplicate:
        # an earlier attempt may have been accepted unbeknown to us (see SmtpSender)
        message[POSSIBLE_DUPLICATE_HEADER] = "yes"
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

    async def send(
        self,
        delivery: NotificationDelivery,
        endpoint: Endpoint | None = None,
        handing_over: HandOver = _nothing_to_record,
    ) -> None:
        if not delivery.address:
            raise SendFailure("no phone number", permanent=True)
        values = {
            "to": delivery.address,
            "text": sms_text(delivery.title, delivery.text, delivery.language),
            "via": delivery.via or "sms",
            "delivery_id": str(delivery.id),
        }
        body = json.dumps(fill_template(self._template, values)).encode()
        await handing_over()
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

    async def send(
        self,
        delivery: NotificationDelivery,
        endpoint: Endpoint | None,
        handing_over: HandOver = _nothing_to_record,
    ) -> None:
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
        await handing_over()
        response = await self._post(url, body, headers | host, extensions)
        if not response.is_success:
            # the status alone: the body is the receiver's, and may echo anything
            raise SendFailure(f"the endpoint answered {response.status_code}")
