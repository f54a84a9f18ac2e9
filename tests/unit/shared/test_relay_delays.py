"""How long an outbox row waits after a failed publish, by what the broker said."""

from __future__ import annotations

from datetime import timedelta

import aiormq
from aio_pika.exceptions import DeliveryError

from shared.messaging.relay import OUTAGE_RETRY, REFUSED_RETRY, delay_after, retry_delay

NACKED = DeliveryError(None, aiormq.spec.Basic.Nack(delivery_tag=1))
RETURNED = DeliveryError(None, aiormq.spec.Basic.Return(reply_code=312, reply_text="NO_ROUTE"))
CONNECTION_LOST = aiormq.exceptions.AMQPConnectionError("connection lost")


def test_a_returned_event_backs_off_to_minutes_no_queue_is_bound_for_it() -> None:
    assert delay_after(RETURNED, 1) == retry_delay(1) == timedelta(seconds=1)
    assert delay_after(RETURNED, 12) == retry_delay(12) > timedelta(minutes=4)


def test_a_nacked_event_is_tried_again_within_seconds_however_often_it_was_refused() -> None:
    assert delay_after(NACKED, 1) == timedelta(seconds=1)
    assert delay_after(NACKED, 12) == REFUSED_RETRY == timedelta(seconds=10)


def test_the_broker_away_costs_the_row_nothing() -> None:
    assert delay_after(CONNECTION_LOST, 12) == OUTAGE_RETRY
