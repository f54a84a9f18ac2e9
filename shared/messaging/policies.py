"""The topology set-up step every service runs at start: its RabbitMQ policies.

Policies cannot be set over AMQP, so this uses the management HTTP API
(`BERDAYA_RABBITMQ_MANAGEMENT_URL`; by default the AMQP URL's host on port 15672,
with the AMQP URL's credentials and vhost). `PUT /api/policies/{vhost}/{name}` is
idempotent: a changed setting (another `BERDAYA_MAX_DELIVERY_ATTEMPTS`) updates the
policy in place and RabbitMQ applies it to the existing queues at once.

`BERDAYA_BROKER_POLICIES`:
- `apply` (default): set them. If no management API answers, or it refuses this
  user (a user without the `policymaker` or `administrator` tag), the service logs one
  warning saying so and starts anyway: the queues then have the policies the broker
  already has — `deploy/broker/definitions.json` carries the same ones for the
  `berdaya` namespace. A service is not held down by the management plane: the
  consumers retry and dead-letter by themselves, with confirms; the policies are the
  backstop for a message that crashes its consumer again and again.
- `definitions`: never call; the broker's definitions own the policies (production,
  where the services' users have no management rights). One info line says so.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

import httpx

from shared.logs import get_logger
from shared.messaging.topology import Policy
from shared.urls import without_password

log = get_logger(__name__)
TIMEOUT_SECONDS = 5.0


class PoliciesNotApplied(RuntimeError):
    """The management API did not answer, or refused; `reason` says which."""


def management_endpoint(amqp_url: str, management_url: str = "") -> tuple[str, str, str, str]:
    """(base URL of the API, user, password, vhost) for `amqp_url`.

    `management_url` (e.g. `http://rabbitmq:15672`) replaces the derived address; its
    own credentials, if it has any, replace the AMQP ones."""
    amqp = urlsplit(amqp_url)
    user = unquote(amqp.username or "guest")
    password = unquote(amqp.password or "guest")
    vhost = unquote(amqp.path[1:]) if len(amqp.path) > 1 else "/"
    if management_url:
        given = urlsplit(management_url)
        if given.username:
            user, password = unquote(given.username), unquote(given.password or "")
        host = given.hostname or "127.0.0.1"
        netloc = f"{host}:{given.port}" if given.port else host
        base = urlunsplit((given.scheme or "http", netloc, given.path.rstrip("/"), "", ""))
    else:
        scheme, port = ("https", 15671) if amqp.scheme == "amqps" else ("http", 15672)
        base = f"{scheme}://{amqp.hostname or '127.0.0.1'}:{port}"
    return base, user, password, vhost


def management_tls(amqp_url: str) -> ssl.SSLContext | bool:
    """What the management API's certificate is verified against: the CA (and client
    certificate) the AMQP URL names for amqps — aiormq's `cafile`, `certfile` and
    `keyfile` query parameters — since one broker has one CA; else the system's."""
    query = dict(parse_qsl(urlsplit(amqp_url).query))
    if not query.get("cafile") and not query.get("certfile"):
        return True
    context = ssl.create_default_context(cafile=query.get("cafile") or None)
    if query.get("certfile"):
        context.load_cert_chain(query["certfile"], query.get("keyfile") or None)
    return context


class ManagementApi:
    """The few calls of RabbitMQ's management HTTP API this project makes."""

    def __init__(self, amqp_url: str, management_url: str = "") -> None:
        base, user, password, vhost = management_endpoint(amqp_url, management_url)
        self.base = base
        self.vhost = vhost
        self._auth = (user, password)
        self._verify = management_tls(amqp_url)

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=f"{self.base}/api",
            auth=self._auth,
            timeout=TIMEOUT_SECONDS,
            verify=self._verify,
        )

    def _path(self, kind: str, name: str = "") -> str:
        path = f"/{kind}/{quote(self.vhost, safe='')}"
        return f"{path}/{quote(name, safe='')}" if name else path

    async def put_policies(self, policies: Sequence[Policy]) -> None:
        async with self._client() as client:
            for policy in policies:
                answer = await _call(client, "PUT", self._path("policies", policy.name), policy)
                if answer.status_code not in (200, 201, 204):
                    raise PoliciesNotApplied(
                        f"the management API refused policy {policy.name}: "
                        f"{answer.status_code} {answer.text[:300]}"
                    )

    async def policy_names(self) -> list[str]:
        async with self._client() as client:
            answer = await _call(client, "GET", self._path("policies"))
            answer.raise_for_status()
            return [str(p["name"]) for p in answer.json()]

    async def delete_policy(self, name: str) -> None:
        async with self._client() as client:
            answer = await _call(client, "DELETE", self._path("policies", name))
            if answer.status_code not in (204, 404):
                answer.raise_for_status()

    async def queue_names(self) -> list[str]:
        async with self._client() as client:
            answer = await _call(client, "GET", self._path("queues") + "?columns=name")
            answer.raise_for_status()
            return [str(q["name"]) for q in answer.json()]

    async def exchange_names(self) -> list[str]:
        async with self._client() as client:
            answer = await _call(client, "GET", self._path("exchanges") + "?columns=name")
            answer.raise_for_status()
            return [str(e["name"]) for e in answer.json()]


async def _call(
    client: httpx.AsyncClient, method: str, path: str, policy: Policy | None = None
) -> httpx.Response:
    try:
        return await client.request(method, path, json=policy.body() if policy else None)
    except httpx.HTTPError as error:
        raise PoliciesNotApplied(
            f"no management API answers at {client.base_url}: {type(error).__name__}: {error}"
        ) from error


async def apply_policies(
    policies: Sequence[Policy], *, amqp_url: str, management_url: str, mode: str
) -> bool:
    """Make sure the broker has `policies`; True if this service set them."""
    names = [p.name for p in policies]
    if mode == "definitions":
        log.info(
            "broker policies: left to the broker's definitions (BERDAYA_BROKER_POLICIES="
            "definitions)",
            policies=names,
        )
        return False
    api = ManagementApi(amqp_url, management_url)
    try:
        await api.put_policies(policies)
    except PoliciesNotApplied as error:
        log.warning(
            "broker policies NOT set by this service; its queues run with the policies the "
            "broker already has (deploy/broker/definitions.json carries them for the berdaya "
            "namespace). To set them from here enable the management plugin "
            "(rabbitmq-plugins enable rabbitmq_management) and give the AMQP user the "
            "policymaker tag, or point BERDAYA_RABBITMQ_MANAGEMENT_URL at the API; to rely "
            "on the definitions say BERDAYA_BROKER_POLICIES=definitions",
            policies=names,
            management_api=without_password(api.base),
            reason=str(error)[:500],
        )
        return False
    log.info("broker policies set", policies=names, vhost=api.vhost)
    return True
