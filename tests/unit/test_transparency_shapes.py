"""The published-proposals download has the API's own shape (entrypoints), mapped field by
field from the read model's view: renaming a field of the view changes the mapping, not
the API."""

from __future__ import annotations

import uuid
from types import ModuleType
from typing import Any

import pytest
from fastapi import FastAPI

from services.transparency.adapters import repository
from services.transparency.domain import facts, figures, proposals
from services.transparency.domain.proposals import ProposalView, view_of
from services.transparency.entrypoints.http import build_router
from services.transparency.entrypoints.shapes import PublishedProposal
from tests.support.shapes import away_from_defaults, imports_of
from tests.unit.test_transparency_figures import facts_of_a_road


def a_whole_story() -> ProposalView:
    view = view_of(facts_of_a_road(uuid.uuid4()))
    away_from_defaults(view)
    return view


def test_the_download_is_what_it_was_when_it_showed_the_stored_view() -> None:
    view = a_whole_story()
    assert PublishedProposal.of(view).model_dump(mode="json") == view.model_dump(mode="json")


def test_the_download_shows_its_own_type() -> None:
    assert not issubclass(PublishedProposal, ProposalView)
    app = FastAPI()
    app.include_router(build_router())
    answer: dict[str, Any] = app.openapi()["paths"]["/data/proposals.json"]["get"]["responses"]
    schema = answer["200"]["content"]["application/json"]["schema"]
    assert schema["items"]["$ref"] == "#/components/schemas/PublishedProposal"


@pytest.mark.parametrize(
    "inner", [repository, facts, figures, proposals], ids=lambda module: module.__name__
)
def test_the_inner_layers_know_nothing_of_the_api(inner: ModuleType) -> None:
    assert not {n for n in imports_of(inner) if n.startswith("services.transparency.entrypoints")}
