"""A throwaway 3-node RabbitMQ cluster from the machine's own install (Debian's
rabbitmq-server), and a failover TCP front for its clients.

    with rabbitmq_cluster(directory) as cluster:
        cluster.nodes[0].amqp_url
        cluster.queue_leaders("/")        # queue name -> node name
        cluster.kill(node)                # SIGKILL, its whole process group

Each node has its own node name, AMQP, management and distribution ports, data and
logs; all share one Erlang cookie (HOME is the cluster's directory) and find each other
by classic config peer discovery, so the three form one cluster when they start. The
development broker on 5672 is never touched.

Its clients reach it through `tests.support.proxy.Forwarder` with every node as a
target, standing for what production puts before a cluster (a TCP load balancer or DNS
with every node): each new connection goes to the first node that accepts it, so a
client whose node died reconnects to a live one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

from deploy.local.run import free_port
from tests.support.rabbitmq_local import log_tail, start_node

START_SECONDS = 120.0
NODES = 3


@dataclass
class Node:
    name: str  # Erlang node name, e.g. berdaya-c1-1a2b3c4d@localhost
    amqp_port: int
    management_port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.management_port}"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


@dataclass
class Cluster:
    nodes: list[Node]

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def api(self, path: str) -> object:
        """GET the management API of the first live node."""
        for node in self.nodes:
            if node.alive:
                response = httpx.get(
                    f"{node.management_url}/api{path}", auth=("guest", "guest"), timeout=10
                )
                response.raise_for_status()
                return response.json()
        raise RuntimeError("no node left alive")

    def running_nodes(self) -> set[str]:
        found = self.api("/nodes")
        assert isinstance(found, list)
        return {n["name"] for n in found if n.get("running")}

    def queue_leaders(self, vhost: str = "/") -> dict[str, str]:
        """Each quorum queue of `vhost` and the node leading it."""
        found = self.api(f"/queues/{quote(vhost, safe='')}?columns=name,type,leader,node")
        assert isinstance(found, list)
        return {q["name"]: q.get("leader") or q["node"] for q in found if q.get("type") == "quorum"}

    def kill(self, node: Node) -> None:
        """SIGKILL the node's process group (the Erlang VM and its helpers)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.process.pid, signal.SIGKILL)
        node.process.wait()

    def stop(self) -> None:
        """Throwaway nodes: killed, not stopped in order (which takes seconds each)."""
        for node in self.nodes:
            if node.alive:
                self.kill(node)


def _config(amqp_port: int, management_port: int, peers: Sequence[str]) -> str:
    return (
        f"listeners.tcp.default = 127.0.0.1:{amqp_port}\n"
        f"management.tcp.port = {management_port}\n"
        "management.tcp.ip = 127.0.0.1\n"
        "cluster_formation.peer_discovery_backend = classic_config\n"
        + "".join(
            f"cluster_formation.classic_config.nodes.{i} = {peer}\n"
            for i, peer in enumerate(peers, start=1)
        )
        # a killed node's queues fail over; nothing waits for it to come back
        + "cluster_partition_handling = pause_minority\n"
    )


@contextmanager
def rabbitmq_cluster(directory: Path, size: int = NODES) -> Iterator[Cluster]:
    directory.mkdir(parents=True, exist_ok=True)
    cookie = directory / ".erlang.cookie"
    cookie.write_text(uuid.uuid4().hex)
    cookie.chmod(0o400)
    tag = uuid.uuid4().hex[:6]
    names = [f"berdaya-c{i}-{tag}@localhost" for i in range(1, size + 1)]
    cluster = Cluster([])
    try:
        for name in names:
            cluster.nodes.append(_start(directory, name, names))
        _wait_formed(cluster, set(names))
        yield cluster
    finally:
        cluster.stop()


def _start(directory: Path, name: str, peers: Sequence[str]) -> Node:
    amqp_port, management_port = free_port(), free_port()
    process, log = start_node(
        directory / name.split("@")[0],
        name=name,
        config=_config(amqp_port, management_port, peers),
        cookie_home=directory,  # the cluster's one Erlang cookie
    )
    return Node(name, amqp_port, management_port, process, log)


def _wait_formed(cluster: Cluster, names: set[str]) -> None:
    deadline = time.monotonic() + START_SECONDS
    last: object = None
    while time.monotonic() < deadline:
        for node in cluster.nodes:
            if not node.alive:
                raise RuntimeError(
                    f"RabbitMQ node {node.name} exited; {node.log}:\n{log_tail(node.log)}"
                )
        try:
            running = [
                httpx.get(
                    f"{node.management_url}/api/nodes", auth=("guest", "guest"), timeout=5
                ).json()
                for node in cluster.nodes
            ]
            last = running
            if all({n["name"] for n in found if n.get("running")} == names for found in running):
                return
        except (httpx.HTTPError, ValueError, TypeError) as error:
            last = error
        time.sleep(1.0)
    raise RuntimeError(f"the cluster did not form within {START_SECONDS:.0f} s; last: {last}")
