"""The data files and tables that key on work types cover exactly the contract's
`WorkType`: the norms, the proposals rules, the concrete grades, the public page's words."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.proposals.domain.rules import ProposalRules, proposal_rules
from services.transparency.entrypoints import i18n
from services.transparency.entrypoints.i18n import LANGUAGES, Language, Words
from shared.contracts.types import WORK_TYPES, WorkType

REPO = Path(__file__).resolve().parents[3]

# Each data file, and the table whose keys are work types.
KEYED_BY_WORK_TYPE = [
    ("services/materials/domain/norms.toml", "work_types"),
    ("services/proposals/domain/rules.toml", "sizes"),
    ("shared/reference/work_rules.toml", "concrete_grades"),
]


@pytest.mark.parametrize(("path", "table"), KEYED_BY_WORK_TYPE)
def test_data_file_covers_exactly_the_contract_work_types(path: str, table: str) -> None:
    tables = tomllib.loads((REPO / path).read_text(encoding="utf-8"))
    assert set(tables[table]) == set(WORK_TYPES), f"[{table}.*] of {path}"


def test_work_types_are_listed_once_each() -> None:
    assert len(set(WORK_TYPES)) == len(WORK_TYPES) > 0


@pytest.mark.parametrize("work_type", WORK_TYPES)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_transparency_page_names_every_work_type_in_each_language(
    work_type: WorkType, lang: Language
) -> None:
    assert set(i18n.WORK_TYPES) == set(WORK_TYPES), "labels of i18n.WORK_TYPES"
    label = Words(lang).work_type(work_type)
    assert label.strip() and label != work_type, f"{work_type} has no {lang} label"


@pytest.mark.parametrize("work_type", WORK_TYPES)
def test_the_proposals_rules_refuse_a_file_without_sizes_for_a_work_type(
    work_type: WorkType,
) -> None:
    rules = proposal_rules().model_dump()
    del rules["sizes"][work_type]
    with pytest.raises(ValidationError, match=rf"no \[sizes\] for {work_type} "):
        ProposalRules.model_validate(rules)
