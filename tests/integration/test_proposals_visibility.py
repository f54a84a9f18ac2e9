"""Authorize before revealing state: someone who may not see a proposal gets the 404 of
an unknown one on every command, never the 409 (or 422) that would name its state —
against the real proposals service, MongoDB and RabbitMQ."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from shared.identity import Actor
from tests.support.infrastructure import Infrastructure
from tests.support.people import (
    ACTS,
    OTHER_KECAMATAN_OFFICER,
    OTHER_KELURAHAN_OFFICER,
    OTHER_RT_HEAD,
    RESIDENT,
    auth,
)
from tests.support.proposals import ProposalsApi, proposals_api

UNKNOWN = "00000000-0000-4000-8000-000000000000"
# Every command of the proposals API, with a body it accepts.
COMMANDS: dict[str, dict[str, Any]] = {
    "verify": {},
    "endorse": {},
    "approve": {"budget_idr": 100_000_000, "fiscal_year": 2026},
    "reject": {"reason": "not this year"},
    "return": {"reason": "add a sketch"},
    "resubmit": {},
    "withdraw": {},
    "cancel": {"reason": "the land is disputed"},
    "work/start": {},
    "work/progress": {"percent": 10},
    "work/complete": {"percent": 100},
    "validate": {},
    "work/return": {"reason": "recast the edge"},
}
OUTSIDERS = [OTHER_RT_HEAD, OTHER_KELURAHAN_OFFICER, OTHER_KECAMATAN_OFFICER]


@pytest_asyncio.fixture(loop_scope="session")
async def setup(infra: Infrastructure, namespace: str) -> AsyncIterator[ProposalsApi]:
    async with proposals_api(infra, namespace) as ready:
        yield ready


async def command(
    api: httpx.AsyncClient, proposal_id: str, path: str, actor: Actor
) -> httpx.Response:
    return await api.post(
        f"/proposals/{proposal_id}/{path}", json=COMMANDS[path], headers=auth(actor)
    )


async def test_the_rightful_people_get_409_from_a_state_that_does_not_allow_it(
    setup: ProposalsApi,
) -> None:
    """The control: from `submitted`, everything but verify/return/withdraw is a 409
    naming the state for those who may see the proposal."""
    proposal_id = await setup.drive.submit()
    for path in ("approve", "work/start", "validate", "cancel"):
        response = await command(setup.api, proposal_id, path, ACTS[path])
        assert response.status_code == 409, (path, response.text)
        assert "submitted" in response.json()["detail"]


@pytest.mark.parametrize("outsider", OUTSIDERS, ids=lambda a: a.id)
async def test_someone_of_another_area_gets_404_on_every_command(
    setup: ProposalsApi, outsider: Actor
) -> None:
    proposal_id = await setup.drive.submit()
    unknown = await command(setup.api, UNKNOWN, "verify", outsider)
    for path in COMMANDS:
        response = await command(setup.api, proposal_id, path, outsider)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["detail"] == f"no proposal {proposal_id}"
        assert "submitted" not in response.text
    # the same answer as for a proposal that does not exist
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == f"no proposal {UNKNOWN}"


async def test_an_approved_job_of_another_area_tells_nothing_either(setup: ProposalsApi) -> None:
    await setup.drive.set_ceiling("Telanaipura", 2026, 1_000_000_000)
    proposal_id = await setup.drive.approved()
    for path in ("verify", "work/complete", "validate", "work/progress"):
        response = await command(setup.api, proposal_id, path, OTHER_KECAMATAN_OFFICER)
        assert response.status_code == 404, (path, response.text)
        assert "approved" not in response.text
    read = await setup.api.get(f"/proposals/{proposal_id}", headers=auth(OTHER_KELURAHAN_OFFICER))
    assert read.status_code == 404


async def test_a_resident_does_not_learn_the_state_of_an_unpublished_proposal(
    setup: ProposalsApi,
) -> None:
    proposal_id = await setup.drive.submit()
    for path in ("approve", "verify", "withdraw"):
        response = await command(setup.api, proposal_id, path, RESIDENT)
        assert response.status_code == 404, (path, response.text)
    await setup.drive.act(proposal_id, "verify")  # published now: its state is public
    refused = await command(setup.api, proposal_id, "approve", RESIDENT)
    assert refused.status_code == 409
    assert "verified" in refused.json()["detail"]
