"""Text the event contract would refuse is refused at the door, against real MongoDB and
RabbitMQ: a `problem` past its length and a reason holding a bidirectional override
answer 422 naming the field or the character (they used to pass the HTTP model and fail
in the event, a 500), and nothing is stored or published.

Each refusal is followed by a request that is accepted: its event is the barrier after
which the refused one's would have shown, and the only one that does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from shared.contracts.events import ProposalSubmittedV2
from tests.support.infrastructure import Infrastructure
from tests.support.people import KELURAHAN_OFFICER, RT_HEAD, auth, road_proposal
from tests.support.probe import EventProbe
from tests.support.proposals import ProposalsApi, proposals_api

# The longest `problem` the event contract takes: one more is one too many.
PROBLEM_MAX = ProposalSubmittedV2.model_json_schema()["properties"]["problem"]["maxLength"]
# RIGHT-TO-LEFT OVERRIDE: "Trojan Source", shows "...exe.pdf" for "...fdp.exe"
RLO = "\u202e"


@pytest_asyncio.fixture(loop_scope="session")
async def service(infra: Infrastructure, namespace: str) -> AsyncIterator[ProposalsApi]:
    async with proposals_api(infra, namespace) as ready:
        yield ready


def events(probe: EventProbe) -> list[dict[str, Any]]:
    return [json.loads(m.body) for m in probe.messages]


async def test_a_problem_longer_than_the_event_takes_is_422_and_goes_nowhere(
    service: ProposalsApi, infra: Infrastructure, namespace: str
) -> None:
    api, db = service.api, service.runtime.db
    async with EventProbe(infra.amqp_url, namespace, ["proposal.*"]) as probe:
        refused = await api.post(
            "/proposals",
            json=road_proposal(problem="x" * (PROBLEM_MAX + 1)),
            headers=auth(RT_HEAD),
        )
        accepted = await api.post(
            "/proposals", json=road_proposal(problem="y" * PROBLEM_MAX), headers=auth(RT_HEAD)
        )
        assert accepted.status_code == 201, accepted.text  # the longest allowed goes out
        await probe.wait_for(lambda: len(probe.messages) == 1, what="the accepted proposal")

    assert refused.status_code == 422
    (error,) = refused.json()["errors"]
    assert error["loc"] == ["body", "problem"]
    assert f"at most {PROBLEM_MAX} characters" in error["msg"]
    assert "problem" in refused.json()["detail"]
    accepted_id = accepted.json()["proposal"]["id"]
    assert [e["data"]["proposal_id"] for e in events(probe)] == [accepted_id]
    assert await db["proposals"].count_documents({}) == 1
    assert await db["outbox"].count_documents({}) == 1


async def test_a_reason_with_a_bidi_override_is_422_and_the_proposal_stays_as_it_was(
    service: ProposalsApi, infra: Infrastructure, namespace: str
) -> None:
    api, db = service.api, service.runtime.db
    submitted = await api.post("/proposals", json=road_proposal(), headers=auth(RT_HEAD))
    proposal_id = submitted.json()["proposal"]["id"]
    before = (await api.get(f"/proposals/{proposal_id}", headers=auth(RT_HEAD))).json()
    outbox_before = await db["outbox"].count_documents({})
    sneaky = f"Lampirkan foto, lihat berkas_{RLO}fdp.exe"

    async with EventProbe(infra.amqp_url, namespace, ["proposal.returned"]) as probe:
        refused = await api.post(
            f"/proposals/{proposal_id}/return",
            json={"reason": sneaky},
            headers=auth(KELURAHAN_OFFICER),
        )
        after = (await api.get(f"/proposals/{proposal_id}", headers=auth(RT_HEAD))).json()
        returned = await api.post(
            f"/proposals/{proposal_id}/return",
            json={"reason": "Lampirkan foto jalan yang rusak"},
            headers=auth(KELURAHAN_OFFICER),
        )
        assert returned.status_code == 200, returned.text
        await probe.wait_for(lambda: len(probe.messages) == 1, what="the accepted return")

    assert refused.status_code == 422
    (error,) = refused.json()["errors"]
    assert error["loc"] == ["body", "reason"]
    assert "U+202E (RIGHT-TO-LEFT OVERRIDE)" in error["msg"]
    assert after == before  # state, timeline and version as they were
    assert after["proposal"]["state"] == "submitted"
    assert [e["data"]["reason"] for e in events(probe)] == ["Lampirkan foto jalan yang rusak"]
    assert await db["outbox"].count_documents({}) == outbox_before + 1
