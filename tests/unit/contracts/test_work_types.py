"""The data files that key on work types cover exactly the contract's `WorkType`."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from shared.contracts.types import WORK_TYPES

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
