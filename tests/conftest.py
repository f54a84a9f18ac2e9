"""Test tiers by folder, and the real infrastructure the integration tiers use."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.support.infrastructure import Infrastructure, infrastructure
from tests.support.namespace import new_namespace, remove_namespace

TIERS = ("unit", "integration", "e2e", "faults", "containers")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test is marked with the tier its folder names, so `-m unit` etc. work."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        for tier in TIERS:
            if tier in parts:
                item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def infra() -> Iterator[Infrastructure]:
    with infrastructure() as found:
        yield found


@pytest_asyncio.fixture(loop_scope="session")
async def namespace(infra: Infrastructure) -> AsyncIterator[str]:
    """A namespace of exchanges, queues and databases that only this test sees."""
    name = new_namespace()
    yield name
    await remove_namespace(name, infra.amqp_url, infra.mongodb_url)
