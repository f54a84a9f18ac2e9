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
from typing import Any

from shared.messaging.topology import Topology, broker_delivery_limit
from shared.settings import ServiceSettings

VHOST = "berdaya"
SERVICES = ("proposals", "materials", "notifications")
ADMIN = "berdaya-admin"
USERS = (*SERVICES, ADMIN)
HASHING = "rabbit_password_hashing_sha256"
COMMITTED = Path(__file__).with_name("definitions.json")


def password_variable(user: str) -> str:
    """The compose/environment variable that holds `user`'s password."""
    return "RABBITMQ_ADMIN_PASSWORD" if user == ADMIN else f"{user.upper()}_AMQP_PASSWORD"


def dev_password(user: str) -> str:
    return "admin-dev" if user == ADMIN else f"{user}-dev"


def password_hash(password: str, salt: bytes) -> str:
    """RabbitMQ's sha256 scheme: base64(salt + sha256(salt + password)), 4-byte salt."""
    if len(salt) != 4:
        raise ValueError("RabbitMQ password salts are 4 bytes")
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def dev_salt(user: str) -> bytes:
    return hashlib.sha256(f"berdaya-dev-salt:{user}".encode()).digest()[:4]


def permissions(service: str, topology: Topology) -> dict[str, str]:
    """What `service` needs on the vhost, found by running it.

    configure: it declares its own queues and both exchanges at start.
    write: binding needs write on its queues; it publishes to both exchanges; the
      dead-letter admin replays through the default exchange (`amq.default`).
    read: it consumes and peeks its own queues; binding needs read on the exchanges.
    """
    own = _literal(f"{topology.namespace}.{service}.") + ".+"
    if service == "notifications":  # it declares and binds the audit buffer for the city
        own = f"{own}|{_literal(topology.audit_queue.name)}"
    exchanges = "|".join(
        _literal(e.name) for e in (topology.events_exchange, topology.dead_letter_exchange)
    )
    return {
        "configure": f"^({own}|{exchanges})$",
        "write": rf"^({own}|{exchanges}|amq\.default)$",
        "read": f"^({own}|{exchanges})$",
    }


def _literal(name: str) -> str:
    # names are [a-z0-9_.-] (see ServiceSettings.namespace): only the dots are special
    return name.replace(".", r"\.")


def berdaya_topology() -> Topology:
    """The `berdaya` namespace as the services run it with their default settings."""
    attempts: int = ServiceSettings.model_fields["max_delivery_attempts"].default
    return Topology(VHOST, delivery_limit=broker_delivery_limit(attempts))


def policies(topology: Topology) -> list[dict[str, Any]]:
    """The queue policies every service applies at start (delivery limit, dead-lettering,
    overflow; the audit buffer's length), so that a broker loaded with these definitions
    has them before any service starts — and without the management API."""
    found = {p.name: p for service in SERVICES for p in topology.policies(service)}
    return [{"vhost": VHOST, "name": p.name, **p.body()} for p in found.values()]


def generate(
    passwords: Mapping[str, str], salt: Callable[[str], bytes] = dev_salt
) -> dict[str, Any]:
    topology = berdaya_topology()
    exchanges = [topology.events_exchange, topology.dead_letter_exchange]
    return {
        "vhosts": [{"name": VHOST}],
        "users": [
            {
                "name": user,
                "password_hash": password_hash(passwords[user], salt(user)),
                "hashing_algorithm": HASHING,
                "tags": ["administrator"] if user == ADMIN else [],
            }
            for user in USERS
        ],
        "permissions": [{"user": s, "vhost": VHOST, **permissions(s, topology)} for s in SERVICES]
        + [{"user": ADMIN, "vhost": VHOST, "configure": ".*", "write": ".*", "read": ".*"}],
        # Declared here too, identically to the services, so that other city systems can
        # bind to them before any service has started.
        "exchanges": [
            {
                "name": e.name,
                "vhost": VHOST,
                "type": e.type.value,
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
            for e in exchanges
        ],
        "queues": [],
        "bindings": [],
        "policies": policies(topology),
        "parameters": [],
        "global_parameters": [],
        "topic_permissions": [],
    }


def render(definitions: Mapping[str, Any]) -> str:
    return json.dumps(definitions, indent=2, sort_keys=True) + "\n"


def development() -> str:
    return render(generate({user: dev_password(user) for user in USERS}))


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
