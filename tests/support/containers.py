"""The system in containers, started with testcontainers on one network: RabbitMQ
loaded with the project's broker definitions, one MongoDB per service (replica sets
initiated by the image's own `shared.storage.replica_set`, as compose does), and the
service image — as many replicas of a service as a test asks for.

Images come from the environment (`deploy/standins.env` names the locally built
stand-ins; `make test` exports it), defaulting to the official ones.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from deploy.broker.definitions import ADMIN, SETUP, VHOST, dev_password
from deploy.local.run import TRANSACTION_LIFETIME_SECONDS, TRANSACTION_LOCK_WAIT_MILLIS
from services import SERVICES

REPO = Path(__file__).resolve().parents[2]
HTTP_PORT = 8000
STARTUP_SECONDS = 120.0


def image(variable: str, official: str) -> str:
    return os.environ.get(variable) or official


BERDAYA_IMAGE = image("BERDAYA_IMAGE", "berdaya:latest")
RABBITMQ_IMAGE = image("BERDAYA_RABBITMQ_IMAGE", "docker.io/library/rabbitmq:3.13-management")
MONGO_IMAGE = image("BERDAYA_MONGO_IMAGE", "docker.io/library/mongo:6.0")
SMTP_IMAGE = image("BERDAYA_SMTP_IMAGE", "docker.io/axllent/mailpit:v1.21")


def host_url(container: DockerContainer, port: int, scheme: str = "http") -> str:
    return f"{scheme}://{container.get_container_host_ip()}:{container.get_exposed_port(port)}"


def logs(container: DockerContainer) -> str:
    stdout, stderr = container.get_logs()
    return (stdout + stderr).decode(errors="replace")


def wait_until(check: object, what: str, within: float = STARTUP_SECONDS) -> None:
    assert callable(check)
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {within:g} s")
        time.sleep(0.5)


@dataclass
class Stack:
    network: Network
    rabbitmq: DockerContainer
    databases: dict[str, DockerContainer]
    smtp: DockerContainer
    services: dict[str, list[DockerContainer]] = field(default_factory=dict)
    _stack: ExitStack = field(default_factory=ExitStack)

    def url(self, service: str, replica: int = 0) -> str:
        return host_url(self.services[service][replica], HTTP_PORT)

    def amqp_url(self, user: str = ADMIN) -> str:
        host = self.rabbitmq.get_container_host_ip()
        port = self.rabbitmq.get_exposed_port(5672)
        return f"amqp://{user}:{dev_password(user)}@{host}:{port}/{VHOST}"

    def mongodb_url(self, service: str) -> str:
        database = self.databases[service]
        host, port = database.get_container_host_ip(), database.get_exposed_port(27017)
        return f"mongodb://{host}:{port}/?directConnection=true"

    def start_service(self, name: str, **env: str) -> DockerContainer:
        """One more replica of `name`, started and ready."""
        container = self._stack.enter_context(service_container(self.network, name, **env))
        self.services.setdefault(name, []).append(container)
        wait_until(lambda: ready(container), f"{name} ready")
        return container


def ready(service: DockerContainer) -> bool:
    """`/ready` answers 200; a container that exited fails at once, with its log."""
    wrapped = service.get_wrapped_container()
    wrapped.reload()
    if wrapped.status not in ("created", "running"):
        raise RuntimeError(f"the container stopped ({wrapped.status}):\n{logs(service)[-3000:]}")
    try:
        answer = httpx.get(f"{host_url(service, HTTP_PORT)}/ready", timeout=3)
    except httpx.HTTPError:
        return False
    return answer.status_code == 200


def service_container(
    network: Network,
    name: str,
    *,
    database: str | None = None,
    amqp_user: str | None = None,
    **env: str,
) -> DockerContainer:
    """The service image running `name`, with its own broker user and database."""
    user = amqp_user or name
    container = (
        DockerContainer(BERDAYA_IMAGE)
        .with_network(network)
        .with_command(name)
        .with_exposed_ports(HTTP_PORT)
        .with_env("AMQP_URL", f"amqp://{user}:{dev_password(user)}@rabbitmq:5672/{VHOST}")
        .with_env("MONGODB_URL", f"mongodb://{database or name + '-db'}:27017/?replicaSet=rs0")
        .with_env("BERDAYA_OUTBOX_POLL_SECONDS", "0.2")
        .with_env("BERDAYA_RATE_LIMITS_ENABLED", "false")
        # its user may configure nothing: `set_up_broker` declared its queues
        .with_env("BERDAYA_BROKER_TOPOLOGY", "verify")
    )
    for key, value in env.items():
        container = container.with_env(key, value)
    return container


def mongodb_container(network: Network | None = None, alias: str = "") -> DockerContainer:
    """A single-node replica set to be (uninitiated: see `initiate_replica_sets`)."""
    container = (
        DockerContainer(MONGO_IMAGE)
        .with_exposed_ports(27017)
        # the parameters of deploy/local/run.py's start_mongod (and compose)
        .with_command(
            "mongod --replSet rs0 --bind_ip_all"
            f" --setParameter transactionLifetimeLimitSeconds={TRANSACTION_LIFETIME_SECONDS}"
            f" --setParameter maxTransactionLockRequestTimeoutMillis={TRANSACTION_LOCK_WAIT_MILLIS}"
        )
    )
    if network is not None:
        container = container.with_network(network).with_network_aliases(alias)
    return container


def initiate_replica_sets(network: Network, *aliases: str) -> None:
    """Compose's `mongo-init`: the service image makes each a replica set and waits."""
    init = (
        DockerContainer(BERDAYA_IMAGE)
        .with_network(network)
        .with_kwargs(entrypoint=["python", "-m", "shared.storage.replica_set"])
        .with_command([f"{alias}:27017" for alias in aliases])
    )
    with init:
        status = init.get_wrapped_container().wait(timeout=STARTUP_SECONDS)
        assert status["StatusCode"] == 0, logs(init)


def set_up_broker(network: Network) -> None:
    """Compose's `broker-setup`: the set-up user declares every service's queues."""
    set_up = (
        DockerContainer(BERDAYA_IMAGE)
        .with_network(network)
        .with_kwargs(entrypoint=["python", "-m", "services.broker_setup"])
        .with_env("AMQP_URL", f"amqp://{SETUP}:{dev_password(SETUP)}@rabbitmq:5672/{VHOST}")
        .with_env("BERDAYA_BROKER_POLICIES", "definitions")
    )
    with set_up:
        status = set_up.get_wrapped_container().wait(timeout=STARTUP_SECONDS)
        assert status["StatusCode"] == 0, logs(set_up)


def broker_answers(host: str, port: int) -> bool:
    """An AMQP 0-9-1 handshake gets Connection.Start (a method frame) back."""
    try:
        with socket.create_connection((host, port), timeout=3) as connection:
            connection.sendall(b"AMQP\x00\x00\x09\x01")
            return connection.recv(1) == b"\x01"
    except OSError:
        return False


@contextmanager
def stack() -> Iterator[Stack]:
    """RabbitMQ, a MongoDB per service, an SMTP catcher; services are added by the tests."""
    with ExitStack() as exits:
        network = exits.enter_context(Network())
        broker_config = REPO / "deploy" / "broker"
        rabbitmq = exits.enter_context(
            DockerContainer(RABBITMQ_IMAGE)
            .with_network(network)
            .with_network_aliases("rabbitmq")
            .with_exposed_ports(5672)
            .with_volume_mapping(broker_config / "rabbitmq.conf", "/etc/rabbitmq/rabbitmq.conf")
            .with_volume_mapping(
                broker_config / "definitions.json", "/etc/rabbitmq/definitions.json"
            )
        )
        databases = {
            name: exits.enter_context(mongodb_container(network, f"{name}-db")) for name in SERVICES
        }
        smtp = exits.enter_context(
            DockerContainer(SMTP_IMAGE).with_network(network).with_network_aliases("smtp")
        )
        found = Stack(network, rabbitmq, databases, smtp, _stack=exits.enter_context(ExitStack()))
        wait_until(
            lambda: broker_answers(
                rabbitmq.get_container_host_ip(), int(rabbitmq.get_exposed_port(5672))
            ),
            "RabbitMQ answering",
        )
        initiate_replica_sets(network, *(f"{name}-db" for name in SERVICES))
        set_up_broker(network)
        yield found
