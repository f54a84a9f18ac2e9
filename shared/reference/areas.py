"""Kota Jambi's areas as data, and the one check that an area exists."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from shared.contracts.types import Area
from shared.datafiles import parse_toml, read_toml

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


_in_use: list[Path] = [DEFAULT_FILE]


def use_areas_file(path: Path) -> None:
    """Read the areas from `path` from now on: set at start-up from the settings
    (`ServiceSettings.areas_file`, BERDAYA_AREAS_FILE) by `shared.runtime.build_runtime`."""
    _in_use[0] = path


def area_register() -> AreaRegister:
    """The register of the areas file in use (by default the packaged one)."""
    return load_register(_in_use[0])


@cache
def load_register(path: Path) -> AreaRegister:
    return parse_register(read_toml(path, what=f"the areas file {path}"))


def parse_register(text: str | dict[str, Any]) -> AreaRegister:
    """The register from the file's text (or its tables, already read)."""
    raw = parse_toml(text, what="the areas file") if isinstance(text, str) else text
    return AreaRegister({name: dict(body["kelurahan"]) for name, body in raw["kecamatan"].items()})
