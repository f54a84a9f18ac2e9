"""A consumer waits out MongoDB or RabbitMQ with the project's one back-off."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any, cast

from faststream.rabbit import RabbitBroker
from pymongo.errors import AutoReconnect

from shared.messaging.consumer import (
    OUTAGE_FIRST_WAIT,
    OUTAGE_LONGEST_WAIT,
    EventConsumers,
    _Subscription,
)
from shared.messaging.topology import Topology
from shared.settings import ServiceSettings
from shared.storage.unit_of_work import Transactions
from shared.workers import backoff

OUTAGES = 8


class _AwayThenBack:
    """Transactions whose first `outages` runs find MongoDB away."""

    def __init__(self, outages: int) -> None:
        self.left = outages

    async def run(self, work: Any, **_: Any) -> None:
        if self.left:
            self.left -= 1
            raise AutoReconnect("no primary")


class _Message:
    acked = False

    async def ack(self) -> None:
        self.acked = True


async def test_the_waits_double_from_half_a_second_up_to_ten_and_spend_no_attempt() -> None:
    transactions = _AwayThenBack(OUTAGES)
    consumers = EventConsumers(
        RabbitBroker(), Topology("t0"), cast(Transactions, transactions), ServiceSettings()
    )
    waits: list[float] = []

    async def wait_out(event_type: str, error: Exception, wait: float) -> bool:
        waits.append(wait)
        return True

    consumers._wait_out_outage = wait_out  # type: ignore[method-assign]
    contract = SimpleNamespace(event_type="proposal.approved")
    subscription = _Subscription(contract, handler=None, handler_name="t:x")  # type: ignore[arg-type]
    envelope = SimpleNamespace(correlation_id="c", event_id=uuid.uuid4())
    message = _Message()

    await consumers._handle(SimpleNamespace(envelope=envelope), subscription, message)  # type: ignore[arg-type]

    # 0.5 s, doubled each time, never more than 10 s: shared.workers.backoff's
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert waits == [
        backoff(n, first=OUTAGE_FIRST_WAIT, cap=OUTAGE_LONGEST_WAIT) for n in range(1, 9)
    ]
    assert message.acked and transactions.left == 0
