"""Who acts: a person with one role, scoped to an area (pure, no I/O)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.types import Area, Name


class Role(StrEnum):
    RESIDENT = "resident"
    RT_HEAD = "rt_head"
    KELURAHAN_OFFICER = "kelurahan_officer"
    KECAMATAN_OFFICER = "kecamatan_officer"
    CITY_OFFICER = "city_officer"
    WAREHOUSE_OFFICER = "warehouse_officer"
    SUPERVISOR = "supervisor"


# Who administers the system itself: dead letters, webhook endpoints, the people
# directory, anyone's delivery log.
OPERATOR_ROLES = frozenset({Role.CITY_OFFICER})

# The area claims each scoped role must carry. A role not listed (city-wide roles,
# residents) needs none; a scoped role missing one would otherwise see the whole city.
REQUIRED_AREA: dict[Role, tuple[str, ...]] = {
    Role.RT_HEAD: ("kecamatan", "kelurahan", "rt"),
    Role.KELURAHAN_OFFICER: ("kecamatan", "kelurahan"),
    Role.KECAMATAN_OFFICER: ("kecamatan",),
}


class Actor(BaseModel):
    """An authenticated person. Scope fields narrow where they may act: an RT head
    has all three, a kelurahan officer kecamatan + kelurahan, a kecamatan officer the
    kecamatan, city-wide roles none."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Bounded as the contracts bound them (a proposer id, an area), so that whatever a
    # token says fits every record and event made from it.
    id: Name
    role: Role
    name: Annotated[str, Field(max_length=120)] = ""
    kecamatan: Annotated[str, Field(max_length=120)] | None = None
    kelurahan: Annotated[str, Field(max_length=120)] | None = None
    rt: Annotated[str, Field(max_length=3)] | None = None

    def missing_area(self) -> tuple[str, ...]:
        """The area claims this actor's role requires and lacks (empty when complete)."""
        return tuple(
            claim for claim in REQUIRED_AREA.get(self.role, ()) if not getattr(self, claim)
        )

    def area_problem(self) -> str | None:
        """Why this actor may not act (its role's area is incomplete), or None."""
        missing = self.missing_area()
        if not missing:
            return None
        required = REQUIRED_AREA[self.role]
        return (
            f"a {self.role.value} must carry its area ({', '.join(required)}); "
            f"missing: {', '.join(missing)}"
        )

    def covers(self, area: Area) -> bool:
        """True when `area` lies inside this actor's scope. A scoped role with part of
        its area missing covers nothing (never the whole city)."""
        if self.missing_area():
            return False
        return (
            (self.kecamatan is None or self.kecamatan == area.kecamatan)
            and (self.kelurahan is None or self.kelurahan == area.kelurahan)
            and (self.rt is None or self.rt == area.rt)
        )
