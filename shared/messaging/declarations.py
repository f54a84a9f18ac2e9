"""A service's exchanges, queues and bindings, made (or looked up) in one place.

The broker set-up step (`services.broker_setup`) calls `declare_service` for each
service with a declaring `Topology`; a service under least privilege calls it with a
non-declaring one at start, which only looks every name up (passive declares need no
permission) and binds nothing — so a missing set-up is reported at once, by name.
In development a service declares its own (`BERDAYA_BROKER_TOPOLOGY=declare`).
"""

from __future__ import annotations

from collections.abc import Sequence

import aiormq.exceptions
from faststream.rabbit import RabbitBroker, RabbitQueue

from shared.messaging.topology import Topology

SETUP_COMMAND = "python -m services.broker_setup"


class TopologyMissing(RuntimeError):
    """An exchange or queue this service needs does not exist (the set-up step did not
    run for this version) — or its broker user may not even look at it."""

    def __init__(self, service: str, broker_says: str) -> None:
        super().__init__(
            f"{broker_says} — the {service} service does not declare its exchanges and "
            f"queues (BERDAYA_BROKER_TOPOLOGY=verify): run the broker set-up step "
            f"({SETUP_COMMAND}) with the set-up user, then this service starts by itself"
        )


async def declare_service(
    broker: RabbitBroker, topology: Topology, service: str, work_queues: Sequence[RabbitQueue]
) -> None:
    """`service`'s dead-letter route, the events exchange, its work queues (bound to the
    events exchange by event type and to its replay exchange by queue name), its retry
    routes and the queues it fills for others. `broker` must be connected."""
    try:
        await _declare(broker, topology, service, work_queues)
    except aiormq.exceptions.ChannelNotFoundEntity as error:
        raise TopologyMissing(service, str(error)) from error
    except aiormq.exceptions.ChannelAccessRefused as error:
        if topology.declares:
            raise
        raise TopologyMissing(service, str(error)) from error


async def _declare(
    broker: RabbitBroker, topology: Topology, service: str, work_queues: Sequence[RabbitQueue]
) -> None:
    binds = topology.declares
    events = await broker.declare_exchange(topology.events_exchange)
    dead_letters = await broker.declare_exchange(topology.dead_letter_exchange)
    dead_letter_queue = await broker.declare_queue(topology.dead_letter_queue(service))
    if binds:
        await dead_letter_queue.bind(dead_letters, routing_key=service)
    replay = await broker.declare_exchange(topology.replay_exchange(service))
    for queue in work_queues:
        declared = await broker.declare_queue(queue)
        if binds:
            await declared.bind(events, routing_key=queue.routing())
            await declared.bind(replay, routing_key=queue.name)
    if work_queues:
        for route in topology.retry_routes(service):
            exchange = await broker.declare_exchange(route.exchange)
            retry_queue = await broker.declare_queue(route.queue)
            if binds:
                await retry_queue.bind(exchange)
    for queue in topology.bound_queues(service):
        declared = await broker.declare_queue(queue)
        if binds:
            await declared.bind(events, routing_key=queue.routing())


async def declare_history(broker: RabbitBroker, topology: Topology) -> None:
    """The event history stream, bound to the events exchange with `#` (every event).
    The set-up step alone declares it: a service neither reads nor writes it."""
    events = await broker.declare_exchange(topology.events_exchange)
    history = await broker.declare_queue(topology.history_stream)
    await history.bind(events, routing_key=topology.history_stream.routing())
