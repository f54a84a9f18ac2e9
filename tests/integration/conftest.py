"""Fixtures that several integration test files share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.support.infrastructure import Infrastructure
from tests.support.materials import MaterialsApi, materials_api


@pytest_asyncio.fixture(loop_scope="session")
async def materials(infra: Infrastructure, namespace: str) -> AsyncIterator[MaterialsApi]:
    """The materials service in this event loop, with a client of its API."""
    async with materials_api(infra, namespace) as found:
        yield found
