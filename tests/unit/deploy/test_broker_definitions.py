import base64
import hashlib
import re

import pytest

from deploy.broker import definitions
from shared.messaging.topology import Topology

TOPOLOGY = Topology(definitions.VHOST)


def test_the_committed_definitions_are_the_generated_ones() -> None:
    # regenerate with `python -m deploy.broker.definitions` when this fails
    assert definitions.COMMITTED.read_text() == definitions.development()


def test_a_password_hash_is_rabbitmqs_salted_sha256() -> None:
    encoded = definitions.password_hash("materials-dev", b"\x01\x02\x03\x04")
    raw = base64.b64decode(encoded)
    assert raw[:4] == b"\x01\x02\x03\x04"
    assert raw[4:] == hashlib.sha256(b"\x01\x02\x03\x04materials-dev").digest()


def test_every_user_has_its_dev_password_and_the_salts_differ() -> None:
    users = {
        u["name"]: u
        for u in definitions.generate({u: definitions.dev_password(u) for u in definitions.USERS})[
            "users"
        ]
    }
    assert set(users) == set(definitions.USERS)
    salts = {base64.b64decode(u["password_hash"])[:4] for u in users.values()}
    assert len(salts) == len(users)
    for name, user in users.items():
        salt = base64.b64decode(user["password_hash"])[:4]
        expected = definitions.password_hash(definitions.dev_password(name), salt)
        assert user["password_hash"] == expected


def _matches(pattern: str, name: str) -> bool:
    # RabbitMQ matches permission regexes unanchored (re:run); ours anchor themselves
    return re.search(pattern, name) is not None


@pytest.mark.parametrize("service", definitions.SERVICES)
def test_a_service_may_use_its_own_queues_and_the_exchanges(service: str) -> None:
    granted = definitions.permissions(service, TOPOLOGY)
    own = [
        TOPOLOGY.queue_name(service, "proposal.approved"),
        TOPOLOGY.dead_letter_queue(service).name,
    ]
    exchanges = [TOPOLOGY.events_exchange.name, TOPOLOGY.dead_letter_exchange.name]
    for kind in ("configure", "write", "read"):
        for name in own + exchanges:
            assert _matches(granted[kind], name), (kind, name)
    # the dead-letter replay publishes through the default exchange
    assert _matches(granted["write"], "amq.default")


@pytest.mark.parametrize("service", definitions.SERVICES)
def test_a_service_may_not_touch_another_services_queues(service: str) -> None:
    granted = definitions.permissions(service, TOPOLOGY)
    for other in definitions.SERVICES:
        if other == service:
            continue
        for name in (
            TOPOLOGY.queue_name(other, "proposal.approved"),
            TOPOLOGY.dead_letter_queue(other).name,
            f"{TOPOLOGY.namespace}.{other}",
        ):
            for kind in ("configure", "write", "read"):
                assert not _matches(granted[kind], name), (service, kind, name)
    for kind in ("configure", "write", "read"):
        assert not _matches(granted[kind], "amq.topic")
        assert not _matches(granted[kind], f"x{TOPOLOGY.events_exchange.name}")


def test_only_notifications_may_declare_the_audit_queue() -> None:
    audit = TOPOLOGY.audit_queue.name
    for service in definitions.SERVICES:
        granted = definitions.permissions(service, TOPOLOGY)
        assert _matches(granted["configure"], audit) == (service == "notifications")
