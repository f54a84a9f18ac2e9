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
        return self.problem_with_scope(area.kecamatan, area.kelurahan, area.rt)

    def problem_with_scope(
        self, kecamatan: str | None, kelurahan: str | None = None, rt: str | None = None
    ) -> str | None:
        """None if this part of an area exists (a kecamatan; a kelurahan of it; an RT
        of that), else a sentence saying what is wrong. Each level needs the one above,
        or "RT 003" alone would name an RT in every kelurahan of the city."""
        if kelurahan is not None and kecamatan is None:
            return f"kelurahan {kelurahan!r} is named without its kecamatan"
        if rt is not None and kelurahan is None:
            return f"RT {rt!r} is named without its kelurahan"
        if kecamatan is None:
            return None
        kelurahan_counts = self.rt_counts.get(kecamatan)
        if kelurahan_counts is None:
            return f"unknown kecamatan {kecamatan!r}; known: {', '.join(self.kecamatan)}"
        if kelurahan is None:
            return None
        rt_count = kelurahan_counts.get(kelurahan)
        if rt_count is None:
            return (
                f"kelurahan {kelurahan!r} is not in kecamatan {kecamatan}; "
                f"known: {', '.join(sorted(kelurahan_counts))}"
            )
        if rt is None:
            return None
        if not (len(rt) == 3 and rt.isascii() and rt.isdigit() and 1 <= int(rt) <= rt_count):
            return f"RT {rt} does not exist in {kelurahan} (RT 001 to {rt_count:03d})"
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
