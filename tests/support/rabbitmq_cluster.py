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

`FailoverFront` stands for what production puts before a cluster (a TCP load balancer
or DNS with every node): the clients know one address; each new connection goes to the
first node that accepts it, so a client whose node died reconnects to a live one.
"""

from __future__ import annotations

import asyncio
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
from types import TracebackType
from urllib.parse import quote

import httpx

from deploy.local.run import free_port
from tests.support.tls_rabbitmq import RABBITMQ_SERVER

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
    (directory / "enabled_plugins").write_text("[rabbitmq_management].\n")
    (directory / "rabbitmq-env.conf").write_text("")  # not the machine's node settings
    cluster = Cluster([])
    try:
        for name in names:
            cluster.nodes.append(_start(directory, name, names))
        _wait_formed(cluster, set(names))
        yield cluster
    finally:
        cluster.stop()


def _start(directory: Path, name: str, peers: Sequence[str]) -> Node:
    home = directory / name.split("@")[0]
    home.mkdir(exist_ok=True)
    amqp_port, management_port, dist_port = free_port(), free_port(), free_port()
    config = home / "rabbitmq.conf"
    config.write_text(_config(amqp_port, management_port, peers))
    log = home / "node.log"
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(directory),  # the cluster's one Erlang cookie
        "RABBITMQ_CONF_ENV_FILE": str(directory / "rabbitmq-env.conf"),
        "RABBITMQ_NODENAME": name,
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_CONFIG_FILE": str(config),
        "RABBITMQ_MNESIA_BASE": str(home / "mnesia"),
        "RABBITMQ_LOG_BASE": str(home / "log"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(directory / "enabled_plugins"),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
    }
    with log.open("ab") as output:
        process = subprocess.Popen(
            [str(RABBITMQ_SERVER)],
            cwd=home,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    return Node(name, amqp_port, management_port, process, log)


def _wait_formed(cluster: Cluster, names: set[str]) -> None:
    deadline = time.monotonic() + START_SECONDS
    last: object = None
    while time.monotonic() < deadline:
        for node in cluster.nodes:
            if not node.alive:
                tail = "\n".join(node.log.read_text(errors="replace").splitlines()[-30:])
                raise RuntimeError(f"RabbitMQ node {node.name} exited; {node.log}:\n{tail}")
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


class FailoverFront:
    """Listens on one loopback port; each connection is forwarded to the first of
    `targets` (host, port) that accepts it, in order."""

    def __init__(self, targets: Sequence[tuple[str, int]]) -> None:
        self.port = free_port()
        self.targets = list(targets)
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def __aenter__(self) -> FailoverFront:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)
        return self

    async def __aexit__(
        self, *_: type[BaseException] | BaseException | TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for target in self.targets:
            try:
                target_reader, target_writer = await asyncio.open_connection(*target)
            except OSError:
                continue
            for source, sink in ((reader, target_writer), (target_reader, writer)):
                task = asyncio.create_task(_pipe(source, sink))
                self._pipes.add(task)
                task.add_done_callback(self._pipes.discard)
            return
        writer.close()  # no node accepts: the client retries, as with a dead load balancer


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except ConnectionError:
        pass
    finally:
        sink.close()
