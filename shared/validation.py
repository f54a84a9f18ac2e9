"""One way to say what is wrong with validated input: HTTP bodies, event envelopes,
data files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

MOST_PROBLEMS_NAMED = 8


def describe_problems(
    error: ValidationError | Sequence[Mapping[str, Any]], *, limit: int = MOST_PROBLEMS_NAMED
) -> str:
    """`dimensions.width_m: Input should be less than or equal to 8; title: Field
    required (and 3 more)` — each problem by where it is, the first `limit` of them."""
    errors: Sequence[Mapping[str, Any]] = (
        error.errors(include_url=False) if isinstance(error, ValidationError) else error
    )
    problems = []
    for item in errors[:limit]:
        where = ".".join(str(part) for part in item.get("loc", ())) or "(top level)"
        problems.append(f"{where}: {item.get('msg', 'invalid')}")
    more = len(errors) - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")
