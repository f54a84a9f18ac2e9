"""The broker user a service connects as: its AMQP `user_id`, never guest in production."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.settings import ServiceSettings
from tests.unit.shared.test_identity_settings import PRODUCTION


def test_the_broker_user_comes_from_the_amqp_url() -> None:
    settings = ServiceSettings(amqp_url="amqp://city%2Dintegrations:pw@rabbitmq:5672/berdaya")
    assert settings.amqp_user == "city-integrations"
    assert ServiceSettings(amqp_url="amqp://rabbitmq:5672/").amqp_user == "guest"


@pytest.mark.parametrize(
    "amqp_url", ["amqp://guest:guest@rabbitmq:5672/", "amqp://rabbitmq:5672/berdaya"]
)
def test_production_refuses_to_connect_as_guest(amqp_url: str) -> None:
    with pytest.raises(ValidationError) as refused:
        ServiceSettings(**{**PRODUCTION, "amqp_url": amqp_url})
    assert "AMQP_URL connects as guest" in str(refused.value)
    assert "guest:guest" not in str(refused.value)  # the URL is not echoed


def test_development_may_use_guest() -> None:
    assert ServiceSettings(amqp_url="amqp://guest:guest@127.0.0.1:5672/").amqp_user == "guest"
