"""A silent broker is noticed within a few heartbeats: the services ask for them often,
unless the AMQP URL says otherwise."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.messaging.broker import build_broker, with_heartbeat
from shared.settings import ServiceSettings


def test_the_heartbeat_is_added_to_the_url() -> None:
    url = with_heartbeat("amqp://svc:pw@rabbitmq:5672/berdaya", 10)
    assert url == "amqp://svc:pw@rabbitmq:5672/berdaya?heartbeat=10"


def test_a_heartbeat_the_url_names_wins() -> None:
    url = "amqp://rabbitmq:5672/?heartbeat=30&cafile=/ca.pem"
    assert with_heartbeat(url, 10) == url


def test_other_query_parameters_stay() -> None:
    url = with_heartbeat("amqps://rabbitmq:5671/?cafile=/etc/ca.pem", 5)
    assert "cafile=/etc/ca.pem" in url and "heartbeat=5" in url


def test_the_broker_connects_with_the_settings_heartbeat_and_timeout() -> None:
    settings = ServiceSettings(amqp_heartbeat_seconds=7, amqp_connect_timeout_seconds=4)
    broker = build_broker(settings)
    assert "heartbeat=7" in str(broker._connection_kwargs["url"])
    assert broker._connection_kwargs["timeout"] == 4


@pytest.mark.parametrize("seconds", [0, 1, 601])
def test_a_heartbeat_out_of_bounds_is_refused(seconds: int) -> None:
    with pytest.raises(ValidationError):
        ServiceSettings(amqp_heartbeat_seconds=seconds)
