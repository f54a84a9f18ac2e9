"""The proposals service in the test's event loop, with a client of its API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx

from shared.runtime import ServiceRuntime
from tests.support.infrastructure import Infrastructure
from tests.support.people import ProposalDriver
from tests.support.runtime import asgi_client, running_service


@dataclass
class ProposalsApi:
    runtime: ServiceRuntime
    api: httpx.AsyncClient
    drive: ProposalDriver = field(init=False)

    def __post_init__(self) -> None:
        self.drive = ProposalDriver(self.api)


@asynccontextmanager
async def proposals_api(infra: Infrastructure, namespace: str) -> AsyncIterator[ProposalsApi]:
    async with (
        running_service("proposals", infra, namespace) as (runtime, app),
        asgi_client(app, "http://proposals") as api,
    ):
        yield ProposalsApi(runtime, api)
