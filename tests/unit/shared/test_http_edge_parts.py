"""The pure parts of the HTTP edge: which JSON is refused, and how error answers show
what was sent."""

from __future__ import annotations

import json
from typing import Any

from shared.validation import preview
from shared.web.json_body import json_problem
from shared.web.problems import MOST_PROBLEMS_LISTED, invalid_request_sentence, problems_of


def test_json_that_python_takes_but_no_model_should_is_named() -> None:
    assert json_problem(b'{"a": NaN}') == "the body has NaN: only finite numbers are taken"
    assert "Infinity" in (json_problem(b'{"a": [1, -Infinity]}') or "")
    assert "lone surrogate" in (json_problem(b'{"a": "x\\udc00"}') or "")
    assert "lone surrogate" in (json_problem(b'{"\\ud800": 1}') or "")
    assert "not UTF-8" in (json_problem(b'{"a": "\xc3\x28"}') or "")


def test_ordinary_and_malformed_json_are_left_to_the_app() -> None:
    assert json_problem(json.dumps({"a": 1.5, "b": "Gang Mawar 😀"}).encode()) is None
    assert json_problem(b'{"a": "\\ud83d\\ude00"}') is None  # a pair: one character
    assert json_problem(b'{"a": ') is None  # FastAPI answers malformed JSON itself


def test_a_preview_is_short_and_always_encodable() -> None:
    assert preview("x" * 10_000) == "x" * 99 + "…"
    assert preview("a\ud800b") == "a\\ud800b"
    assert preview(float("nan")) == "nan"
    assert preview(float("inf")) == "inf"
    assert preview(10**40) == str(10**40)[:100]
    assert preview(3) == 3 and preview(None) is None and preview(True) is True
    assert len(preview(b"\xff" * 10_000)) == 100
    assert len(preview({"k": "v" * 10_000})) == 100
    assert len(preview(list(range(100_000)))) == 100


def test_problems_are_listed_up_to_a_count_and_each_shortened() -> None:
    errors: list[dict[str, Any]] = [
        {"type": "extra_forbidden", "loc": ("body", "k" * 5_000), "msg": "m", "input": "v" * 9}
        for _ in range(50)
    ]
    errors[0]["ctx"] = {"error": ValueError("x" * 1_000)}
    problems = problems_of(errors)
    assert len(problems) == MOST_PROBLEMS_LISTED
    assert len(problems[0]["loc"][1]) == 100
    assert len(problems[0]["ctx"]["error"]) <= 100
    json.dumps(problems).encode("utf-8")
    sentence = invalid_request_sentence(errors)
    assert sentence.endswith("(and 42 more)")
    assert len(sentence) < 1_500
