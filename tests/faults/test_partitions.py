"""Network partitions: proposals and materials each run in a network namespace of their
own and reach RabbitMQ and MongoDB (on the host's loopback) through forwarders on their
link's host end. A partition is an iptables DROP inside one namespace, held longer than
every timeout that could notice it (heartbeats, server selection, connecting, the
readiness round trip), then healed — under load: approvals keep arriving over HTTP.

The partitioned service says so (`/ready` 503) and recovers by itself (`/ready` 200);
every approval gets its job in materials once and its answer on the wire once; nothing
is dead-lettered because a dependency was away. A slow link (latency in the forwarder)
only slows things.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.approvals import WATCHED, ApprovalLoad, is_ready, until_ready
from tests.support.fault_proxy import FaultProxy
from tests.support.infrastructure import Infrastructure
from tests.support.netns import NetworkNamespace, isolated_network
from tests.support.probe import EventProbe
from tests.support.processes import ServiceProcess, start_service_inside, wait_ready

# The services notice a silent broker within 3 heartbeats (5 s each here: 18 s);
# server selection gives up after 5 s, connecting after 10 s, the readiness round trip
# after 2 s. A partition outlasts them all.
HEARTBEAT_SECONDS = 5
PARTITION_SECONDS = 30.0
BEFORE, DURING, AFTER = 3, 4, 3
MANAGEMENT_PORT = 15672
# One way, per chunk: a 100 ms round trip, a slow WAN link. (At 200 ms one way a
# reservation's transaction outlives MongoDB's transactionLifetimeLimitSeconds, 3 s
# in deploy/local/run.py, and is aborted and retried forever.)
SLOW_SECONDS = 0.05


@dataclass
class Isolated:
    """A service in its namespace, with the forwarders it reaches its dependencies by."""

    service: ServiceProcess
    net: NetworkNamespace
    broker: FaultProxy
    mongodb: FaultProxy

    def cut(self, links: str) -> None:
        ports = {"broker": [self.broker.port], "mongodb": [self.mongodb.port]}
        ports["both"] = ports["broker"] + ports["mongodb"]
        self.net.partition(*ports[links])

    async def ready(self) -> bool:
        return await is_ready(self.service)

    async def until_ready(self, wanted: bool, within: float) -> float:
        return await until_ready(self.service, wanted, within)


@contextmanager
def isolated_service(
    name: str, infra: Infrastructure, namespace: str, log_dir: Path
) -> Iterator[Isolated]:
    amqp, mongodb = urlsplit(infra.amqp_url), urlsplit(infra.mongodb_url)
    with ExitStack() as stack:
        net = stack.enter_context(isolated_network())

        def forwarder(port: int) -> FaultProxy:
            return stack.enter_context(FaultProxy(net.host_address, ("127.0.0.1", port)))

        broker = forwarder(amqp.port or 5672)
        database = forwarder(mongodb.port or 27017)
        management = forwarder(MANAGEMENT_PORT)
        service = start_service_inside(
            net.run,
            net.address,
            name,
            infra,
            namespace,
            log_dir,
            dict(
                AMQP_URL=infra.amqp_url.replace(amqp.netloc.split("@")[-1], _at(net, broker), 1),
                MONGODB_URL=infra.mongodb_url.replace(mongodb.netloc, _at(net, database), 1),
                BERDAYA_RABBITMQ_MANAGEMENT_URL=f"http://{_at(net, management)}",
                BERDAYA_AMQP_HEARTBEAT_SECONDS=str(HEARTBEAT_SECONDS),
            ),
        )
        stack.callback(service.stop)
        yield Isolated(service, net, broker, database)


def _at(net: NetworkNamespace, proxy: FaultProxy) -> str:
    return f"{net.host_address}:{proxy.port}"


@pytest.fixture
def system(infra: Infrastructure, namespace: str, tmp_path: Path) -> Iterator[dict[str, Isolated]]:
    assert infra.source == "running services", "network namespaces need the local tier"
    with ExitStack() as stack:
        running = {
            name: stack.enter_context(isolated_service(name, infra, namespace, tmp_path))
            for name in ("proposals", "materials")
        }
        for isolated in running.values():
            wait_ready(isolated.service, 90)
        yield running


@pytest.mark.parametrize(
    ("victim", "links"),
    [
        ("materials", "broker"),
        ("materials", "mongodb"),
        ("materials", "both"),
        # the relay's side: approvals are committed, their events wait in the outbox
        ("proposals", "broker"),
    ],
)
async def test_a_partition_is_waited_out_and_healed_without_loss(
    system: dict[str, Isolated], infra: Infrastructure, namespace: str, victim: str, links: str
) -> None:
    target = system[victim]
    load = ApprovalLoad(system["proposals"].service.url, system["materials"].service.url)
    async with EventProbe(infra.amqp_url, namespace, WATCHED) as probe:
        await load.prepare()
        await load.approve(BEFORE, "sebelum")

        target.cut(links)
        cut_at = time.monotonic()
        noticed = await target.until_ready(False, within=15)
        await load.approve(DURING, "selama")
        await asyncio.sleep(max(0.0, PARTITION_SECONDS - (time.monotonic() - cut_at)))
        assert not await target.ready(), "ready again while still partitioned"
        target.net.heal()
        healed_at = time.monotonic()
        recovered = await target.until_ready(True, within=60)

        await load.approve(AFTER, "sesudah")
        drained_at = await load.wait_for_jobs(infra.mongodb_url, namespace, within=90)
        await asyncio.sleep(2.0)  # a doubled job or event would show up by now
        reckoning = await load.reckon(probe, infra.amqp_url, infra.mongodb_url, namespace)

    assert reckoning.approvals == BEFORE + DURING + AFTER
    for isolated in system.values():
        assert isolated.service.process.poll() is None, isolated.service.log_tail()
    print(  # the figures the README quotes (pytest -s shows them)
        f"\npartition {victim}<->{links} {PARTITION_SECONDS:.0f}s: not ready after "
        f"{noticed:.1f}s, ready {recovered:.1f}s after healing, every job "
        f"{drained_at - healed_at:.1f}s after healing; {reckoning}"
    )


async def test_a_slow_link_only_slows(
    system: dict[str, Isolated], infra: Infrastructure, namespace: str
) -> None:
    """50 ms each way on materials' links to the broker and MongoDB and proposals' to
    MongoDB: everything still happens once, and the services stay ready."""
    load = ApprovalLoad(system["proposals"].service.url, system["materials"].service.url)
    slowed = [system["materials"].broker, system["materials"].mongodb, system["proposals"].mongodb]
    async with EventProbe(infra.amqp_url, namespace, WATCHED) as probe:
        await load.prepare()
        for proxy in slowed:
            proxy.latency = SLOW_SECONDS
        started = time.monotonic()
        await load.approve(BEFORE + DURING, "lambat")
        assert all([await isolated.ready() for isolated in system.values()])
        drained_at = await load.wait_for_jobs(infra.mongodb_url, namespace, within=90)
        for proxy in slowed:
            proxy.latency = 0.0
        await asyncio.sleep(2.0)
        reckoning = await load.reckon(probe, infra.amqp_url, infra.mongodb_url, namespace)
    assert reckoning.approvals == BEFORE + DURING
    took = drained_at - started
    print(
        f"\nslow links ({SLOW_SECONDS * 1000:.0f} ms each way): every job {took:.1f}s "
        f"after the first approval began; {reckoning}"
    )
