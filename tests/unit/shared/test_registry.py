"""Contracts declared on their models; versions and upcasting (no I/O)."""

from __future__ import annotations

import json

import pytest

from shared.contracts import CATALOGUE, InvalidEvent, contract_of, new_envelope
from shared.contracts.events import ProposalApprovedV1, ProposalEvent
from shared.contracts.registry import EventRegistry
from shared.contracts.types import Contract
from tests.support.drills import DRILLS, DrillReportedV1, DrillReportedV2

MAX_BYTES = 64 * 1024


def body(data: Contract) -> bytes:
    return (
        new_envelope(data, producer="city-finance", correlation_id="c").model_dump_json().encode()
    )


def test_a_contract_is_declared_on_its_model_with_its_docstring_as_summary() -> None:
    registry, v1, v2 = DRILLS, DrillReportedV1, DrillReportedV2
    first = contract_of(v1)
    assert (first.event_type, first.version, first.producer) == (
        "drill.reported",
        1,
        "city-finance",
    )
    assert first.summary == "A drill was reported."
    assert first.registry is registry
    assert [c.data_model for c in registry.versions("drill.reported")] == [v1, v2]
    assert registry.newest("drill.reported").data_model is v2
    # a registry of its own stays out of the public catalogue
    assert ("drill.reported", 1) not in CATALOGUE


def test_the_catalogue_is_the_models_declarations() -> None:
    contract = CATALOGUE[("proposal.approved", 1)]
    assert contract.data_model is ProposalApprovedV1
    assert contract_of(ProposalApprovedV1) is contract
    assert contract.summary == (
        "The city approved the job: work type, dimensions, location, budget, swadaya."
    )


def test_an_older_version_is_upcast_and_a_newer_one_refused() -> None:
    registry, v1, v2 = DRILLS, DrillReportedV1, DrillReportedV2
    old = registry.parse(body(v1(note="smoke")), max_bytes=MAX_BYTES)
    upcast = registry.upcast(old, v2)
    assert upcast.data == v2(note="smoke", severity=1)
    assert upcast.envelope.version == 1, "the envelope stays as it was published"
    new = registry.parse(body(v2(note="fire", severity=4)), max_bytes=MAX_BYTES)
    assert registry.upcast(new, v2).data == v2(note="fire", severity=4)
    with pytest.raises(InvalidEvent, match="v2 is newer than the v1 this consumer takes"):
        registry.upcast(new, v1)


def test_an_upcaster_that_cannot_express_the_old_event_dead_letters_it() -> None:
    registry, v1, v2 = DRILLS, DrillReportedV1, DrillReportedV2
    old = registry.parse(body(v1(note="")), max_bytes=MAX_BYTES)  # severity 9: out of range
    with pytest.raises(InvalidEvent, match=r"cannot upcast drill\.reported v1 to v2"):
        registry.upcast(old, v2)


def test_a_message_of_another_registry_is_unknown() -> None:
    registry = DRILLS
    approved = CATALOGUE[("proposal.approved", 1)]
    assert registry.contract_for(approved.event_type, 1) is None
    sample = json.loads(body(DrillReportedV1(note="x")))
    with pytest.raises(InvalidEvent, match=r"unknown event drill\.reported v1"):
        CATALOGUE.parse(json.dumps(sample).encode(), max_bytes=MAX_BYTES)


def test_a_consumer_of_a_version_without_an_upcaster_from_the_one_before_fails_at_start() -> None:
    registry = EventRegistry("gap")

    @registry.event("gap.found", version=1, producer="proposals")
    class GapFoundV1(Contract):
        """v1."""

    @registry.event("gap.found", version=2, producer="proposals")
    class GapFoundV2(Contract):
        """v2."""

    registry.check_upcastable(contract_of(GapFoundV1))
    with pytest.raises(LookupError, match=r"gap\.found v1 has no upcaster to v2"):
        registry.check_upcastable(contract_of(GapFoundV2))


def test_declarations_are_checked_when_made() -> None:
    registry = EventRegistry("checks")

    with pytest.raises(ValueError, match="needs v1 declared first"):

        @registry.event("x.y", version=2, producer="proposals")
        class XV2(Contract):
            """v2."""

    with pytest.raises(ValueError, match="docstring is its summary"):

        @registry.event("x.y", version=1, producer="proposals")
        class Undocumented(Contract):
            pass

    @registry.event("x.z", version=1, producer="proposals")
    class ZV1(Contract):
        """z."""

    with pytest.raises(ValueError, match=r"x\.z v1 is declared twice"):

        @registry.event("x.z", version=1, producer="proposals")
        class ZAgain(Contract):
            """z again."""

    with pytest.raises(ValueError, match="one version to the next"):
        registry.upcaster(ZV1, ZV1)


def test_a_subclass_of_a_declared_model_is_not_declared_itself() -> None:
    class Derived(ProposalApprovedV1):
        pass

    with pytest.raises(LookupError, match="Derived is not in the event catalogue"):
        contract_of(Derived)
    with pytest.raises(LookupError, match="ProposalEvent is not in the event catalogue"):
        contract_of(ProposalEvent)


def test_a_producer_publishes_the_newest_version_of_each_of_its_events() -> None:
    registry, v2 = DRILLS, DrillReportedV2
    assert [c.data_model for c in registry.produced_by("city-finance")] == [v2]
    assert registry.produced_by("proposals") == []


def test_the_envelope_knows_nothing_of_the_catalogue() -> None:
    """The layering that ends the old import cycle: types → envelope → registry →
    events (the models) → catalogue; no module imports one after it, not even inside a
    function."""
    import ast
    from pathlib import Path

    import shared.contracts

    order = ["types", "envelope", "registry", "events", "catalogue"]
    folder = Path(shared.contracts.__file__).parent
    for position, name in enumerate(order):
        tree = ast.parse((folder / f"{name}.py").read_text())
        imported = {
            node.module.rsplit(".", 1)[-1]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("shared.contracts.")
        }
        assert not imported & set(order[position:]), (name, imported)
