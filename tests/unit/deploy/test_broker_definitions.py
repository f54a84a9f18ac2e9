import base64
import hashlib
import re

import pytest

from deploy.broker import definitions
from shared.contracts.catalogue import CATALOGUE
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
def test_a_service_configures_nothing_and_reads_only_its_own_queues(service: str) -> None:
    granted = definitions.permissions(service, TOPOLOGY)
    own = [
        TOPOLOGY.queue_name(service, "proposal.approved"),
        TOPOLOGY.dead_letter_queue(service).name,
    ]
    assert granted["configure"] == definitions.NOTHING
    for name in own:
        assert _matches(granted["read"], name), name
    for name in (TOPOLOGY.events_exchange.name, TOPOLOGY.dead_letter_exchange.name):
        assert _matches(granted["write"], name), name
        assert not _matches(granted["read"], name), name
    for name in (
        TOPOLOGY.replay_exchange(service).name,
        TOPOLOGY.retry_route(service, 1).exchange.name,
    ):
        assert _matches(granted["write"], name), name
    # replays go through the service's own replay exchange, never the default exchange
    assert not _matches(granted["write"], "amq.default")


@pytest.mark.parametrize("service", definitions.SERVICES)
def test_a_service_may_not_touch_another_services_queues(service: str) -> None:
    granted = definitions.permissions(service, TOPOLOGY)
    for other in definitions.SERVICES:
        if other == service:
            continue
        for name in (
            TOPOLOGY.queue_name(other, "proposal.approved"),
            TOPOLOGY.dead_letter_queue(other).name,
            TOPOLOGY.replay_exchange(other).name,
            f"{TOPOLOGY.namespace}.{other}",
        ):
            for kind in ("configure", "write", "read"):
                assert not _matches(granted[kind], name), (service, kind, name)
    for kind in ("configure", "write", "read"):
        assert not _matches(granted[kind], "amq.topic")
        assert not _matches(granted[kind], f"x{TOPOLOGY.events_exchange.name}")


@pytest.mark.parametrize("service", definitions.SERVICES)
def test_a_service_publishes_exactly_the_event_types_the_catalogue_gives_it(
    service: str,
) -> None:
    topic = definitions.topic_permissions(service, TOPOLOGY)
    assert topic is not None and topic["read"] == definitions.NOTHING
    for event_type, _ in CATALOGUE:
        producer = CATALOGUE.newest(event_type).producer
        assert _matches(topic["write"], event_type) == (producer == service), event_type
    assert not _matches(topic["write"], "proposal.approved.extra")


def test_the_city_integration_user_publishes_only_what_outside_systems_produce() -> None:
    topic = definitions.topic_permissions(definitions.INTEGRATIONS, TOPOLOGY)
    granted = definitions.permissions(definitions.INTEGRATIONS, TOPOLOGY)
    assert topic is not None
    allowed = {t for t, _ in CATALOGUE if _matches(topic["write"], t)}
    assert allowed == {"budget.allocated", "stock.received"}
    city_queue = f"{TOPOLOGY.namespace}.city.finance.approvals"
    for kind in ("configure", "write", "read"):
        assert _matches(granted[kind], city_queue)
        assert not _matches(granted[kind], TOPOLOGY.queue_name("proposals", "budget.allocated"))
    assert _matches(granted["read"], TOPOLOGY.events_exchange.name)  # to bind its queues


def test_only_the_set_up_user_declares_and_no_one_is_guest() -> None:
    for user in definitions.USERS:
        configure = definitions.permissions(user, TOPOLOGY)["configure"]
        may_declare = _matches(configure, TOPOLOGY.audit_queue.name)
        assert may_declare == (user in (definitions.SETUP, definitions.ADMIN)), user
    generated = definitions.generate({u: definitions.dev_password(u) for u in definitions.USERS})
    assert "guest" not in {u["name"] for u in generated["users"]}


def test_definitions_for_another_vhost_and_namespace_name_them_throughout() -> None:
    generated = definitions.generate(
        {u: definitions.dev_password(u) for u in definitions.USERS}, vhost="v2", namespace="n2"
    )
    assert {p["vhost"] for p in generated["permissions"] + generated["policies"]} == {"v2"}
    assert {e["name"] for e in generated["exchanges"]} == {"n2.events", "n2.dead-letter"}
    assert {t["exchange"] for t in generated["topic_permissions"]} == {"n2.events"}
