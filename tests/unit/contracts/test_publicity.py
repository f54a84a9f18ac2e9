"""Every proposal event says whether the proposal is public (v2 on); v1 events, which did
not, are upcast by the rule that held when they were published."""

from __future__ import annotations

import json

import pytest

from shared.contracts import CATALOGUE, InvalidEvent, new_envelope, parse_event
from shared.contracts.events import ProposalEvent, ProposalStep
from tests.unit.shared.samples import samples_of_every_version

SAMPLES = samples_of_every_version()
PROPOSAL_EVENTS = sorted(
    event_type
    for event_type, version in CATALOGUE
    if version == 1 and issubclass(CATALOGUE[(event_type, 1)].data_model, ProposalEvent)
)
# The steps after which a proposal is still (or again) with its RT, or withdrawn by it.
WITH_ITS_RT_AFTER = {
    "proposal.submitted",
    "proposal.resubmitted",
    "proposal.returned",
    "proposal.withdrawn",
}


def test_every_proposal_event_states_publicity_in_its_newest_version() -> None:
    assert len(PROPOSAL_EVENTS) == 21
    for event_type in PROPOSAL_EVENTS:
        newest = CATALOGUE.newest(event_type)
        assert newest.version == 2
        assert issubclass(newest.data_model, ProposalStep), event_type
        assert newest.data_model.model_fields["public"].is_required()


@pytest.mark.parametrize("event_type", PROPOSAL_EVENTS)
def test_a_v1_event_is_upcast_stating_publicity_by_the_rule(event_type: str) -> None:
    upcast = SAMPLES[(event_type, 2)]
    assert isinstance(upcast, ProposalStep)
    assert upcast.public is (event_type not in WITH_ITS_RT_AFTER)
    v1 = SAMPLES[(event_type, 1)]
    assert upcast.model_dump(exclude={"public"}) == v1.model_dump()


def test_v2_keeps_the_summary_of_v1() -> None:
    for event_type in PROPOSAL_EVENTS:
        assert CATALOGUE[(event_type, 2)].summary == CATALOGUE[(event_type, 1)].summary


def test_a_v2_message_without_publicity_is_refused_with_the_reason() -> None:
    envelope = new_envelope(
        SAMPLES[("proposal.verified", 2)], producer="proposals", correlation_id="r"
    )
    body = json.loads(envelope.model_dump_json())
    del body["data"]["public"]
    with pytest.raises(InvalidEvent) as refused:
        parse_event(json.dumps(body).encode(), max_bytes=256 * 1024)
    assert refused.value.reason.startswith("invalid proposal.verified v2: ")
    assert "data.public: Field required" in refused.value.reason


def test_a_v2_message_states_what_its_producer_said() -> None:
    withheld = SAMPLES[("proposal.endorsed", 2)].model_copy(update={"public": False})
    envelope = new_envelope(withheld, producer="proposals", correlation_id="r")
    parsed = parse_event(envelope.model_dump_json().encode(), max_bytes=256 * 1024)
    assert (parsed.envelope.version, getattr(parsed.data, "public", None)) == (2, False)
