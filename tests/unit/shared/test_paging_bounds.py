"""Lists page through `shared.web.pages.paging_up_to`, each with the bounds its clients
rely on: moving a route onto the shared paging must not move its bounds."""

from __future__ import annotations

from typing import Any, cast

import pytest
from fastapi import FastAPI

from services.materials.entrypoints.http import build_router as materials_router
from shared.storage.mongo import Database
from shared.web import audit
from shared.web.pages import MAX_PAGE

# (path, deepest page, largest page_size, default page_size)
BOUNDS = [
    ("/jobs", MAX_PAGE, 500, 50),
    ("/shipments", MAX_PAGE, 500, 50),
    ("/stock/ledger", MAX_PAGE, 500, 100),
    ("/stock", MAX_PAGE, 100, 50),
    ("/audit", 1000, 200, 50),
]


@pytest.fixture(scope="module")
def paths() -> dict[str, Any]:
    app = FastAPI()
    app.include_router(materials_router())
    app.include_router(audit.build_router(cast(Database, None)))
    found: dict[str, Any] = app.openapi()["paths"]
    return found


@pytest.mark.parametrize(("path", "deepest", "largest", "default"), BOUNDS)
def test_a_list_keeps_its_page_bounds(
    paths: dict[str, Any], path: str, deepest: int, largest: int, default: int
) -> None:
    parameters = {p["name"]: p["schema"] for p in paths[path]["get"]["parameters"]}
    page, page_size = parameters["page"], parameters["page_size"]
    assert (page["minimum"], page["maximum"], page["default"]) == (1, deepest, 1)
    assert (page_size["minimum"], page_size["maximum"]) == (1, largest)
    assert page_size["default"] == default
    names = list(parameters)
    assert names[-2:] == ["page", "page_size"], "paging comes last, as before"
