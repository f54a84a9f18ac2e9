"""Each service's entrypoint (`python -m services.<name>`) refuses to start in
production without the identity provider, or with a weak secret, saying what to set —
before it touches RabbitMQ or MongoDB."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from services import SERVICES
from tests.support.processes import REPO

PROVIDER = {
    "BERDAYA_JWT_JWKS_URL": "https://id.jambikota.example/realms/berdaya/certs",
    "BERDAYA_JWT_AUDIENCE": "berdaya-api",
}


def start(service: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BERDAYA_JWT_")},
        # nothing answers there: a service that got past its settings would hang, not exit
        "AMQP_URL": "amqp://guest:guest@127.0.0.1:9/",
        "MONGODB_URL": "mongodb://127.0.0.1:9/",
        "PYTHONPATH": str(REPO),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", f"services.{service}"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("service", SERVICES)
def test_production_without_a_provider_refuses_to_start(service: str) -> None:
    run = start(service, BERDAYA_ENVIRONMENT=" Production ")
    assert run.returncode == 1
    assert run.stderr.startswith("refusing to start:")
    assert "set BERDAYA_JWT_JWKS_URL" in run.stderr
    assert "BERDAYA_JWT_SECRET is the development default" in run.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_production_with_a_weak_secret_refuses_to_start(service: str) -> None:
    weak = "a1" * 20
    run = start(service, BERDAYA_ENVIRONMENT="PRODUCTION", BERDAYA_JWT_SECRET=weak, **PROVIDER)
    assert run.returncode == 1
    assert "BERDAYA_JWT_SECRET has fewer than 10 distinct characters" in run.stderr
    assert "BERDAYA_JWT_JWKS_URL" not in run.stderr
    assert weak not in run.stderr
