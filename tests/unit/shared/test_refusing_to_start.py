"""Every entrypoint that builds settings — the services, the public page's rebuild and
the broker set-up step — refuses production's forbidden settings with one sentence,
`refusing to start: …`, before it touches anything (shared/settings.py:
settings_or_refusal)."""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib import import_module
from typing import Any

import pytest

from services import broker_setup
from services.transparency import rebuild
from services.transparency.settings import TransparencySettings
from shared.identity_rules import DEVELOPMENT_JWT_SECRET
from shared.settings import ServiceSettings, settings_or_refusal
from shared.web import serve


def _never(*_: Any, **__: Any) -> Any:
    raise AssertionError("the entrypoint went past its settings")


async def _never_async(*_: Any, **__: Any) -> None:
    _never()


def _serve() -> None:
    serve.serve("transparency", _never)


def _rebuild() -> None:
    rebuild.main()


def _broker_setup() -> None:
    broker_setup.main([])


@pytest.fixture
def production_with_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Production, with no identity provider and the development JWT secret."""
    for name in [n for n in os.environ if n.startswith("BERDAYA_JWT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("BERDAYA_ENVIRONMENT", "production")
    monkeypatch.setattr("sys.argv", ["entrypoint"])
    # What each would do next: never reached.
    monkeypatch.setattr(rebuild, "rebuild", _never_async)
    monkeypatch.setattr(broker_setup, "set_up", _never_async)


@pytest.mark.usefixtures("production_with_defaults")
@pytest.mark.parametrize(
    "entrypoint", [_serve, _rebuild, _broker_setup], ids=["serve", "rebuild", "broker_setup"]
)
def test_each_entrypoint_refuses_production_with_the_development_secret(
    entrypoint: Callable[[], None],
) -> None:
    with pytest.raises(SystemExit) as refused:
        entrypoint()
    message = str(refused.value.code)
    assert message.startswith("refusing to start: "), message
    assert "BERDAYA_JWT_SECRET is the development default" in message
    assert "set BERDAYA_JWT_JWKS_URL" in message
    assert DEVELOPMENT_JWT_SECRET not in message
    # A sentence, not pydantic's traceback chained under it.
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


def test_settings_that_pass_are_returned_as_the_kind_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BERDAYA_ENVIRONMENT", "development")
    settings = settings_or_refusal(TransparencySettings, namespace="refusals")
    assert isinstance(settings, TransparencySettings)
    assert settings.namespace == "refusals"
    assert settings_or_refusal(ServiceSettings, service_name="broker-setup").service_name == (
        "broker-setup"
    )


@pytest.mark.parametrize(
    ("service", "variable"),
    [
        ("notifications", "BERDAYA_SMTP_PORT"),
        ("notifications", "BERDAYA_NOTIFICATION_POLL_SECONDS"),
    ],
)
def test_a_service_refuses_a_bad_setting_of_its_own_with_one_sentence(
    service: str, variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only the settings every service shares: its own are read before it builds."""
    bootstrap = import_module(f"services.{service}.bootstrap")
    monkeypatch.setenv(variable, "0")
    with pytest.raises(SystemExit) as refused:
        serve.serve(service, _never, bootstrap.SETTINGS)
    assert str(refused.value).startswith("refusing to start: ")
    assert variable.removeprefix("BERDAYA_").lower() in str(refused.value)
