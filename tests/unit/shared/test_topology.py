"""Queue policies, retry routes, the management API's address, what counts as an outage."""

from __future__ import annotations

import re

import aiormq.exceptions
import pytest
from pymongo.errors import (
    AutoReconnect,
    DuplicateKeyError,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from deploy.broker import definitions
from shared.messaging.consumer import is_outage
from shared.messaging.policies import management_endpoint
from shared.messaging.topology import Topology, delay_label

TOPOLOGY = Topology("t0a1b2", delivery_limit=12, retry_delays=(0.2, 10, 60, 300))


def _applies(pattern: str, name: str) -> bool:
    return re.search(pattern, name) is not None


def test_the_work_queue_policy_covers_the_work_queues_of_its_service_only() -> None:
    policy = TOPOLOGY.work_queue_policy("materials")
    assert policy.definition == {
        "dead-letter-exchange": "t0a1b2.dead-letter",
        "dead-letter-routing-key": "materials",
        "dead-letter-strategy": "at-least-once",
        "overflow": "reject-publish",
        "delivery-limit": 12,
    }
    assert _applies(policy.pattern, TOPOLOGY.queue_name("materials", "proposal.approved"))
    assert _applies(policy.pattern, TOPOLOGY.queue_name("materials", "work.progress_reported"))
    not_covered = [
        TOPOLOGY.dead_letter_queue("materials").name,
        TOPOLOGY.retry_route("materials", 1).queue.name,
        TOPOLOGY.retry_route("materials", 3).queue.name,
        TOPOLOGY.queue_name("proposals", "material.reserved"),
        TOPOLOGY.audit_queue.name,
        Topology("other").queue_name("materials", "proposal.approved"),
        "xt0a1b2.materials.proposal.approved",
    ]
    for name in not_covered:
        assert not _applies(policy.pattern, name), name
    assert TOPOLOGY.owns_policy(policy.name)
    assert not Topology("t0a1b").owns_policy(policy.name)


def test_the_audit_buffer_is_bounded_by_a_policy_of_the_notifications_service() -> None:
    names = [p.name for p in TOPOLOGY.policies("notifications")]
    assert TOPOLOGY.audit_queue_policy.name in names
    assert TOPOLOGY.audit_queue_policy.name not in [p.name for p in TOPOLOGY.policies("materials")]
    assert TOPOLOGY.audit_queue_policy.definition == {
        "max-length": 100_000,
        "overflow": "drop-head",
    }


def test_queues_are_declared_without_the_arguments_that_may_change() -> None:
    for queue in (TOPOLOGY.event_queue("materials", "proposal.approved"), TOPOLOGY.audit_queue):
        assert not set(queue.arguments or {}) - {"x-queue-type"}, queue.arguments


def test_retry_routes_follow_the_delays_and_repeat_the_last() -> None:
    waits = [TOPOLOGY.retry_route("proposals", n).delay_seconds for n in range(1, 7)]
    assert waits == [0.2, 10, 60, 300, 300, 300]
    route = TOPOLOGY.retry_route("proposals", 2)
    assert route.queue.name == route.exchange.name == "t0a1b2.proposals.retry.10s"
    assert (route.queue.arguments or {})["x-message-ttl"] == 10_000
    assert (route.queue.arguments or {})["x-dead-letter-exchange"] == ""
    assert [delay_label(s) for s in (0.2, 10, 60, 300, 90)] == ["200ms", "10s", "1m", "5m", "90s"]


def test_the_broker_definitions_carry_the_policies_the_services_apply() -> None:
    generated = definitions.generate({u: definitions.dev_password(u) for u in definitions.USERS})
    topology = definitions.berdaya_topology()
    expected = {p.name: p for s in definitions.SERVICES for p in topology.policies(s)}
    expected[topology.history_policy.name] = topology.history_policy  # the set-up step's
    found = {p["name"]: p for p in generated["policies"]}
    assert set(found) == set(expected)
    for name, policy in expected.items():
        assert found[name]["vhost"] == definitions.VHOST
        assert found[name]["pattern"] == policy.pattern
        assert found[name]["definition"] == policy.definition
    assert found["berdaya.materials.work-queues"]["definition"]["delivery-limit"] == 20


@pytest.mark.parametrize(
    ("amqp", "given", "expected"),
    [
        (
            "amqp://guest:guest@127.0.0.1:5672/",
            "",
            ("http://127.0.0.1:15672", "guest", "guest", "/"),
        ),
        (
            "amqp://materials:s%40cret@rabbitmq:5672/berdaya",
            "",
            ("http://rabbitmq:15672", "materials", "s@cret", "berdaya"),
        ),
        ("amqps://u:p@broker/", "", ("https://broker:15671", "u", "p", "/")),
        (
            "amqp://u:p@broker/",
            "http://admin:pw@mgmt:8080/rabbit/",
            ("http://mgmt:8080/rabbit", "admin", "pw", "/"),
        ),
        ("amqp://u:p@broker/v", "http://mgmt:15672", ("http://mgmt:15672", "u", "p", "v")),
    ],
)
def test_the_management_api_is_found_from_the_amqp_url(
    amqp: str, given: str, expected: tuple[str, str, str, str]
) -> None:
    assert management_endpoint(amqp, given) == expected


def _labelled(label: str) -> OperationFailure:
    error = OperationFailure("WriteConflict", 112)
    error._add_error_label(label)
    return error


@pytest.mark.parametrize(
    "error",
    [
        AutoReconnect("gone"),
        NetworkTimeout("slow"),
        NotPrimaryError("stepped down"),
        ServerSelectionTimeoutError("no server"),
        OperationFailure("not primary", 10107),
        OperationFailure("shutting down", 91),
        _labelled("TransientTransactionError"),
        aiormq.exceptions.AMQPConnectionError("broker gone"),
    ],
)
def test_an_unavailable_dependency_is_an_outage(error: Exception) -> None:
    assert is_outage(error)


@pytest.mark.parametrize(
    "error",
    [
        ConnectionError("the city's finance system does not answer"),
        TimeoutError("a slow webhook"),
        ValueError("bug"),
        DuplicateKeyError("dup", 11000),
        OperationFailure("bad query", 2),
    ],
)
def test_a_handlers_own_failure_is_no_outage(error: Exception) -> None:
    assert not is_outage(error)


def test_an_outage_wrapped_by_our_code_is_still_one() -> None:
    try:
        try:
            raise AutoReconnect("gone")
        except AutoReconnect as error:
            raise RuntimeError("could not load the job") from error
    except RuntimeError as wrapped:
        assert is_outage(wrapped)
