"""TLS for both of a service's connections, with a CA made in the test.

MongoDB: the wheel's mongod with `--tlsMode requireTLS`; RabbitMQ: a second node of the
machine's own install listening on amqps (and the management API on https) only. A
client that trusts the test CA (`tls=true&tlsCAFile=` in MONGODB_URL, `amqps://…?cafile=`
in AMQP_URL) connects; one without it is refused.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiormq.exceptions import AMQPConnectionError
from faststream.rabbit import RabbitQueue
from pymongo import MongoClient
from pymongo.errors import ServerSelectionTimeoutError

from deploy.local import run
from shared.messaging.broker import build_broker
from shared.messaging.policies import ManagementApi, apply_policies
from shared.messaging.topology import Policy
from shared.settings import ServiceSettings
from shared.storage import mongo
from tests.support.infrastructure import Infrastructure
from tests.support.proposals import proposals_api
from tests.support.tls import TestPki, make_test_pki
from tests.support.tls_rabbitmq import TlsNode, tls_rabbitmq

REFUSED_WITHIN_MS = 1500


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="berdaya-test-tls-") as directory:
        yield Path(directory)


@pytest.fixture(scope="module")
def pki(workdir: Path) -> TestPki:
    return make_test_pki(workdir / "pki")


@pytest.fixture(scope="module")
def mongodb_url(workdir: Path, pki: TestPki) -> Iterator[str]:
    tls = run.MongoTls(certificate_key_file=pki.server_pem, ca_file=pki.ca)
    mongod = run.start_mongod(workdir / "mongo", run.free_port(), tls=tls)
    try:
        yield mongod.url
    finally:
        mongod.stop()


@pytest.fixture(scope="module")
def node(workdir: Path, pki: TestPki) -> Iterator[TlsNode]:
    with tls_rabbitmq(pki, workdir / "rabbitmq") as started:
        yield started


def mongo_client(url: str) -> MongoClient[dict[str, Any]]:
    return MongoClient(url, serverSelectionTimeoutMS=REFUSED_WITHIN_MS)


# --- MongoDB ------------------------------------------------------------------------------


def test_mongodb_over_tls_trusting_the_ca_connects(mongodb_url: str) -> None:
    assert "tls=true&tlsCAFile=" in mongodb_url
    with mongo_client(mongodb_url) as client:
        assert client.admin.command("ping")["ok"] == 1


def test_mongodb_refuses_a_client_without_the_ca_or_without_tls(mongodb_url: str) -> None:
    without_ca, _ = mongodb_url.split("&tlsCAFile=")
    with mongo_client(without_ca) as untrusting, pytest.raises(ServerSelectionTimeoutError):
        untrusting.admin.command("ping")
    # the reason, which PyMongo words as a replica set mismatch when replicaSet is given
    direct = without_ca.replace("replicaSet=rs0&", "")
    with (
        mongo_client(direct) as untrusting,
        pytest.raises(ServerSelectionTimeoutError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        untrusting.admin.command("ping")
    plain = without_ca.removesuffix("&tls=true")
    with mongo_client(plain) as plaintext, pytest.raises(ServerSelectionTimeoutError):
        plaintext.admin.command("ping")


async def test_a_services_connection_from_its_settings_works_over_tls(mongodb_url: str) -> None:
    settings = ServiceSettings(service_name="proposals", mongodb_url=mongodb_url)
    await mongo.check_usable(settings.mongodb_url)
    client = mongo.connect(settings.mongodb_url, settings.service_name)
    try:
        assert await mongo.ping(client)
        outbox = client[settings.database_name]["outbox"]
        await outbox.insert_one({"_id": "created-before-the-transaction"})
        async with client.start_session() as session, await session.start_transaction():
            await outbox.insert_one({"_id": "in-a-transaction"}, session=session)
        assert await outbox.count_documents({}) == 2
    finally:
        await client.close()


# --- RabbitMQ -----------------------------------------------------------------------------


async def test_the_services_broker_connects_over_amqps_trusting_the_ca(
    node: TlsNode, pki: TestPki
) -> None:
    broker = build_broker(
        ServiceSettings(service_name="proposals", amqp_url=node.amqps_url(pki.ca))
    )
    async with asyncio.timeout(30):
        await broker.start()
    try:
        assert await broker.ping(timeout=5.0)
        queue = await broker.declare_queue(RabbitQueue("tls-probe", auto_delete=True))
        assert queue.name == "tls-probe"
    finally:
        await broker.stop()


async def test_the_broker_refuses_a_client_without_the_ca(node: TlsNode) -> None:
    broker = build_broker(ServiceSettings(service_name="proposals", amqp_url=node.amqps_url(None)))
    try:
        async with asyncio.timeout(30):
            with pytest.raises(AMQPConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
                await broker.start()
    finally:
        await broker.stop()


async def test_the_management_api_is_reached_over_https_trusting_the_amqp_urls_ca(
    node: TlsNode, pki: TestPki
) -> None:
    trusting = node.amqps_url(pki.ca)
    policy = Policy(name="tls-probe", pattern="^tls-probe$", definition={"delivery-limit": 3})
    assert await apply_policies(
        [policy], amqp_url=trusting, management_url=node.management_url, mode="apply"
    )
    assert "tls-probe" in await ManagementApi(trusting, node.management_url).policy_names()
    untrusting = node.amqps_url(None)
    assert not await apply_policies(
        [policy], amqp_url=untrusting, management_url=node.management_url, mode="apply"
    )


async def test_a_service_runs_with_both_connections_over_tls(
    node: TlsNode, pki: TestPki, mongodb_url: str, namespace: str
) -> None:
    """The proposals service as it runs (broker, consumers, outbox relay, dead-letter
    queue and its API) over amqps and MongoDB with TLS."""
    infra = Infrastructure(node.amqps_url(pki.ca), mongodb_url, "tls")
    async with asyncio.timeout(90), proposals_api(infra, namespace) as proposals:
        await proposals.drive.submit()
        assert await proposals.runtime.dead_letters.peek() == []
        readiness = await proposals.runtime.readiness()
        assert all(readiness.values()), readiness
