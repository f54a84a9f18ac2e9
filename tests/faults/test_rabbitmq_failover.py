"""RabbitMQ as production runs it, a 3-node cluster with quorum queues, the node leading
the services' work queues SIGKILLed while proposals and materials are busy: the queues
elect leaders on the other two nodes, the clients reconnect through the front (a load
balancer in production) to a live node, and nothing is lost or doubled — every
approval reserves its job exactly once, every event reaches an outside listener."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from pymongo import AsyncMongoClient

from tests.support.failover import (
    EffectClock,
    approve_all,
    assert_each_once,
    endorsed_proposals,
    once_each,
    report_recovery,
)
from tests.support.infrastructure import Infrastructure
from tests.support.probe import EventProbe, eventually, until_async
from tests.support.processes import metric, start_service, wait_ready
from tests.support.proxy import Forwarder
from tests.support.rabbitmq_cluster import Cluster, rabbitmq_cluster

APPROVALS = 60
KILL_AFTER = APPROVALS // 4
# Handlers that were running when the node died commit within this long; what is
# committed later was taken from a queue after the failover.
SETTLED_SECONDS = 1.0


def work_queue_leaders(cluster: Cluster, namespace: str) -> dict[str, str]:
    return {q: leader for q, leader in cluster.queue_leaders().items() if q.startswith(namespace)}


async def test_killing_the_node_leading_the_queues_loses_and_doubles_nothing(
    infra: Infrastructure, namespace: str, tmp_path: Path
) -> None:
    begun = time.monotonic()
    with rabbitmq_cluster(tmp_path / "cluster") as cluster:
        targets = [("127.0.0.1", node.amqp_port) for node in cluster.nodes]
        async with Forwarder(*targets) as front:
            await front.open()
            engines = Infrastructure(
                f"amqp://guest:guest@{front.address}/", infra.mongodb_url, "3-node cluster"
            )
            client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
                infra.mongodb_url, uuidRepresentation="standard"
            )
            jobs = client[f"{namespace}_materials"]["jobs"]

            async def reserved() -> int:
                return await jobs.count_documents({})

            clock = EffectClock(reserved)
            # policies through a node's management API (the front forwards AMQP only)
            env = {"BERDAYA_RABBITMQ_MANAGEMENT_URL": cluster.nodes[-1].management_url}
            services = [
                start_service(name, engines, namespace, tmp_path, **env)
                for name in ("proposals", "materials")
            ]
            proposals, materials = services
            try:
                for service in services:
                    await asyncio.to_thread(wait_ready, service)
                print(f"\nengines and services ready after {time.monotonic() - begun:.1f} s")
                endorsed = await endorsed_proposals(proposals.url, APPROVALS)
                print(f"{APPROVALS} proposals endorsed after {time.monotonic() - begun:.1f} s")
                kinds = ["proposal.approved", "material.reserved"]
                async with EventProbe(engines.amqp_url, namespace, kinds, lasting=True) as probe:
                    leaders = await asyncio.to_thread(work_queue_leaders, cluster, namespace)
                    assert leaders, "no quorum queues of this namespace"
                    leading = Counter(leaders.values()).most_common(1)[0][0]
                    print(f"\nqueue leaders: {dict(Counter(leaders.values()))}")
                    clock.start()
                    flow_began = time.monotonic()
                    flow = asyncio.create_task(approve_all(proposals.url, endorsed))
                    await until_async(
                        reserved, lambda n: n >= KILL_AFTER, within=60, what="progress"
                    )
                    killed_at = time.monotonic()
                    steady = killed_at - flow_began
                    cluster.kill(cluster.node(leading))
                    print(
                        f"killed {leading} at {clock.latest()} of {APPROVALS} jobs, "
                        f"{steady:.1f} s into the flow"
                    )

                    await asyncio.wait_for(flow, 90)  # every approval answered 2xx
                    await until_async(
                        reserved, lambda n: n >= APPROVALS, within=60, what="every job"
                    )
                    await eventually(
                        lambda: len(once_each(probe.of_type("material.reserved"))) == APPROVALS,
                        within=60,
                        what="every reservation announced",
                    )
                    done_at = time.monotonic()
                    after = await asyncio.to_thread(work_queue_leaders, cluster, namespace)
                    print(f"queue leaders after: {dict(Counter(after.values()))}")
                    assert leading not in after.values()
                    report_recovery(clock, killed_at, done_at, SETTLED_SECONDS)
                    copies = await assert_each_once(jobs, probe, endorsed, kinds)
                    consumed = {"service": "materials", "event_type": "proposal.approved"}
                    duplicates = metric(
                        materials.url,
                        "berdaya_events_consumed_total",
                        outcome="duplicate",
                        **consumed,
                    )
                    print(
                        f"{copies} repeated copies on the probe, {duplicates:g} redelivered "
                        "approvals recognised by the inbox"
                    )
                    for outcome in ("retried", "dead_lettered"):
                        value = metric(
                            materials.url,
                            "berdaya_events_consumed_total",
                            outcome=outcome,
                            **consumed,
                        )
                        assert value == 0, f"{outcome}: {value}"
            finally:
                await clock.stop()
                for service in services:
                    service.stop()
                await client.close()
