"""The README's "Configuration" section names every shared setting, by each environment
variable pydantic-settings reads it from, with the default the code has: the tables
cannot drift from `ServiceSettings`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import EnvSettingsSource

from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SECTION = "## Configuration"
# A table row: | `NAME` (or `OTHER`) | default | what it does |
ROW = re.compile(r"^\| (?P<variable>`[^|]+) \| (?P<default>[^|]+) \| [^|]+ \|$")
BACKTICKED = re.compile(r"`([^`]+)`")


def configuration_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n{SECTION}\n")
    end = text.index("\n## ", start + len(SECTION))
    return text[start:end]


def table_rows() -> dict[str, str]:
    """Each variable a table row names (all of its names) → the row's default cell."""
    rows: dict[str, str] = {}
    for line in configuration_section().splitlines():
        if found := ROW.match(line):
            for name in BACKTICKED.findall(found["variable"]):
                rows[name] = found["default"].strip()
    return rows


def environment_names(name: str, field: FieldInfo) -> list[str]:
    """The variables pydantic-settings reads `field` from: its aliases, and the prefixed
    field name (the settings are case-insensitive, so shown upper-case). Asked of the
    library itself (a private method): a name derived here by hand could differ."""
    source = EnvSettingsSource(ServiceSettings)
    found = source._extract_field_info(field, name)
    return list(dict.fromkeys(env_name.upper() for _, env_name, _ in found))


FIELDS = sorted(ServiceSettings.model_fields.items())


def test_the_names_are_asked_of_pydantic_settings_as_it_reads_them() -> None:
    """A check on the helper: aliases and the prefix, as the settings read them."""
    fields = ServiceSettings.model_fields
    assert environment_names("amqp_url", fields["amqp_url"]) == ["AMQP_URL", "BERDAYA_AMQP_URL"]
    assert environment_names("prefetch_count", fields["prefetch_count"]) == [
        "BERDAYA_PREFETCH_COUNT"
    ]


@pytest.mark.parametrize(("name", "field"), FIELDS, ids=[name for name, _ in FIELDS])
def test_every_shared_setting_is_in_the_configuration_tables(name: str, field: FieldInfo) -> None:
    rows = table_rows()
    missing = [env for env in environment_names(name, field) if env not in rows]
    assert not missing, f"README {SECTION}: no table row names {missing} ({name})"


def documented_default(value: object) -> str:
    """The default as the table writes it: its cell's first backticked text ("empty"
    for an empty string; a packaged file by its path in the repository)."""
    if isinstance(value, Path):
        return value.relative_to(ROOT).as_posix()
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        items = [f'"{v}"' if isinstance(v, str) else documented_default(v) for v in value]
        return f"[{', '.join(str(item) for item in items)}]"
    return "empty" if value == "" else str(value)


# The development JWT secret is written "a development secret": the table gives no
# secret, not even one production refuses.
DEFAULTED = [(name, field) for name, field in FIELDS if not isinstance(field.default, SecretStr)]


@pytest.mark.parametrize(("name", "field"), DEFAULTED, ids=[name for name, _ in DEFAULTED])
def test_every_documented_default_is_the_codes(name: str, field: FieldInfo) -> None:
    expected = documented_default(field.get_default(call_default_factory=True))
    variable = environment_names(name, field)[0]
    cell = table_rows().get(variable)
    assert cell is not None, f"README {SECTION}: no table row names {variable}"
    shown = BACKTICKED.findall(cell)
    written = "empty" if cell.startswith("empty") else (shown[0] if shown else cell)
    assert written == expected, f"README {SECTION}: {name} defaults to {expected}, not {cell}"
