"""Kota Jambi's areas as data, and the one check that an area exists."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from shared.contracts.types import Area

DEFAULT_FILE = Path(__file__).with_name("areas.toml")


@dataclass(frozen=True)
class AreaRegister:
    rt_counts: dict[str, dict[str, int]]  # kecamatan → kelurahan → number of RTs

    @property
    def kecamatan(self) -> list[str]:
        return sorted(self.rt_counts)

    def problem_with(self, area: Area) -> str | None:
        """None if `area` exists, else a sentence saying what is wrong."""
        kelurahan = self.rt_counts.get(area.kecamatan)
        if kelurahan is None:
            return f"unknown kecamatan {area.kecamatan!r}; known: {', '.join(self.kecamatan)}"
        rt_count = kelurahan.get(area.kelurahan)
        if rt_count is None:
            return (
                f"kelurahan {area.kelurahan!r} is not in kecamatan {area.kecamatan}; "
                f"known: {', '.join(sorted(kelurahan))}"
            )
        if not 1 <= int(area.rt) <= rt_count:
            return f"RT {area.rt} does not exist in {area.kelurahan} (RT 001 to {rt_count:03d})"
        return None


def parse_register(text: str) -> AreaRegister:
    raw = tomllib.loads(text)
    return AreaRegister({name: dict(body["kelurahan"]) for name, body in raw["kecamatan"].items()})


@cache
def area_register() -> AreaRegister:
    path = Path(os.environ.get("BERDAYA_AREAS_FILE", DEFAULT_FILE))
    return parse_register(path.read_text(encoding="utf-8"))
