"""One containerised system for the tier: RabbitMQ, a MongoDB per service, an SMTP
catcher and one replica of each service (tests add replicas)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services import SERVICES
from tests.support.containers import Stack, stack


@pytest.fixture(scope="session")
def system() -> Iterator[Stack]:
    with stack() as running:
        for name in SERVICES:
            extra = {"BERDAYA_SMTP_HOST": "smtp", "BERDAYA_SMTP_PORT": "1025"}
            running.start_service(name, **(extra if name == "notifications" else {}))
        yield running
