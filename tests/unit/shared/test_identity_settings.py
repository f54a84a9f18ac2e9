"""What production refuses to start with, rule by rule: the settings refuse it at
construction, so every entrypoint that builds them does (the services' own settings
included)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.materials.settings import MaterialsSettings
from services.notifications.settings import NotificationSettings
from services.proposals.settings import ProposalsSettings
from services.transparency.settings import TransparencySettings
from shared.identity_rules import DEVELOPMENT_JWT_SECRET
from shared.settings import ServiceSettings

STRONG = "kq3Zp9vT1xLr8WmB2nYc7HdF4sJg6QaE0uVt5RyO"
PRODUCTION: dict[str, Any] = {
    "environment": "production",
    "jwt_jwks_url": "https://id.jambikota.example/realms/berdaya/protocol/openid-connect/certs",
    "jwt_audience": "berdaya-api",
    "jwt_issuer": "https://id.jambikota.example/realms/berdaya",
    "jwt_secret": STRONG,
    # production refuses guest (test_broker_settings.py)
    "amqp_url": "amqp://proposals:s3cret-proposals@rabbitmq:5672/berdaya",
}


def refusal(**given: Any) -> str:
    with pytest.raises(ValidationError) as refused:
        ServiceSettings(**given)
    return str(refused.value)


def test_a_complete_production_configuration_starts() -> None:
    settings = ServiceSettings(**PRODUCTION)
    assert settings.production


@pytest.mark.parametrize("spelt", ["production", "Production", " PRODUCTION ", "\tproduction\n"])
def test_production_is_recognised_in_any_case_and_spacing(spelt: str) -> None:
    assert ServiceSettings(**{**PRODUCTION, "environment": spelt}).production
    assert "BERDAYA_JWT_JWKS_URL" in refusal(environment=spelt)


def test_an_unknown_environment_is_refused_rather_than_taken_for_development() -> None:
    assert "BERDAYA_ENVIRONMENT must be one of development, production" in refusal(
        environment="prod"
    )


def test_production_without_a_provider_is_refused() -> None:
    message = refusal(**{**PRODUCTION, "jwt_jwks_url": ""})
    assert "set BERDAYA_JWT_JWKS_URL (the OpenID Connect provider's jwks_uri)" in message


def test_a_provider_without_an_audience_is_refused_in_any_environment() -> None:
    for environment in ("production", "development"):
        message = refusal(**{**PRODUCTION, "environment": environment, "jwt_audience": ""})
        assert "set BERDAYA_JWT_AUDIENCE" in message


def test_production_takes_the_key_set_over_https_only() -> None:
    message = refusal(**{**PRODUCTION, "jwt_jwks_url": "http://id.example/certs"})
    assert "BERDAYA_JWT_JWKS_URL must be an https URL" in message
    development = {**PRODUCTION, "environment": "development"}
    assert ServiceSettings(**{**development, "jwt_jwks_url": "http://127.0.0.1:8080/certs"})


def test_production_refuses_hs256_tokens() -> None:
    assert "unset BERDAYA_JWT_ALLOW_HS256" in refusal(**PRODUCTION, jwt_allow_hs256=True)


@pytest.mark.parametrize(
    ("secret", "said"),
    [
        (DEVELOPMENT_JWT_SECRET, "is the development default"),
        ("Zp9vT1xLr8WmB2nYc7HdF4sJg6QaE0u", "is shorter than 32 characters"),
        ("abababababababababababababababababababab", "has fewer than 10 distinct characters"),
        ("0123456780123456780123456780123456780", "has fewer than 10 distinct characters"),
    ],
    ids=["development-default", "short", "two-characters", "nine-characters"],
)
def test_production_refuses_a_weak_secret(secret: str, said: str) -> None:
    message = refusal(**{**PRODUCTION, "jwt_secret": secret})
    assert f"BERDAYA_JWT_SECRET {said}" in message
    assert "set a random one of at least 32 characters" in message
    assert secret not in message  # the refusal never prints the secret


def test_development_takes_the_default_secret() -> None:
    settings = ServiceSettings()
    assert not settings.production
    assert settings.jwt_secret.get_secret_value() == DEVELOPMENT_JWT_SECRET


def test_every_problem_is_named_at_once() -> None:
    message = refusal(environment="production", jwt_allow_hs256=True)
    for wanted in ("BERDAYA_JWT_JWKS_URL", "BERDAYA_JWT_ALLOW_HS256", "BERDAYA_JWT_SECRET"):
        assert wanted in message


@pytest.mark.parametrize(
    "settings", [ProposalsSettings, MaterialsSettings, NotificationSettings, TransparencySettings]
)
def test_each_services_own_settings_refuse_alike(
    settings: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BERDAYA_ENVIRONMENT", " Production ")
    with pytest.raises(ValidationError, match="set BERDAYA_JWT_JWKS_URL"):
        settings()
