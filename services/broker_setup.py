"""The broker set-up step: every service's exchanges, queues, bindings and queue policies,
made by the set-up user, so that the services' own users need no configure permission.

    AMQP_URL=amqp://berdaya-setup:…@rabbitmq:5672/berdaya python -m services.broker_setup

Run it before the services start and again after an upgrade (it is idempotent); a
service started with `BERDAYA_BROKER_TOPOLOGY=verify` waits, saying so, until it has
run. The queues are those the services subscribe to, found by building each service
with the same settings (namespace, retry delays, delivery attempts) it will run with:
nothing is listed twice. Exits non-zero when it could not finish (policies included,
unless `BERDAYA_BROKER_POLICIES=definitions` leaves them to the broker's definitions).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from importlib import import_module

from faststream.rabbit import RabbitBroker

from services import SERVICES
from shared.logs import configure_logging, get_logger
from shared.messaging.broker import build_broker
from shared.messaging.declarations import declare_history, declare_service
from shared.messaging.policies import apply_policies
from shared.messaging.topology import Topology
from shared.runtime import ServiceRuntime, until_it_works
from shared.settings import ServiceSettings, settings_or_refusal

log = get_logger(__name__)


def service_runtime(service: str, given: ServiceSettings) -> ServiceRuntime:
    """`service` as it will run (its subscriptions registered), never started."""
    settings = given.model_copy(update={"service_name": service, "broker_topology": "declare"})
    runtime: ServiceRuntime = import_module(f"services.{service}.bootstrap").build(settings)[0]
    return runtime


async def set_up(settings: ServiceSettings, services: Sequence[str] = SERVICES) -> None:
    """Declare and bind what `services` need, with the credentials of `settings.amqp_url`."""
    broker = build_broker(settings.model_copy(update={"service_name": "broker-setup"}))

    async def connect() -> None:
        await broker.connect()

    await until_it_works("RabbitMQ", settings.amqp_url, connect)
    try:
        for service in services:
            runtime = service_runtime(service, settings)
            applied = await apply_policies(
                runtime.topology.policies(service),
                amqp_url=settings.amqp_url,
                management_url=settings.rabbitmq_management_url,
                mode=settings.broker_policies,
            )
            if not applied and settings.broker_policies == "apply":
                raise SystemExit(f"the queue policies of {service} were not set (see above)")
            await declare_service(broker, runtime.topology, service, runtime.consumers.subscribed)
            log.info("broker set up", service=service, queues=runtime.consumers.queues)
        await set_up_history(broker, settings)
    finally:
        await broker.stop()


async def set_up_history(broker: RabbitBroker, settings: ServiceSettings) -> None:
    """The event history stream and its retention policy (by age and size, from the
    settings): a policy, so that changing the retention keeps the history."""
    topology = Topology(
        settings.namespace,
        history_max_age=settings.history_max_age,
        history_max_bytes=settings.history_max_bytes,
    )
    applied = await apply_policies(
        [topology.history_policy],
        amqp_url=settings.amqp_url,
        management_url=settings.rabbitmq_management_url,
        mode=settings.broker_policies,
    )
    if not applied and settings.broker_policies == "apply":
        raise SystemExit("the event history's retention policy was not set (see above)")
    await declare_history(broker, topology)
    log.info("broker set up", history=topology.history_stream.name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.broker_setup")
    parser.add_argument("services", nargs="*", help=f"of {', '.join(SERVICES)} (default: all)")
    args = parser.parse_args(argv)
    unknown = set(args.services) - set(SERVICES)
    if unknown:
        parser.error(f"no such service: {', '.join(sorted(unknown))}")
    settings = settings_or_refusal(ServiceSettings, service_name="broker-setup")
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    asyncio.run(set_up(settings, args.services or SERVICES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
