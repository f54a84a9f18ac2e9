"""A vhost of the real broker loaded with the production definitions (deploy/broker) for
one test namespace, set up by the set-up user: the services' least privilege, for real."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aio_pika
import aiormq
import httpx
import pytest

from deploy.broker import definitions
from services.broker_setup import set_up
from shared.messaging.policies import management_endpoint
from shared.settings import ServiceSettings
from tests.support.infrastructure import Infrastructure
from tests.support.namespace import TEST_MAX_ATTEMPTS, TEST_RETRY_DELAYS
from tests.support.processes import REPO, ServiceProcess, running_system


@dataclass(frozen=True)
class LeastPrivilegeBroker:
    vhost: str
    namespace: str
    host: str
    port: int
    management_url: str

    def url(self, user: str) -> str:
        """The AMQP URL of `user` (its development password) on this vhost."""
        password = quote(definitions.dev_password(user), safe="")
        return f"amqp://{user}:{password}@{self.host}:{self.port}/{quote(self.vhost, safe='')}"

    async def connect(self, user: str) -> aio_pika.abc.AbstractRobustConnection:
        return await aio_pika.connect_robust(self.url(user), timeout=10)


def _admin_api(infra: Infrastructure) -> tuple[str, tuple[str, str]]:
    base, user, password, _ = management_endpoint(infra.amqp_url)
    return base, (user, password)


@contextmanager
def loaded_vhost(infra: Infrastructure, namespace: str) -> Iterator[LeastPrivilegeBroker]:
    """A new vhost holding the definitions for `namespace` (loaded as the broker's
    administrator), removed after; nothing declared yet but the two exchanges."""
    base, auth = _admin_api(infra)
    vhost = f"{namespace}-vhost"
    loaded = definitions.generate(
        {user: definitions.dev_password(user) for user in definitions.USERS},
        vhost=vhost,
        namespace=namespace,
    )
    definitions.load(loaded, base.replace("://", f"://{quote(auth[0])}:{quote(auth[1])}@", 1))
    amqp = urlsplit(infra.amqp_url)
    try:
        yield LeastPrivilegeBroker(
            vhost, namespace, amqp.hostname or "127.0.0.1", amqp.port or 5672, base
        )
    finally:
        httpx.delete(f"{base}/api/vhosts/{quote(vhost, safe='')}", auth=auth, timeout=30)


def set_up_settings(broker: LeastPrivilegeBroker) -> ServiceSettings:
    """The set-up step's settings: the set-up user, and the retry delays and attempts
    the services run with in tests (tests/support/namespace.settings_for), since their
    retry queues are named after them."""
    return ServiceSettings(
        amqp_url=broker.url(definitions.SETUP),
        namespace=broker.namespace,
        rabbitmq_management_url=broker.management_url,
        retry_delays_seconds=TEST_RETRY_DELAYS,
        max_delivery_attempts=TEST_MAX_ATTEMPTS,
        log_json=False,
    )


@asynccontextmanager
async def least_privilege_broker(
    infra: Infrastructure, namespace: str, *, set_up_topology: bool = True
) -> AsyncIterator[LeastPrivilegeBroker]:
    """`loaded_vhost`, set up in this process by the set-up user."""
    with loaded_vhost(infra, namespace) as broker:
        if set_up_topology:
            await set_up(set_up_settings(broker))
        yield broker


def run_set_up_step(broker: LeastPrivilegeBroker) -> None:
    """`python -m services.broker_setup` as its own process, as compose and Kubernetes
    run it, with the settings the service processes run with (tests/support/processes:
    the default retry delays and attempts); raises with its output if it fails."""
    environment = {
        **os.environ,
        "AMQP_URL": broker.url(definitions.SETUP),
        "BERDAYA_NAMESPACE": broker.namespace,
        "BERDAYA_RABBITMQ_MANAGEMENT_URL": broker.management_url,
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [sys.executable, "-m", "services.broker_setup"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the broker set-up step failed:\n{done.stdout}\n{done.stderr}")


def service_environments(broker: LeastPrivilegeBroker) -> dict[str, dict[str, str]]:
    """Each service as production runs it: its own broker user, topology verified."""
    return {
        service: {"AMQP_URL": broker.url(service), "BERDAYA_BROKER_TOPOLOGY": "verify"}
        for service in definitions.SERVICES
    }


@contextmanager
def least_privilege_system(
    infra: Infrastructure,
    namespace: str,
    log_dir: Path,
    env: dict[str, dict[str, str]] | None = None,
) -> Iterator[dict[str, ServiceProcess]]:
    """The three services as processes, with the broker as production sets it up: the
    definitions in a vhost of its own, the set-up step as its own process and user, each
    service its own user verifying its topology; `env` adds variables per service."""
    with loaded_vhost(infra, namespace) as broker:
        run_set_up_step(broker)
        environments = service_environments(broker)
        for name, extra in (env or {}).items():
            environments[name] |= extra
        with running_system(infra, namespace, log_dir, environments) as services:
            yield services


async def refused_as(broker: LeastPrivilegeBroker, user: str, action: Any) -> str:
    """Run `action(channel)` as `user`; the broker's refusal (the channel is closed)."""
    connection = await broker.connect(user)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        with pytest.raises(aiormq.exceptions.AMQPChannelError) as refused:
            await action(channel)
    return str(refused.value)
