"""The documentation pages every service serves, working without internet: Swagger UI at
`/docs`, ReDoc at `/redoc` and the service's AsyncAPI document rendered at `/asyncapi`
(raw at `/asyncapi.json`), their scripts and styles served from `shared/web/static`
(vendored from npm, versions and licences in its README) instead of a CDN.
"""

from __future__ import annotations

import html
import json
from functools import cache
from importlib import import_module
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).with_name("static")
ASSETS = "/static/docs"
PAGES = frozenset({"/docs", "/redoc", "/asyncapi", "/asyncapi.json"})


def is_docs_path(path: str) -> bool:
    """A documentation page or one of its assets (answered while the service starts)."""
    return path in PAGES or path.startswith(f"{ASSETS}/")


def install(app: FastAPI, service: str) -> None:
    """The pages and their assets on `app` (built with `docs_url=None, redoc_url=None`)."""
    app.mount(ASSETS, StaticFiles(directory=STATIC_DIR), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} — API",
            swagger_js_url=f"{ASSETS}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/swagger-ui/favicon-32x32.png",
            # no badge fetched from validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} — API",
            redoc_js_url=f"{ASSETS}/redoc/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/swagger-ui/favicon-32x32.png",
            with_google_fonts=False,
        )

    @app.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi_document() -> JSONResponse:
        return JSONResponse(_asyncapi_of(service))

    @app.get("/asyncapi", include_in_schema=False)
    async def asyncapi_page() -> HTMLResponse:
        return HTMLResponse(asyncapi_html(_asyncapi_of(service)))


def _asyncapi_of(service: str) -> dict[str, Any]:
    try:
        return _documented(service)
    except (ImportError, AttributeError) as missing:
        raise HTTPException(404, f"the {service} service publishes no AsyncAPI document") from (
            missing
        )


@cache
def _documented(service: str) -> dict[str, Any]:
    """The service's AsyncAPI document, built once by the same factory as
    `faststream docs gen` (so it is what docs/asyncapi/<service>.json commits: the
    payload schemas included, which the running consumers do not carry)."""
    bootstrap = import_module(f"services.{service}.bootstrap")
    specification = bootstrap.asyncapi_app().schema.to_specification()
    document: dict[str, Any] = specification.to_jsonable()
    return document


def asyncapi_html(document: dict[str, Any]) -> str:
    """The AsyncAPI React component's standalone page for `document`, offline."""
    title = str(document.get("info", {}).get("title", "AsyncAPI"))
    config = {
        "schema": document,
        "config": {
            "show": {"sidebar": True, "info": True, "servers": True, "operations": True},
            "sidebar": {"showServers": "byDefault", "showOperations": "byDefault"},
        },
    }
    # inside <script>: a "</script>" in a description must not end it
    embedded = json.dumps(config).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{html.escape(title)} — events (AsyncAPI)</title>
  <link rel="icon" href="{ASSETS}/swagger-ui/favicon-32x32.png">
  <link rel="stylesheet" href="{ASSETS}/asyncapi/default.min.css">
</head>
<body>
  <div id="asyncapi"></div>
  <script src="{ASSETS}/asyncapi/asyncapi-standalone.js"></script>
  <script>
    window.AsyncApiStandalone.render({embedded}, document.getElementById("asyncapi"));
  </script>
</body>
</html>
"""
