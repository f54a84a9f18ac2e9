"""The rules file is data: it loads, and a broken one is refused with a clear reason."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.proposals.domain.rules import RULES_FILE, parse_rules, proposal_rules

VALID = RULES_FILE.read_text(encoding="utf-8")


def test_the_shipped_rules_load() -> None:
    rules = proposal_rules()
    assert rules.duplicates.radius_m == 200
    assert set(rules.sizes) == {"concrete_road", "drain", "culvert"}
    assert -1.61 in rules.city_bounds.lat and 103.59 in rules.city_bounds.lng


def test_an_upside_down_range_is_refused() -> None:
    with pytest.raises(ValidationError, match="upside down"):
        parse_rules(VALID.replace("length_m = [1, 100]", "length_m = [100, 1]"))


def test_an_unknown_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="radius_km"):
        parse_rules(VALID.replace("radius_m = 200", "radius_m = 200\nradius_km = 0.2"))


def test_a_missing_work_type_is_refused() -> None:
    text = VALID.split("[sizes.culvert]")[0]
    with pytest.raises(ValidationError, match="no \\[sizes\\] for culvert"):
        parse_rules(text)
