"""What each kind of work may be built of (work_rules.toml), stated once for every service.

The proposals service checks drafts against it before anyone approves them; the
materials service plans bills of materials by it. Pure, except the file reading.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from shared.contracts.types import WORK_TYPES, ConcreteGrade, WorkType
from shared.datafiles import read_toml, validated

DEFAULT_FILE = Path(__file__).with_name("work_rules.toml")


class WorkRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1]
    concrete_grades: dict[WorkType, tuple[ConcreteGrade, ...]]

    @model_validator(mode="after")
    def _every_work_type(self) -> WorkRules:
        missing = set(WORK_TYPES) - set(self.concrete_grades)
        if missing:
            raise ValueError(f"[concrete_grades] has no entry for {', '.join(sorted(missing))}")
        return self

    def grades_for(self, work_type: WorkType) -> tuple[ConcreteGrade, ...]:
        return self.concrete_grades[work_type]

    def grade_problem(self, work_type: WorkType, grade: str | None) -> str | None:
        """None when a `work_type` job may ask for `grade` (None: the default), else
        the sentence naming the allowed grades."""
        if grade is None:
            return None
        allowed = self.grades_for(work_type)
        if grade in allowed:
            return None
        if not allowed:
            return f"a {work_type} takes no concrete grade; allowed: none (leave it out)"
        return f"unknown grade {grade!r} for {work_type}; allowed: {', '.join(allowed)}"


_in_use: list[Path] = [DEFAULT_FILE]


def use_work_rules_file(path: Path) -> None:
    """Read the rules from `path` from now on: set at start-up from the settings
    (`ServiceSettings.work_rules_file`, BERDAYA_WORK_RULES_FILE) by
    `shared.runtime.build_runtime`."""
    _in_use[0] = path


def work_rules() -> WorkRules:
    """The rules of the file in use (by default the packaged one)."""
    return load_work_rules(_in_use[0])


@cache
def load_work_rules(path: Path) -> WorkRules:
    what = f"the work rules file {path}"
    return validated(WorkRules, read_toml(path, what=what), what=what)
