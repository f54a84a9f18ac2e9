"""Where the tests find RabbitMQ and MongoDB.

With a reachable container engine, testcontainers starts both (MongoDB as a
single-node replica set, since the services need transactions). Without one, the
running services are used: RabbitMQ at AMQP_URL (default the local broker) and
MongoDB at MONGODB_URL, or, when that is not set, a throwaway mongod from the
PyPI wheel on a free port with a temporary data directory.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from deploy.local import mongod

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


@dataclass(frozen=True)
class Infrastructure:
    amqp_url: str
    mongodb_url: str
    source: str  # "containers" or "running services"


def container_engine_reachable() -> bool:
    if os.environ.get("BERDAYA_TEST_NO_CONTAINERS"):
        return False
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
    except Exception:
        return False
    return True


@contextmanager
def infrastructure() -> Iterator[Infrastructure]:
    with ExitStack() as stack:
        if container_engine_reachable():
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
        handle = mongod.start_mongod(Path(directory), mongod.free_port())
        try:
            yield handle.url
        finally:
            handle.stop()


@contextmanager
def _rabbitmq_container() -> Iterator[str]:
    from testcontainers.community.rabbitmq import RabbitMqContainer

    with RabbitMqContainer("rabbitmq:3.13-management") as rabbit:
        host, port = rabbit.get_container_host_ip(), rabbit.get_exposed_port(rabbit.port)
        yield f"amqp://{rabbit.username}:{rabbit.password}@{host}:{port}/"


@contextmanager
def _mongodb_container() -> Iterator[str]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    container = (
        DockerContainer("mongo:7.0")
        .with_command(
            "--replSet rs0 --bind_ip_all --setParameter "
            f"transactionLifetimeLimitSeconds={mongod.TRANSACTION_LIFETIME_SECONDS}"
        )
        .with_exposed_ports(27017)
        .waiting_for(LogMessageWaitStrategy("Waiting for connections"))
    )
    with container:
        container.exec(
            [
                "mongosh",
                "--quiet",
                "--eval",
                "rs.initiate({_id: 'rs0', members: [{_id: 0, host: 'localhost:27017'}]})",
            ]
        )
        host, port = container.get_container_host_ip(), container.get_exposed_port(27017)
        url = f"mongodb://{host}:{port}/?directConnection=true"
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
