"""MongoDB least privilege: one user per service, allowed only its own database.

    MONGODB_ADMIN_URL=mongodb://admin:…@proposals-db:27017/?replicaSet=rs0 \\
        python -m shared.storage.access proposals [materials notifications transparency]

Run with a user that may manage users and roles (`userAdmin` on the databases, or
`root`). For each service named it creates, or brings up to date, in the service's
database `<namespace>_<service>` (BERDAYA_NAMESPACE, default `berdaya`):

- the role `<service>_service`: read, write and index the service's own collections
  (`COLLECTIONS` in services/<service>/bootstrap.py, plus the runtime's outbox and
  inbox), list the database's collections, and on the audit trail (`audit_log`) find
  and insert only, so a service appends to and reads its trail but never changes it;
- the user `<service>` with that role alone, password from `<SERVICE>_MONGODB_PASSWORD`
  (development default `<service>-dev`; required when BERDAYA_ENVIRONMENT=production).

The service then connects as `mongodb://<service>:<password>@host/?authSource=
<namespace>_<service>&…`. MongoDB has no deny rules: a collection the role does not
name cannot be touched at all, so a service that adds a collection declares it in
its `COLLECTIONS` (tests/integration/test_mongo_access.py fails otherwise). Running it
again is harmless: existing roles and users are updated in place.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from importlib import import_module
from typing import Any

from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

from shared.settings import database_name
from shared.storage import answers, audit, inbox, outbox

SERVICES = ("proposals", "materials", "notifications", "transparency")
# Every service's runtime keeps these (shared/runtime.py), whatever else it owns.
RUNTIME_COLLECTIONS = (outbox.COLLECTION, inbox.COLLECTION, answers.COLLECTION)
# Transactions and sessions need no privilege of their own.
OWN_ACTIONS = (
    "find",
    "insert",
    "update",
    "remove",
    "createCollection",
    "createIndex",
    "listIndexes",
)
# Append and read, never update or delete (nor drop: dropCollection is not granted).
AUDIT_ACTIONS = ("find", "insert", "createCollection", "createIndex", "listIndexes")
DATABASE_ACTIONS = ("listCollections",)
# on a collection the service renames at start-up (a name it kept before)
RENAME_ACTIONS = ("find", "dropCollection")
_NOT_FOUND = (11, 31)  # UserNotFound, RoleNotFound


class AccessError(Exception):
    pass


def role_name(service: str) -> str:
    return f"{service}_service"


def owned_collections(service: str) -> tuple[str, ...]:
    """What `service` declares it owns, with the runtime's collections."""
    if service not in SERVICES:
        raise AccessError(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    declared: tuple[str, ...] = import_module(f"services.{service}.bootstrap").COLLECTIONS
    return tuple(dict.fromkeys((*RUNTIME_COLLECTIONS, *declared)))


def former_collections(service: str) -> tuple[str, ...]:
    """Collections `service` kept under another name before, which it renames at start-up
    (`FORMER_COLLECTIONS` of its bootstrap)."""
    owned_collections(service)  # a known service
    bootstrap = import_module(f"services.{service}.bootstrap")
    former: tuple[str, ...] = getattr(bootstrap, "FORMER_COLLECTIONS", ())
    return former


def privileges(
    database: str, collections: Iterable[str], former: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """The role's privileges: full use of `collections`, append-only audit trail, and
    on a `former` name only what renaming it to the new one takes (MongoDB asks for
    find and dropCollection on the source)."""
    own = [c for c in collections if c != audit.COLLECTION]
    return [
        *(
            {"resource": {"db": database, "collection": name}, "actions": list(OWN_ACTIONS)}
            for name in own
        ),
        *(
            {"resource": {"db": database, "collection": name}, "actions": list(RENAME_ACTIONS)}
            for name in former
        ),
        {
            "resource": {"db": database, "collection": audit.COLLECTION},
            "actions": list(AUDIT_ACTIONS),
        },
        # a database resource ("collection": "") would match every collection, so
        # it carries only the database-wide listing
        {"resource": {"db": database, "collection": ""}, "actions": list(DATABASE_ACTIONS)},
    ]


def password_for(service: str, environ: Mapping[str, str]) -> str:
    variable = f"{service.upper()}_MONGODB_PASSWORD"
    given = environ.get(variable, "")
    if given:
        return given
    if environ.get("BERDAYA_ENVIRONMENT", "development").strip().lower() == "production":
        raise AccessError(f"{variable} is not set; production has no default password")
    return f"{service}-dev"


def ensure_access(
    client: MongoClient[dict[str, Any]], namespace: str, service: str, password: str
) -> None:
    """Create or update `service`'s role and user in its database."""
    database = client[database_name(namespace, service)]
    role = role_name(service)
    granted = privileges(database.name, owned_collections(service), former_collections(service))
    _create_or_update(
        database,
        ("createRole", role, {"privileges": granted, "roles": []}),
        ("updateRole", role, {"privileges": granted, "roles": []}),
    )
    roles = [{"role": role, "db": database.name}]
    _create_or_update(
        database,
        ("createUser", service, {"pwd": password, "roles": roles}),
        ("updateUser", service, {"pwd": password, "roles": roles}),
    )
    say(f"{database.name}: user {service!r} with role {role!r} is up to date")


def _create_or_update(
    database: Any, create: tuple[str, str, dict[str, Any]], update: tuple[str, str, dict[str, Any]]
) -> None:
    command, name, fields = update
    try:
        database.command(command, name, **fields)
        return
    except OperationFailure as exc:
        if exc.code not in _NOT_FOUND:
            raise
    command, name, fields = create
    database.command(command, name, **fields)


def say(text: str) -> None:
    print(f"access: {text}", flush=True)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(prog="python -m shared.storage.access", description=__doc__)
    parser.add_argument("services", nargs="+", choices=SERVICES, metavar="SERVICE")
    parser.add_argument(
        "--url",
        default=environ.get("MONGODB_ADMIN_URL", ""),
        help="a MongoDB URL with an administrator's credentials (default: $MONGODB_ADMIN_URL)",
    )
    parser.add_argument(
        "--namespace",
        default=environ.get("BERDAYA_NAMESPACE", "berdaya"),
        help="the services' BERDAYA_NAMESPACE (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("give --url or set MONGODB_ADMIN_URL")
    try:
        passwords = {service: password_for(service, environ) for service in args.services}
        client: MongoClient[dict[str, Any]]
        with MongoClient(args.url, serverSelectionTimeoutMS=10_000, appname="access") as client:
            for service in args.services:
                ensure_access(client, args.namespace, service, passwords[service])
    except (AccessError, PyMongoError) as exc:
        print(f"access: error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
