"""One way to say what is wrong with validated input: HTTP bodies, event envelopes,
data files."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

MOST_PROBLEMS_NAMED = 8
# How much of a value an error answer shows.
PREVIEW_CHARS = 100


def describe_problems(
    error: ValidationError | Sequence[Mapping[str, Any]],
    *,
    limit: int = MOST_PROBLEMS_NAMED,
    total: int | None = None,
) -> str:
    """`dimensions.width_m: Input should be less than or equal to 8; title: Field
    required (and 3 more)` — each problem by where it is, the first `limit` of them
    (`total`: how many there were, when `error` lists only the first)."""
    errors: Sequence[Mapping[str, Any]] = (
        error.errors(include_url=False) if isinstance(error, ValidationError) else error
    )
    problems = []
    for item in errors[:limit]:
        where = ".".join(str(preview(part)) for part in item.get("loc", ())) or "(top level)"
        problems.append(f"{where}: {preview(item.get('msg', 'invalid'), limit=300)}")
    more = (len(errors) if total is None else total) - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


def preview(value: Any, *, limit: int = PREVIEW_CHARS) -> Any:
    """`value` as an answer may show it: numbers, booleans and None as they are (a
    non-finite number as text); anything else as text of at most `limit` characters
    that UTF-8 can encode (lone surrogates escaped) — never the whole of a large input."""
    if value is None or isinstance(value, bool | int):
        return value if not isinstance(value, int) or abs(value) < 10**18 else str(value)[:limit]
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    text = value if isinstance(value, str) else _short_repr(value, limit)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _short_repr(value: Any, limit: int) -> str:
    if isinstance(value, bytes | bytearray):
        return repr(bytes(value[:limit]))
    # A container's repr can be as large as the request: cut it from the first items.
    if isinstance(value, Mapping):
        value = dict(list(value.items())[:limit])
    elif isinstance(value, list | tuple | set | frozenset):
        value = list(value)[:limit]
    return repr(value)
