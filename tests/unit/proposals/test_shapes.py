"""A proposal has three shapes, mapped field by field: the API's (entrypoints), the
domain's, and the stored document's (the repository). Renaming a field of the domain
changes the mappings, so it is neither an API break nor a migration."""

from __future__ import annotations

import uuid
from types import ModuleType

import pytest
from pydantic import ValidationError

from services.proposals.adapters import repository
from services.proposals.adapters.repository import DRAFT_KEYS, document_of, proposal_of
from services.proposals.domain import model
from services.proposals.domain.lifecycle import State
from services.proposals.domain.model import MaterialShipment, MaterialsWord, Proposal, ProposalDraft
from services.proposals.entrypoints.http import ProposalView, build_router
from services.proposals.entrypoints.shapes import DraftBody, ProposalBody, ProposalRequest
from shared.clock import format_timestamp
from shared.storage.documents import to_document
from tests.support.shapes import imports_of
from tests.unit.proposals.builders import NOW, draft, proposal_in

# What clients send and read, and what documents were written with: fixed, whatever the
# domain calls its fields.
API_DRAFT_FIELDS = (
    "title",
    "area",
    "work_type",
    "dimensions",
    "concrete_grade",
    "location",
    "problem",
    "households_served",
    "estimated_cost_idr",
    "swadaya",
    "attachments",
)
STORED_DRAFT_KEYS = frozenset(API_DRAFT_FIELDS)


def full_draft() -> ProposalDraft:
    """A draft with every field away from its default, so a field a mapping drops shows."""
    made = draft(attachments=("doc://sketch.pdf",))
    for name, field in ProposalDraft.model_fields.items():
        assert getattr(made, name) != field.default, name
    return made


def full_proposal() -> Proposal:
    """A proposal with something in every field."""
    proposal = proposal_in(State.COMPLETED)
    proposal.draft = full_draft()
    proposal.deliveries.append(
        MaterialShipment(
            shipment_id=uuid.UUID(int=7), status="dispatched", at=NOW, warehouse="Gudang"
        )
    )
    proposal.materials = MaterialsWord(status="reserved", at=NOW)
    proposal.possible_duplicates.append(uuid.UUID(int=8))
    return proposal


# --------------------------------------------------------------------------------------------
# The API's shapes
# --------------------------------------------------------------------------------------------


def test_the_api_takes_and_shows_its_own_types_not_the_domains() -> None:
    for api_type in (DraftBody, ProposalRequest, ProposalBody):
        assert not issubclass(api_type, ProposalDraft | Proposal)
    assert ProposalView.model_fields["proposal"].annotation is ProposalBody
    assert ProposalBody.model_fields["draft"].annotation is DraftBody
    drafted = [
        route
        for route in build_router().routes
        if getattr(route, "path", "") in {"/proposals", "/proposals/{proposal_id}/draft"}
        and getattr(route, "methods", set()) & {"POST", "PUT"}
    ]
    assert len(drafted) == 2
    for route in drafted:
        [body] = route.dependant.body_params  # type: ignore[attr-defined]
        assert body.field_info.annotation is ProposalRequest


def test_the_api_names_the_drafts_fields_as_it_always_did() -> None:
    assert tuple(DraftBody.model_fields) == API_DRAFT_FIELDS
    assert tuple(ProposalRequest.model_fields) == API_DRAFT_FIELDS
    answer = ProposalBody.of(full_proposal()).model_dump(mode="json")
    assert tuple(answer["draft"]) == API_DRAFT_FIELDS


def test_a_request_maps_to_the_draft_with_every_field_and_back() -> None:
    the_draft = full_draft()
    sent = DraftBody.of(the_draft).model_dump(mode="json")
    assert ProposalRequest.model_validate(sent).to_draft() == the_draft


def test_the_domains_rules_answer_through_the_request_in_its_own_words() -> None:
    sent = DraftBody.of(draft()).model_dump(mode="json")
    sent["dimensions"] = {"length_m": 150, "width_m": 4, "thickness_m": 0.5}
    with pytest.raises(ValidationError) as by_the_domain:
        ProposalDraft.model_validate(sent)
    with pytest.raises(ValidationError) as by_the_api:
        ProposalRequest.model_validate(sent)
    [problem] = by_the_api.value.errors(include_url=False)
    [rule] = by_the_domain.value.errors(include_url=False)
    assert (
        problem["msg"]
        == rule["msg"]
        == ("Value error, a road slab is 0.08 to 0.30 m thick (12 to 15 cm is usual)")
    )
    assert problem["loc"] == ()
    assert problem["input"] == sent  # the body as sent, not the draft made of it


def test_the_request_refuses_what_it_refused_before() -> None:
    sent = {**DraftBody.of(draft()).model_dump(mode="json"), "owner": "budi"}
    with pytest.raises(ValidationError) as refused:
        ProposalRequest.model_validate(sent)
    assert [e["loc"] for e in refused.value.errors()] == [("owner",)]


def test_the_answer_holds_what_the_domain_holds() -> None:
    """While the names are the same, the answer is the aggregate's own dump: what the API
    answered when it showed the domain's model, but for `last_progress_at`, now written
    with milliseconds like every other timestamp (the domain computes a plain datetime)."""
    proposal = full_proposal()
    answer = ProposalBody.of(proposal).model_dump(mode="json")
    before = proposal.model_dump(mode="json")
    assert answer.pop("last_progress_at") == format_timestamp(proposal.last_progress_at)
    before.pop("last_progress_at")
    assert answer == before


# --------------------------------------------------------------------------------------------
# The stored document
# --------------------------------------------------------------------------------------------


def test_every_field_of_the_draft_has_the_key_documents_were_written_with() -> None:
    assert set(DRAFT_KEYS) == set(ProposalDraft.model_fields)
    assert set(DRAFT_KEYS.values()) == STORED_DRAFT_KEYS


def test_a_document_written_before_reads_as_the_proposal_it_was() -> None:
    proposal = full_proposal()
    before = to_document(proposal, proposal.id)  # how every proposal was stored so far
    assert document_of(proposal) == before
    assert proposal_of(before) == proposal


def test_a_stored_draft_with_an_unknown_key_is_still_refused() -> None:
    document = document_of(full_proposal())
    document["draft"]["colour"] = "red"
    with pytest.raises(ValidationError, match="colour"):
        proposal_of(document)


@pytest.mark.parametrize("inner", [repository, model], ids=lambda m: m.__name__)
def test_the_inner_layers_know_nothing_of_the_api(inner: ModuleType) -> None:
    imported = imports_of(inner)
    assert not {name for name in imported if name.startswith("services.proposals.entrypoints")}
