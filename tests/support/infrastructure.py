"""Where the process tiers (integration, e2e, faults) find RabbitMQ and MongoDB.

By default the running ones: RabbitMQ at AMQP_URL (default the local broker) and
MongoDB at MONGODB_URL, or, when that is not set, a throwaway mongod from the PyPI
wheel on a free port with a temporary data directory. With
`BERDAYA_TEST_INFRA=containers`, testcontainers starts both instead (images as in
tests/support/containers.py; MongoDB as a single-node replica set, since the services
need transactions). The faults tier starts brokers and mongods of its own from the local
installs, so it needs the default.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from deploy.local import run

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


@dataclass(frozen=True)
class Infrastructure:
    amqp_url: str
    mongodb_url: str
    source: str  # "containers" or "running services"


def containers_wanted() -> bool:
    return os.environ.get("BERDAYA_TEST_INFRA", "local") == "containers"


@contextmanager
def infrastructure() -> Iterator[Infrastructure]:
    with ExitStack() as stack:
        if containers_wanted():
            yield Infrastructure(
                amqp_url=stack.enter_context(_rabbitmq_container()),
                mongodb_url=stack.enter_context(_mongodb_container()),
                source="containers",
            )
            return
        mongodb_url = os.environ.get("MONGODB_URL") or stack.enter_context(_throwaway_mongod())
        yield Infrastructure(
            amqp_url=os.environ.get("AMQP_URL", DEFAULT_AMQP_URL),
            mongodb_url=mongodb_url,
            source="running services",
        )


@contextmanager
def _throwaway_mongod() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="berdaya-test-mongo-") as directory:
        handle = run.start_mongod(Path(directory), run.free_port())
        try:
            yield handle.url
        finally:
            handle.stop()


@contextmanager
def _rabbitmq_container() -> Iterator[str]:
    from testcontainers.core.container import DockerContainer

    from tests.support.containers import RABBITMQ_IMAGE, broker_answers, wait_until

    # guest may log in from anywhere: a throwaway broker, reached through a mapped port
    guest_anywhere = "loopback_users = none\n"
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as config:
        config.write(guest_anywhere)
        config.flush()
        Path(config.name).chmod(0o644)
        container = (
            DockerContainer(RABBITMQ_IMAGE)
            .with_exposed_ports(5672)
            .with_volume_mapping(config.name, "/etc/rabbitmq/rabbitmq.conf")
        )
        with container as rabbit:
            host, port = rabbit.get_container_host_ip(), int(rabbit.get_exposed_port(5672))
            wait_until(lambda: broker_answers(host, port), "RabbitMQ answering")
            yield f"amqp://guest:guest@{host}:{port}/"


@contextmanager
def _mongodb_container() -> Iterator[str]:
    from pymongo import MongoClient

    from tests.support.containers import mongodb_container

    with mongodb_container() as container:
        host, port = container.get_container_host_ip(), container.get_exposed_port(27017)
        url = f"mongodb://{host}:{port}/?directConnection=true"
        client: MongoClient[dict[str, object]]
        with MongoClient(url, serverSelectionTimeoutMS=30_000) as client:
            # the member's name is how the server knows itself, inside its container
            members = [{"_id": 0, "host": "localhost:27017"}]
            client.admin.command("replSetInitiate", {"_id": "rs0", "members": members})
        _wait_until_writable(url)
        yield url


def _wait_until_writable(url: str, timeout: float = 60.0) -> None:
    from pymongo import MongoClient

    deadline = time.monotonic() + timeout
    client: MongoClient[dict[str, object]]
    with MongoClient(url, serverSelectionTimeoutMS=2000) as client:
        while not client.admin.command("hello").get("isWritablePrimary"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"MongoDB at {url} did not become primary")
            time.sleep(0.5)
