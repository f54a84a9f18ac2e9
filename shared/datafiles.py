"""Reading the data files the rules live in (TOML), the same way everywhere: a file
that cannot be read, is not TOML or does not fit its model is refused with a sentence
naming the file and what is wrong."""

from __future__ import annotations

import tomllib
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shared.validation import describe_problems

M = TypeVar("M", bound=BaseModel)


class DataFileError(ValueError):
    """A data file that cannot be used; the message names it and says why."""


def packaged_or_given(
    package: str, name: str, given: Path | None, *, kind: str
) -> tuple[Path | Traversable, str]:
    """The file to read — `given`, else `name` packaged in `package` — and how errors
    name it (`catalogue packaged services/materials/domain/catalogue.toml`)."""
    if given is not None:
        return given, f"{kind} {given}"
    packaged = resources.files(package) / name
    return packaged, f"{kind} packaged {package.replace('.', '/')}/{name}"


def read_toml(
    path: Path | Traversable, *, what: str = "", error: type[ValueError] = DataFileError
) -> dict[str, Any]:
    """The file's tables; `what` names it in errors (default: its path)."""
    where = what or str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        raise error(f"cannot read {where}: {problem}") from problem
    return parse_toml(text, what=where, error=error)


def parse_toml(
    text: str, *, what: str = "the data", error: type[ValueError] = DataFileError
) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as problem:
        raise error(f"{what} is not valid TOML: {problem}") from problem


def validated(
    model: type[M], data: object, *, what: str, error: type[ValueError] = DataFileError
) -> M:
    """`data` as `model`, or `error` saying which fields of `what` are wrong."""
    try:
        return model.model_validate(data)
    except ValidationError as problem:
        raise error(f"{what} is invalid: {describe_problems(problem)}") from problem
