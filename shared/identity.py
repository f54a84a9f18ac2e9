"""Who acts: a person with one role, scoped to an area (pure, no I/O)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from shared.contracts.types import Area


class Role(StrEnum):
    RESIDENT = "resident"
    RT_HEAD = "rt_head"
    KELURAHAN_OFFICER = "kelurahan_officer"
    KECAMATAN_OFFICER = "kecamatan_officer"
    CITY_OFFICER = "city_officer"
    WAREHOUSE_OFFICER = "warehouse_officer"
    SUPERVISOR = "supervisor"


class Actor(BaseModel):
    """An authenticated person. Scope fields narrow where they may act: an RT head
    has all three, a kelurahan officer kecamatan + kelurahan, a kecamatan officer the
    kecamatan, city-wide roles none."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    role: Role
    name: str = ""
    kecamatan: str | None = None
    kelurahan: str | None = None
    rt: str | None = None

    def covers(self, area: Area) -> bool:
        """True when `area` lies inside this actor's scope."""
        return (
            (self.kecamatan is None or self.kecamatan == area.kecamatan)
            and (self.kelurahan is None or self.kelurahan == area.kelurahan)
            and (self.rt is None or self.rt == area.rt)
        )
