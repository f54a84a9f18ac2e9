"""RabbitMQ definitions (vhost, exchanges, users, permissions, queue policies), generated
from the code.

`python -m deploy.broker.definitions` rewrites the committed `definitions.json` next to
this file, which `rabbitmq.conf` loads at boot. Exchange and queue names come from
`shared.messaging.topology`, so the broker's permissions cannot drift from what the
services declare.

The passwords are development defaults (the compose file's `*_AMQP_PASSWORD` defaults).
Their salts are derived from the user name so the committed file only changes when its
content does. Production replaces them: `--production OUT` reads every password from
the environment and salts at random; mount that file instead of the committed one.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast, get_args
from urllib.parse import unquote, urlsplit

import httpx

from shared.contracts.catalogue import Producer, produced_by
from shared.messaging.topology import Topology, broker_delivery_limit
from shared.messaging.trust import INTEGRATIONS_USER, SERVICE_PRODUCERS
from shared.settings import ServiceSettings

VHOST = "berdaya"
NAMESPACE = "berdaya"
SERVICES = SERVICE_PRODUCERS
# Declares every exchange, queue and binding (`python -m services.broker_setup`) and sets
# the queue policies; the services' users may configure nothing.
SETUP = "berdaya-setup"
# The city's other systems: declare, bind and read their own queues, read every event
# (and the event history stream), publish only the events the catalogue lets outside
# systems publish.
INTEGRATIONS = INTEGRATIONS_USER
ADMIN = "berdaya-admin"
USERS = (*SERVICES, SETUP, INTEGRATIONS, ADMIN)
# Services that read the event history stream (besides the city's integrations).
HISTORY_READERS = ("transparency",)
TAGS = {ADMIN: ["administrator"], SETUP: ["policymaker"]}
# The city's systems name their queues `<namespace>.city.<system>.<purpose>`.
INTEGRATION_QUEUES = "city"
HASHING = "rabbit_password_hashing_sha256"
COMMITTED = Path(__file__).with_name("definitions.json")
NOTHING = "^$"


def password_variable(user: str) -> str:
    """The compose/environment variable that holds `user`'s password."""
    if user == ADMIN:
        return "RABBITMQ_ADMIN_PASSWORD"
    return f"{user.removeprefix('berdaya-').replace('-', '_').upper()}_AMQP_PASSWORD"


def dev_password(user: str) -> str:
    return f"{user.removeprefix('berdaya-').removeprefix('city-')}-dev"


def password_hash(password: str, salt: bytes) -> str:
    """RabbitMQ's sha256 scheme: base64(salt + sha256(salt + password)), 4-byte salt."""
    if len(salt) != 4:
        raise ValueError("RabbitMQ password salts are 4 bytes")
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def dev_salt(user: str) -> bytes:
    return hashlib.sha256(f"berdaya-dev-salt:{user}".encode()).digest()[:4]


def permissions(user: str, topology: Topology) -> dict[str, str]:
    """What `user` may do on the vhost (RabbitMQ's configure / write / read regexes).

    A service configures nothing (the set-up user declared it all; a passive declare
    needs no permission); it writes to the events exchange (which event types: its
    topic permission), the dead-letter exchange and its own retry and replay exchanges;
    it reads only its own queues.
    """
    namespace = _literal(topology.namespace)
    events = _literal(topology.events_exchange.name)
    if user in SERVICES:
        own = _literal(f"{topology.namespace}.{user}.") + ".+"
        dead_letters = _literal(topology.dead_letter_exchange.name)
        # the transparency page rebuilds its read model from the event history
        history = f"|{_literal(topology.history_stream.name)}" if user in HISTORY_READERS else ""
        return {
            "configure": NOTHING,
            "write": f"^({own}|{events}|{dead_letters})$",
            "read": f"^({own}{history})$",
        }
    if user == INTEGRATIONS:
        own = _literal(f"{topology.namespace}.{INTEGRATION_QUEUES}.") + ".+"
        # binding its queue needs write on the queue and read on the exchange
        mine_and_events = f"^({own}|{events})$"
        # the history stream: read (consume) only; the events exchange alone writes to it
        history = _literal(topology.history_stream.name)
        return {
            "configure": f"^({own})$",
            "write": mine_and_events,
            "read": f"^({own}|{events}|{history})$",
        }
    if user == SETUP:
        everything = f"^{namespace}" + r"\..+$"
        # a retry queue dead-letters through the default exchange: declaring it needs
        # write there (RabbitMQ checks the declaring user against the dead-letter target)
        write = f"^({namespace}" + r"\..+|amq\.default)$"
        return {"configure": everything, "write": write, "read": everything}
    if user == ADMIN:
        return {"configure": ".*", "write": ".*", "read": ".*"}
    raise ValueError(f"no such user: {user}")


def topic_permissions(user: str, topology: Topology) -> dict[str, str] | None:
    """Which routing keys (event types) `user` may publish to the events exchange, and
    bind with (`read`); None: no restriction beyond its permissions (set-up, admin)."""
    if user in SERVICES:
        published = [c.event_type for c in produced_by(cast(Producer, user))]
        return {"write": _one_of(published), "read": NOTHING}
    if user == INTEGRATIONS:
        outside = [
            c.event_type for p in get_args(Producer) if p not in SERVICES for c in produced_by(p)
        ]
        return {"write": _one_of(outside), "read": ".*"}
    return None


def _one_of(names: Sequence[str]) -> str:
    return "^(" + "|".join(_literal(n) for n in sorted(set(names))) + ")$" if names else NOTHING


def _literal(name: str) -> str:
    # names are [a-z0-9_.-] (see ServiceSettings.namespace): only the dots are special
    return name.replace(".", r"\.")


def berdaya_topology(namespace: str = NAMESPACE) -> Topology:
    """`namespace` as the services run it with their default settings."""
    attempts: int = ServiceSettings.model_fields["max_delivery_attempts"].default
    return Topology(namespace, delivery_limit=broker_delivery_limit(attempts))


def policies(topology: Topology, vhost: str) -> list[dict[str, Any]]:
    """The queue policies the set-up step applies (delivery limit, dead-lettering,
    overflow; the audit buffer's length; the event history's retention), so that a
    broker loaded with these definitions has them before anything runs — and without
    the management API."""
    found = {p.name: p for service in SERVICES for p in topology.policies(service)}
    found[topology.history_policy.name] = topology.history_policy
    return [{"vhost": vhost, "name": p.name, **p.body()} for p in found.values()]


def history_queue(topology: Topology, vhost: str) -> dict[str, Any]:
    stream = topology.history_stream
    return {
        "name": stream.name,
        "vhost": vhost,
        "durable": True,
        "auto_delete": False,
        "arguments": dict(stream.arguments or {}),
    }


def generate(
    passwords: Mapping[str, str],
    salt: Callable[[str], bytes] = dev_salt,
    *,
    vhost: str = VHOST,
    namespace: str = NAMESPACE,
) -> dict[str, Any]:
    topology = berdaya_topology(namespace)
    exchanges = [topology.events_exchange, topology.dead_letter_exchange]
    return {
        "vhosts": [{"name": vhost}],
        "users": [
            {
                "name": user,
                "password_hash": password_hash(passwords[user], salt(user)),
                "hashing_algorithm": HASHING,
                "tags": TAGS.get(user, []),
            }
            for user in USERS
        ],
        "permissions": [
            {"user": user, "vhost": vhost, **permissions(user, topology)} for user in USERS
        ],
        "topic_permissions": [
            {"user": user, "vhost": vhost, "exchange": topology.events_exchange.name, **found}
            for user in USERS
            if (found := topic_permissions(user, topology)) is not None
        ],
        # Declared here too, identically to the set-up step, so that other city systems
        # can bind to them before anything else has run.
        "exchanges": [
            {
                "name": e.name,
                "vhost": vhost,
                "type": e.type.value,
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
            for e in exchanges
        ],
        # The event history too, so that it keeps every event from the broker's first
        # boot, before the set-up step (which declares it identically) has run.
        "queues": [history_queue(topology, vhost)],
        "bindings": [
            {
                "source": topology.events_exchange.name,
                "vhost": vhost,
                "destination": topology.history_stream.name,
                "destination_type": "queue",
                "routing_key": topology.history_stream.routing(),
                "arguments": {},
            }
        ],
        "policies": policies(topology, vhost),
        "parameters": [],
        "global_parameters": [],
    }


def load(definitions: Mapping[str, Any], management_url: str) -> None:
    """Import `definitions` into a running broker through its management API (as an
    administrator: `http://user:password@host:15672`); users, vhost, permissions and
    policies are created or updated, nothing else is removed."""
    parts = urlsplit(management_url)
    base = f"{parts.scheme}://{parts.hostname}:{parts.port or 15672}"
    auth = (unquote(parts.username or "guest"), unquote(parts.password or "guest"))
    answer = httpx.post(f"{base}/api/definitions", json=definitions, auth=auth, timeout=30)
    if answer.status_code >= 300:
        raise RuntimeError(
            f"the broker refused the definitions: {answer.status_code} {answer.text}"[:2000]
        )


def render(definitions: Mapping[str, Any]) -> str:
    return json.dumps(definitions, indent=2, sort_keys=True) + "\n"


def development_definitions() -> dict[str, Any]:
    """The definitions with every user's development password (compose, `make up`)."""
    return generate({user: dev_password(user) for user in USERS})


def development() -> str:
    return render(development_definitions())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.broker.definitions")
    parser.add_argument(
        "--production",
        type=Path,
        metavar="OUT",
        help="write definitions with passwords from "
        + ", ".join(password_variable(u) for u in USERS)
        + " (random salts) to OUT instead of the committed development file",
    )
    args = parser.parse_args(argv)
    if args.production is None:
        COMMITTED.write_text(development())
        print(f"wrote {COMMITTED}")
        return 0
    missing = [password_variable(u) for u in USERS if not os.environ.get(password_variable(u))]
    if missing:
        print(f"error: set {', '.join(missing)}", file=sys.stderr)
        return 2
    passwords = {u: os.environ[password_variable(u)] for u in USERS}
    args.production.write_text(render(generate(passwords, salt=lambda _: secrets.token_bytes(4))))
    print(f"wrote {args.production}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
