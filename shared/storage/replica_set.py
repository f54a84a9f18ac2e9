"""Make each given mongod a single-node replica set `rs0` and wait until it is primary.

    python -m shared.storage.replica_set HOST:PORT [HOST:PORT ...]
    python -m shared.storage.replica_set --one-set HOST:PORT HOST:PORT HOST:PORT

Transactions need a replica set. A mongod started with `--replSet rs0` (the official
image or a stand-in alike) waits for someone to initiate it; compose's one-shot
`mongo-init` service runs this from the application image, which has PyMongo but no
mongosh. The one member is HOST:PORT exactly as given, so the name the services use
(`proposals-db:27017`) is the name the replica set announces. Running it again is
harmless: an initiated member is only waited for. With `--one-set` the addresses are
the members of one replica set (production: three, on three machines), initiated
together; the command waits until one is primary and the others secondaries.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

REPLICA_SET = "rs0"
DEFAULT_PORT = 27017
_POLL = 0.5
_SAY_EVERY = 5.0  # while waiting, one log line per this many seconds
# server error codes
_ALREADY_INITIALIZED = 23
_NO_REPLICATION_ENABLED = 76
_NOT_YET_INITIALIZED = 94


class ReplicaSetError(Exception):
    pass


def parse_address(text: str) -> tuple[str, int]:
    """`host[:port]` (or `[v6]:port`) → (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or host.endswith(":"):  # no port, or a bare IPv6 address
        host, port = text, str(DEFAULT_PORT)
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ReplicaSetError(f"{text!r} is not HOST:PORT")
    return host, int(port)


def member_config(host: str, port: int) -> dict[str, Any]:
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return {"_id": REPLICA_SET, "members": [{"_id": 0, "host": address}]}


def state(hello: Mapping[str, Any]) -> str:
    """What a `hello` answer says: primary, initiated, uninitiated or unknown."""
    set_name = hello.get("setName")
    if set_name is not None and set_name != REPLICA_SET:
        raise ReplicaSetError(f"it belongs to replica set {set_name!r}, not {REPLICA_SET!r}")
    if set_name is None:
        # started with --replSet but without a config yet; or standalone (ask further)
        return "uninitiated" if hello.get("isreplicaset") else "unknown"
    return "primary" if hello.get("isWritablePrimary") else "initiated"


def ensure_primary(
    address: str, timeout: float, client_options: Mapping[str, Any] | None = None
) -> None:
    """`client_options`: more for PyMongo's client, e.g. TLS (`tls`, `tlsCAFile`)."""
    host, port = parse_address(address)
    deadline = time.monotonic() + timeout
    said = 0.0

    def waiting(what: str, why: object) -> None:
        nonlocal said
        if time.monotonic() > deadline:
            raise ReplicaSetError(f"timed out after {timeout:.0f} s {what}: {_short(why)}")
        if time.monotonic() - said >= _SAY_EVERY:
            say(f"{address}: {what} ({_short(why)})")
            said = time.monotonic()
        time.sleep(_POLL)

    client: MongoClient[dict[str, Any]] = MongoClient(
        host=host,
        port=port,
        directConnection=True,  # talk to this one server, whatever its replica set state
        serverSelectionTimeoutMS=2000,
        connectTimeoutMS=2000,
        appname="replica_set",
        **(client_options or {}),
    )
    with client:
        admin = client.admin
        initiated = False
        while True:
            try:
                found = state(admin.command("hello"))
                if found == "primary":
                    say(f"{address}: replica set {REPLICA_SET} is primary and writable")
                    return
                if found == "unknown":
                    admin.command("replSetGetStatus")  # raises for standalone / uninitiated
                    found = "initiated"
                if found == "uninitiated" and not initiated:
                    initiated = _initiate(admin, host, port, address)
                waiting("waiting for it to become primary", found)
            except OperationFailure as exc:
                if exc.code == _NO_REPLICATION_ENABLED:
                    raise ReplicaSetError(
                        "mongod runs without --replSet; start it with "
                        f"`--replSet {REPLICA_SET}` (transactions need a replica set)"
                    ) from exc
                if exc.code == _NOT_YET_INITIALIZED and not initiated:
                    initiated = _initiate(admin, host, port, address)
                else:
                    waiting("waiting for the replica set", exc)
            except PyMongoError as exc:
                waiting("waiting for mongod to answer", exc)


def initiate_members(addresses: Sequence[str], timeout: float) -> str:
    """Initiate `rs0` with every one of `addresses` (HOST:PORT, each a mongod started
    with `--replSet rs0` and not yet initiated) as a voting member; wait until the set
    has a primary and every member is a primary or a secondary. Returns the primary.

    Production runs three members: when the primary dies, the other two still make a
    majority, elect a new primary (within the election timeout, 10 s by default) and
    every write acknowledged with `w: majority` survives."""
    parsed = [parse_address(address) for address in addresses]
    members = [
        {"_id": index, "host": member_config(host, port)["members"][0]["host"]}
        for index, (host, port) in enumerate(parsed)
    ]
    first_host, first_port = parsed[0]
    deadline = time.monotonic() + timeout
    client: MongoClient[dict[str, Any]] = MongoClient(
        host=first_host,
        port=first_port,
        directConnection=True,
        serverSelectionTimeoutMS=2000,
        appname="replica_set",
    )
    with client:
        say(f"initiating replica set {REPLICA_SET} with members {addresses}")
        try:
            client.admin.command("replSetInitiate", {"_id": REPLICA_SET, "members": members})
        except OperationFailure as exc:
            if exc.code != _ALREADY_INITIALIZED:
                raise ReplicaSetError(f"replSetInitiate failed: {exc}") from exc
        while True:
            try:
                status = client.admin.command("replSetGetStatus")
                states = {m["name"]: m["stateStr"] for m in status["members"]}
                primaries = [name for name, found in states.items() if found == "PRIMARY"]
                if primaries and all(s in ("PRIMARY", "SECONDARY") for s in states.values()):
                    say(f"replica set {REPLICA_SET}: {states}")
                    return str(primaries[0])
                why: object = states
            except PyMongoError as exc:
                why = exc
            if time.monotonic() > deadline:
                raise ReplicaSetError(f"timed out after {timeout:.0f} s: {_short(why)}")
            time.sleep(_POLL)


def _initiate(admin: Any, host: str, port: int, address: str) -> bool:
    config = member_config(host, port)
    say(f"{address}: initiating replica set {REPLICA_SET} with member {config['members'][0]}")
    try:
        admin.command("replSetInitiate", config)
    except OperationFailure as exc:
        if exc.code != _ALREADY_INITIALIZED:  # a concurrent run initiated it: fine
            raise ReplicaSetError(f"replSetInitiate failed: {exc}") from exc
    return True


def _short(why: object) -> str:
    # PyMongo's selection errors append the whole topology description
    return str(why).split(" (configured timeouts")[0].split(", Timeout:")[0][:300]


def say(text: str) -> None:
    print(f"replica_set: {text}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.storage.replica_set", description=__doc__
    )
    parser.add_argument("addresses", nargs="+", metavar="HOST:PORT")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds per mongod (default: %(default)s)"
    )
    parser.add_argument(
        "--one-set",
        action="store_true",
        help="initiate the addresses as the members of one replica set (production's three)",
    )
    args = parser.parse_args(argv)
    if args.one_set:
        try:
            initiate_members(args.addresses, args.timeout)
        except ReplicaSetError as exc:
            print(f"replica_set: error: {exc}", file=sys.stderr, flush=True)
            return 1
        return 0
    for address in args.addresses:
        try:
            ensure_primary(address, args.timeout)
        except ReplicaSetError as exc:
            print(f"replica_set: error: {address}: {exc}", file=sys.stderr, flush=True)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
