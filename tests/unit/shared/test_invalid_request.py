"""An invalid request body is answered with one readable sentence and the itemised list."""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError

from shared.web.app import describe_invalid_request


def error(*problems: tuple[tuple[str | int, ...], str]) -> RequestValidationError:
    return RequestValidationError([{"loc": loc, "msg": msg, "type": "x"} for loc, msg in problems])


def test_each_problem_is_named_by_where_it_is() -> None:
    sentence = describe_invalid_request(
        error(
            (("body", "dimensions", "width_m"), "Input should be less than or equal to 8"),
            (("body", "title"), "Field required"),
        )
    )
    assert sentence == (
        "the request is not valid — body.dimensions.width_m: Input should be less than or "
        "equal to 8; body.title: Field required"
    )


def test_a_long_list_is_cut_with_a_count_of_the_rest() -> None:
    sentence = describe_invalid_request(
        error(*[(("body", f"field_{i}"), "Field required") for i in range(11)])
    )
    assert sentence.count("Field required") == 8
    assert sentence.endswith("(and 3 more)")
