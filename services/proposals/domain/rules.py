"""The proposals service's rules file (`rules.toml`), loaded and validated once."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.contracts.types import WORK_TYPES, WorkType
from shared.datafiles import parse_toml

RULES_FILE = Path(__file__).with_name("rules.toml")
Dimension = Literal["length_m", "width_m", "thickness_m", "depth_m"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Strict):
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.low > self.high:
            raise ValueError(f"range [{self.low}, {self.high}] is upside down")
        return self

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


class CityBounds(_Strict):
    lat: Range
    lng: Range


class Duplicates(_Strict):
    radius_m: Annotated[float, Field(gt=0, le=5000)]


class ProposalRules(_Strict):
    schema_version: Literal[1]
    city_bounds: CityBounds
    duplicates: Duplicates
    sizes: dict[WorkType, dict[Dimension, Range]]

    @model_validator(mode="after")
    def _every_work_type_has_sizes(self) -> ProposalRules:
        missing = set(WORK_TYPES) - set(self.sizes)
        if missing:
            raise ValueError(f"rules.toml has no [sizes] for {', '.join(sorted(missing))}")
        return self


def parse_rules(text: str) -> ProposalRules:
    raw = parse_toml(text, what="rules.toml")
    return ProposalRules.model_validate(_ranges(raw))


def _ranges(value: object) -> object:
    """[low, high] pairs of the file become Range objects."""
    if isinstance(value, dict):
        return {key: _ranges(item) for key, item in value.items()}
    if isinstance(value, list) and len(value) == 2:
        return {"low": value[0], "high": value[1]}
    return value


@cache
def proposal_rules() -> ProposalRules:
    return parse_rules(RULES_FILE.read_text(encoding="utf-8"))
