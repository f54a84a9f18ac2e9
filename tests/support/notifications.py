"""What the notification tests talk to: a real SMTP server (aiosmtpd) and a real local
HTTP server (for the SMS gateway and webhook receivers), each reading what arrived;
and a proposal's journey as the events the other services would publish."""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from aiosmtpd.controller import Controller

from deploy.local.run import free_port
from services.notifications.domain.deliveries import NotificationDelivery
from services.notifications.domain.digests import DigestCalendar
from services.notifications.service.digests import DigestScheduler
from services.notifications.service.dispatcher import Dispatcher
from shared.contracts import Envelope, new_envelope
from shared.contracts.events import ProposalEvent
from shared.contracts.types import Contract
from shared.runtime import ServiceRuntime
from shared.storage.documents import from_document
from tests.support.infrastructure import Infrastructure
from tests.support.people import CITY_OFFICER, auth
from tests.support.runtime import asgi_client, running_service
from tests.unit.shared.samples import samples_of_every_version

# The steps of one road job, in order, as the proposals and materials services
# announce them.
JOURNEY = [
    "proposal.submitted",
    "proposal.verified",
    "proposal.endorsed",
    "proposal.approved",
    "material.reserved",
    "material.dispatched",
    "material.delivered",
    "material.fulfilled",
    "work.started",
    "work.progress_reported",
    "work.completed",
    "work.validated",
]


def journey_event(
    event_type: str, proposal_id: uuid.UUID, version: int = 1, **changes: Any
) -> Envelope:
    """The sample payload of `event_type` (v1 unless told), about `proposal_id`, in an
    envelope."""
    data = samples_of_every_version()[(event_type, version)]
    assert isinstance(data, ProposalEvent)
    payload: Contract = data.model_copy(update={"proposal_id": proposal_id, **changes})
    producer = "materials" if event_type.startswith("material.") else "proposals"
    return new_envelope(payload, producer=producer, correlation_id=f"journey-{proposal_id}")


class _Inbox:
    def __init__(self, data_delay: float = 0.0) -> None:
        self.data_delay = data_delay  # seconds between the end of DATA and the 250
        self.messages: list[EmailMessage] = []
        self.arrived_at: list[float] = []  # time.time() of each message's 250, in order
        self.refused: set[str] = set()

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refused:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        if self.data_delay:
            # the server takes its time; a client that dies meanwhile never hears the 250,
            # and the message is accepted all the same (as a real server would)
            await asyncio.sleep(self.data_delay)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.arrived_at.append(time.time())
        return "250 Message accepted"


class SmtpSink:
    """A real SMTP server on a local port; `stop()` and `start()` take it down and up.
    With `tls`, it offers STARTTLS with that context and takes no mail without it."""

    def __init__(self, tls: ssl.SSLContext | None = None, data_delay: float = 0.0) -> None:
        self.port = free_port()
        self._inbox = _Inbox(data_delay)
        self._controller: Controller | None = None
        self._tls = tls

    @property
    def messages(self) -> list[EmailMessage]:
        return self._inbox.messages

    @property
    def arrived_at(self) -> list[float]:
        """When each of `messages` was accepted (wall clock, seconds)."""
        return self._inbox.arrived_at

    def refuse(self, address: str) -> None:
        self._inbox.refused.add(address)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def start(self) -> None:
        tls: dict[str, Any] = {"tls_context": self._tls, "require_starttls": True}
        self._controller = Controller(
            self._inbox, hostname="127.0.0.1", port=self.port, **(tls if self._tls else {})
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@contextmanager
def smtp_sink(tls: ssl.SSLContext | None = None, data_delay: float = 0.0) -> Iterator[SmtpSink]:
    sink = SmtpSink(tls, data_delay)
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpSink:
    """A real HTTP server on a local port that records every POST. `answer` decides
    the status of each (default 200); `delay` holds each answer back (seconds)."""

    requests: list[Request] = field(default_factory=list)  # as they arrive
    answered: list[tuple[Request, int]] = field(default_factory=list)  # once answered
    answer: Callable[[Request], int] = lambda _: 200
    delay: float = 0.0
    port: int = 0

    @property
    def accepted(self) -> list[Request]:
        """The requests answered with success."""
        return [request for request, status in self.answered if status < 300]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def header_values(self, name: str) -> list[str]:
        return [r.headers[name] for r in self.requests if name in r.headers]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        return None  # a client that gave up waiting (a timeout under test) is expected


@contextmanager
def http_sink() -> Iterator[HttpSink]:
    sink = HttpSink()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            request = Request(self.path, dict(self.headers.items()), self.rfile.read(length))
            sink.requests.append(request)
            status, delay = sink.answer(request), sink.delay  # as things stood on arrival
            if delay:
                time.sleep(delay)
            sink.answered.append((request, status))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}' if status < 400 else b'{"error": "refused"}')

        def log_message(self, format: str, *args: Any) -> None:
            return None  # keep test output quiet

    server = _QuietServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    sink.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()


def channel_settings(
    smtp: SmtpSink | None = None, gateway: HttpSink | None = None
) -> dict[str, Any]:
    """Settings overrides pointing the service at the sinks, and polling fast."""
    values: dict[str, Any] = {
        "notification_poll_seconds": 0.1,
        "notification_retry_max_seconds": 2.0,
        "digest_poll_seconds": 3600.0,  # tests build digests themselves, with their clock
        "webhook_allow_private_networks": True,  # the receivers listen on 127.0.0.1
    }
    if smtp is not None:
        values |= {"smtp_host": "127.0.0.1", "smtp_port": smtp.port}
    if gateway is not None:
        values |= {"sms_gateway_url": f"{gateway.url}/send", "sms_gateway_token": "gateway-token"}
    return values


def digest_scheduler(runtime: ServiceRuntime, clock: Callable[[], Any]) -> DigestScheduler:
    """A scheduler on the service's database whose clock the test sets."""
    return DigestScheduler(
        runtime.db, runtime.transactions, DigestCalendar(), poll_seconds=3600, clock=clock
    )


def dispatcher_of(runtime: ServiceRuntime) -> Dispatcher:
    """The running service's dispatcher, to make it look for work now."""
    return next(w for w in runtime.workers if isinstance(w, Dispatcher))


async def deliveries_of(runtime: ServiceRuntime, **query: Any) -> list[NotificationDelivery]:
    cursor = runtime.db["deliveries"].find(query).sort("created_at", 1)
    return [from_document(NotificationDelivery, d) async for d in cursor]


@asynccontextmanager
async def notifications_api(
    infra: Infrastructure, namespace: str, **overrides: Any
) -> AsyncIterator[tuple[ServiceRuntime, httpx.AsyncClient]]:
    """The notifications service in this event loop, and a client of its HTTP API."""
    async with (
        running_service("notifications", infra, namespace, **overrides) as (runtime, app),
        asgi_client(app, "http://notifications") as api,
    ):
        yield runtime, api


async def register(api: httpx.AsyncClient, person_id: str, **entry: Any) -> None:
    """Put a person in the directory, as a city officer would."""
    response = await api.put(f"/people/{person_id}", json=entry, headers=auth(CITY_OFFICER))
    assert response.status_code == 200, response.text


def preferences(*channels: str, frequency: str = "immediately") -> dict[str, Any]:
    return {"channels": list(channels), "frequency": frequency}


# A kelurahan officer of the RT head's kelurahan (add an id, contacts, preferences).
KELURAHAN_OFFICER_AREA: dict[str, Any] = {
    "role": "kelurahan_officer",
    "kecamatan": "Telanaipura",
    "kelurahan": "Simpang IV Sipin",
}
RT_HEAD_ENTRY: dict[str, Any] = {
    "role": "rt_head",
    "kecamatan": "Telanaipura",
    "kelurahan": "Simpang IV Sipin",
    "rt": "003",
    "email": "budi@example.id",
    "phone": "+6281200000003",
}
