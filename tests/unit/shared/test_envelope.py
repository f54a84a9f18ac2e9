"""The event envelope and the catalogue: wrapping, strict parsing, readable refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.contracts import Envelope, InvalidEvent, new_envelope, parse_event
from shared.contracts.catalogue import CATALOGUE, contract_for, contract_of
from shared.contracts.events import ProposalEvent, WorkProgressReportedV1
from shared.contracts.types import Contract
from shared.validation import MOST_PROBLEMS_NAMED
from tests.unit.shared.samples import sample_events, samples_of_every_version

MAX_BYTES = 256 * 1024
SAMPLES = sample_events()
VERSIONED = samples_of_every_version()


def progress_envelope() -> Envelope:
    data = SAMPLES["work.progress_reported"]
    return new_envelope(data, producer="proposals", correlation_id="req-42", causation_id="c-1")


def as_dict(envelope: Envelope) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(envelope.model_dump_json())
    return body


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def refusal(body: bytes, max_bytes: int = MAX_BYTES) -> str:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(body, max_bytes=max_bytes)
    assert str(caught.value) == caught.value.reason
    return caught.value.reason


# --------------------------------------------------------------------------------------------
# The samples themselves cover the catalogue
# --------------------------------------------------------------------------------------------


def test_there_is_a_sample_of_every_catalogue_entry() -> None:
    assert {(t, 1) for t in SAMPLES} == {(t, 1) for t, _ in CATALOGUE}
    assert set(VERSIONED) == set(CATALOGUE)
    for key, data in VERSIONED.items():
        assert type(data) is CATALOGUE[key].data_model


# --------------------------------------------------------------------------------------------
# new_envelope
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_new_envelope_takes_type_and_version_from_the_catalogue(event_type: str) -> None:
    data = SAMPLES[event_type]
    envelope = new_envelope(data, producer="proposals", correlation_id="req-1")
    contract = contract_of(type(data))
    assert (envelope.type, envelope.version) == (contract.event_type, contract.version)
    assert envelope.type == event_type


def test_new_envelope_fills_the_metadata_and_the_data() -> None:
    data = SAMPLES["proposal.verified"]
    first = new_envelope(data, producer="proposals", correlation_id="req-7", causation_id="e-6")
    second = new_envelope(data, producer="proposals", correlation_id="req-7")
    assert first.producer == "proposals"
    assert first.correlation_id == "req-7"
    assert first.causation_id == "e-6"
    assert second.causation_id is None
    assert first.occurred_at.tzinfo is not None
    assert first.event_id != second.event_id
    assert first.data == data.model_dump(mode="json")


def test_new_envelope_refuses_a_model_outside_the_catalogue() -> None:
    class Unlisted(Contract):
        x: int

    with pytest.raises(LookupError, match="Unlisted"):
        new_envelope(Unlisted(x=1), producer="proposals", correlation_id="req-1")


# --------------------------------------------------------------------------------------------
# parse_event: round trip
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_round_trip_gives_back_equal_data(event_type: str) -> None:
    data = SAMPLES[event_type]
    envelope = new_envelope(data, producer="proposals", correlation_id="req-1", causation_id="x")
    received = parse_event(envelope.model_dump_json().encode(), max_bytes=MAX_BYTES)
    assert received.envelope == envelope
    assert type(received.data) is type(data)
    assert received.data == data


def test_a_body_of_exactly_max_bytes_is_accepted() -> None:
    body = progress_envelope().model_dump_json().encode()
    assert parse_event(body, max_bytes=len(body)).data == SAMPLES["work.progress_reported"]


# --------------------------------------------------------------------------------------------
# parse_event: refusals
# --------------------------------------------------------------------------------------------


def test_invalid_event_is_a_value_error_carrying_its_reason() -> None:
    error = InvalidEvent("because")
    assert isinstance(error, ValueError)
    assert error.reason == "because"


def test_a_body_over_max_bytes_is_refused_before_parsing() -> None:
    body = progress_envelope().model_dump_json().encode()
    reason = refusal(body, max_bytes=len(body) - 1)
    assert reason == f"message of {len(body)} bytes exceeds the limit of {len(body) - 1}"


def test_a_body_that_is_not_json_is_refused() -> None:
    reason = refusal(b"this is not json {")
    assert reason.startswith("invalid envelope: ")
    assert "JSON" in reason


def test_a_json_body_that_is_not_an_object_is_refused() -> None:
    assert refusal(b"[1, 2, 3]").startswith("invalid envelope: ")


@pytest.mark.parametrize(
    "field", ["event_id", "type", "version", "occurred_at", "producer", "correlation_id", "data"]
)
def test_a_missing_envelope_field_is_named(field: str) -> None:
    body = as_dict(progress_envelope())
    del body[field]
    reason = refusal(encode(body))
    assert reason.startswith("invalid envelope: ")
    assert f"{field}: Field required" in reason


def test_an_unknown_envelope_field_is_named() -> None:
    body = as_dict(progress_envelope())
    body["priority"] = "high"
    reason = refusal(encode(body))
    assert reason.startswith("invalid envelope: ")
    assert "priority: Extra inputs are not permitted" in reason


def test_a_malformed_event_id_is_refused() -> None:
    body = as_dict(progress_envelope())
    body["event_id"] = "not-a-uuid"
    assert "event_id" in refusal(encode(body))


def test_an_unknown_event_type_is_refused() -> None:
    body = as_dict(progress_envelope())
    body["type"] = "work.teleported"
    assert refusal(encode(body)) == "unknown event work.teleported v1"


def test_an_unknown_version_of_a_known_type_is_refused() -> None:
    body = as_dict(progress_envelope())
    body["version"] = 9
    assert refusal(encode(body)) == "unknown event work.progress_reported v9"


def test_data_of_another_event_type_is_refused() -> None:
    body = as_dict(progress_envelope())
    body["type"] = "work.started"
    reason = refusal(encode(body))
    assert reason.startswith("invalid work.started v1: ")
    assert "data.started_by: Field required" in reason


def test_a_string_for_an_int_field_is_refused_strictly() -> None:
    body = as_dict(progress_envelope())
    body["data"]["percent"] = "12"
    reason = refusal(encode(body))
    assert reason.startswith("invalid work.progress_reported v1: ")
    assert "data.percent" in reason


def test_a_value_out_of_range_in_data_is_refused() -> None:
    body = as_dict(progress_envelope())
    body["data"]["percent"] = 101
    assert "data.percent" in refusal(encode(body))


def test_a_missing_data_field_is_named() -> None:
    body = as_dict(progress_envelope())
    del body["data"]["reported_by"]
    assert "data.reported_by: Field required" in refusal(encode(body))


def test_an_unknown_data_field_is_named() -> None:
    body = as_dict(progress_envelope())
    body["data"]["colour"] = "red"
    reason = refusal(encode(body))
    assert reason.startswith("invalid work.progress_reported v1: ")
    assert "data.colour: Extra inputs are not permitted" in reason


def test_an_unknown_field_in_nested_data_is_named() -> None:
    body = as_dict(progress_envelope())
    body["data"]["area"]["rw"] = "002"
    assert "data.area.rw: Extra inputs are not permitted" in refusal(encode(body))


def test_many_problems_are_summarised_with_a_count_of_the_rest() -> None:
    body = as_dict(progress_envelope())
    for extra in range(MOST_PROBLEMS_NAMED + 3):
        body["data"][f"extra_{extra}"] = extra
    assert "(and 3 more)" in refusal(encode(body))


# --------------------------------------------------------------------------------------------
# The catalogue
# --------------------------------------------------------------------------------------------


def test_contract_of_a_model_outside_the_catalogue_raises_lookup_error() -> None:
    with pytest.raises(LookupError, match="ProposalEvent is not in the event catalogue"):
        contract_of(ProposalEvent)


def test_contract_for_an_unknown_pair_is_none() -> None:
    assert contract_for("work.progress_reported", 1) is contract_of(WorkProgressReportedV1)
    assert contract_for("work.progress_reported", 99) is None
    assert contract_for("nothing.here", 1) is None


def test_each_data_model_belongs_to_exactly_one_entry() -> None:
    models = [c.data_model for c in CATALOGUE.values()]
    assert len(models) == len(set(models))
    for key, contract in CATALOGUE.items():
        assert (contract.event_type, contract.version) == key
        assert contract_of(contract.data_model) is contract


@pytest.mark.parametrize("key", sorted(CATALOGUE))
def test_message_schema_pins_type_and_version(key: tuple[str, int]) -> None:
    contract = CATALOGUE[key]
    schema = contract.message_model.model_json_schema()
    assert schema["properties"]["type"]["const"] == contract.event_type
    assert schema["properties"]["version"]["const"] == contract.version
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize("key", sorted(CATALOGUE))
def test_message_model_refuses_another_type_for_its_data(key: tuple[str, int]) -> None:
    contract = CATALOGUE[key]
    envelope = new_envelope(VERSIONED[key], producer="proposals", correlation_id="r")
    contract.message_model.model_validate_json(envelope.model_dump_json())
    other = "work.validated" if key[0] != "work.validated" else "work.started"
    forged = {**as_dict(envelope), "type": other}
    with pytest.raises(ValueError, match="type"):
        contract.message_model.model_validate_json(json.dumps(forged))
