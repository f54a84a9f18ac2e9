"""The one shape of every error answer, what it may carry, and where the OpenAPI
document says so.

Every 4xx/5xx answer is `{"detail": "<a sentence>"}`; a 422 adds `errors`, the
problems one by one. Nothing in an answer echoes the request at length: each
problem's `input` and `ctx` are short previews that can always be encoded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase
from pydantic import BaseModel, Field

from shared.validation import describe_problems, preview

# Problems itemised in one answer; the sentence says how many more there were.
MOST_PROBLEMS_LISTED = 20
REF = "#/components/schemas/"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Problem(BaseModel):
    """One thing wrong with the request, where it is and why."""

    type: str = Field(description="e.g. `missing`, `string_too_long`, `json_invalid`")
    loc: list[str | int] = Field(description="where: `body`, `query`, `path`, then the field")
    msg: str
    input: Any = Field(default=None, description="what was sent there, shortened")
    ctx: dict[str, Any] | None = Field(default=None, description="the limit that applied")


class ErrorBody(BaseModel):
    """Every error answer: one sentence a person can act on; for invalid input (422)
    also the problems one by one, for programs."""

    detail: str
    errors: list[Problem] | None = None


def problems_of(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The first problems, each with short, encodable `loc`, `msg`, `input` and `ctx`."""
    return [_problem(error) for error in errors[:MOST_PROBLEMS_LISTED]]


def _problem(error: Mapping[str, Any]) -> dict[str, Any]:
    problem: dict[str, Any] = {
        "type": preview(error.get("type", "invalid")),
        "loc": [part if isinstance(part, int) else preview(part) for part in error.get("loc", ())],
        "msg": preview(error.get("msg", ""), limit=300),
        "input": preview(error.get("input")),
    }
    ctx = error.get("ctx")
    if isinstance(ctx, Mapping):
        problem["ctx"] = {preview(key): preview(value) for key, value in ctx.items()}
    return problem


def invalid_request_sentence(errors: Sequence[Mapping[str, Any]]) -> str:
    """`the request is not valid — body.dimensions.width_m: Input should be less than
    or equal to 8; …`"""
    return "the request is not valid — " + describe_problems(problems_of(errors), total=len(errors))


def invalid_request_answer(error: RequestValidationError) -> JSONResponse:
    """422: one sentence a person can act on, and the itemised list for programs."""
    errors = error.errors()
    return JSONResponse(
        {"detail": invalid_request_sentence(errors), "errors": problems_of(errors)},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


# --------------------------------------------------------------------------------------------
# The OpenAPI document: which errors each route may answer
# --------------------------------------------------------------------------------------------

WHY: dict[int, str] = {
    401: "no bearer token, or one that is not valid",
    403: "the caller's role or area may not do this",
    404: "nothing there, or nothing the caller may see",
    409: "the resource's state does not allow it, or it exists already",
    413: "the request body is too large",
    422: "invalid input: `errors` says where and why",
    429: "too many requests: wait the seconds `Retry-After` says",
    503: "the service is starting, or a dependency is away: try again",
}


def document_errors(
    app: FastAPI, *, always_answered: Iterable[str], rate_limited: bool = True
) -> None:
    """The app's OpenAPI document, as FastAPI makes it, then: ErrorBody (and Problem)
    declared once, and each operation's error answers added, all as ErrorBody —
    decided from the operation itself: a token → 401, 403; a path parameter or a token
    → 404; a write → 409 (and 429 when limited); any → 413; input → 422; a read that needs
    no token → 429 when limited; all but the always-answered → 503."""
    made = app.openapi
    answered = frozenset(always_answered)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _add_errors(made(), answered, rate_limited)
        return made()

    app.openapi = openapi  # type: ignore[method-assign]


def _add_errors(document: dict[str, Any], always_answered: frozenset[str], limited: bool) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    shape = ErrorBody.model_json_schema(ref_template=f"{REF}{{model}}")
    schemas.update(shape.pop("$defs", {}))
    schemas["ErrorBody"] = shape
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for code in _statuses(path, method, operation, always_answered, limited):
                given = responses.get(str(code), {}).get("description")
                responses[str(code)] = {
                    "description": given or WHY[code],
                    "content": {"application/json": {"schema": {"$ref": f"{REF}ErrorBody"}}},
                }
    # FastAPI's own 422 shape is no answer of these services.
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused not in json.dumps(document.get("paths", {})):
            schemas.pop(unused, None)


def _statuses(
    path: str,
    method: str,
    operation: dict[str, Any],
    always_answered: frozenset[str],
    limited: bool,
) -> list[int]:
    codes: list[int] = []
    secured = bool(operation.get("security"))
    writes = method.upper() in WRITE_METHODS
    parameters = operation.get("parameters", [])
    if secured:
        codes += [401, 403]
    if secured or any(p.get("in") == "path" for p in parameters):
        codes.append(404)
    if writes:
        codes.append(409)
    codes.append(413)  # any request may declare a body: the bound answers before a route
    if parameters or "requestBody" in operation:
        codes.append(422)
    if limited and (writes or not secured) and path not in always_answered:
        codes.append(429)
    if path not in always_answered:
        codes.append(503)
    return codes


def takes_a_token(route: APIRoute) -> bool:
    """True when the route needs a bearer token (it depends on a security scheme)."""
    return any(isinstance(d.call, SecurityBase) for d in _all_dependencies(route.dependant))


def _all_dependencies(dependant: Any) -> list[Any]:
    found = []
    for sub in dependant.dependencies:
        found += [sub, *_all_dependencies(sub)]
    return found
