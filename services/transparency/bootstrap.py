"""Wires the transparency service: settings → runtime → handlers → the public page and
consumers. It publishes nothing; it reads only the events."""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from faststream import FastStream

from services.transparency.adapters import repository
from services.transparency.entrypoints.http import STATIC, build_router
from services.transparency.service.handlers import (
    on_budget_allocated,
    on_proposal_event,
    proposal_models,
)
from services.transparency.settings import TransparencySettings
from shared.contracts import events as ev
from shared.runtime import ServiceRuntime, build_runtime, documented_app
from shared.settings import ServiceSettings
from shared.web.app import create_app

SERVICE: Final = "transparency"
SETTINGS: Final = TransparencySettings
# Every collection this service keeps besides the runtime's outbox and inbox: its
# MongoDB role names exactly these (shared/storage/access.py).
COLLECTIONS: Final = repository.READ_MODEL
DESCRIPTION: Final = """\
The public transparency page of Bangkit Berdaya, built only from the published events,
the way any city system could: per kecamatan and year, proposals by stage, the approved
budget against the ceiling (`budget.allocated`), materials delivered against the bill,
jobs completed and validated, swadaya, and the median days from submission to approval
and from approval to completion. A proposal shows once it is public (the shared rule,
`shared/contracts/publicity.py`); nothing personal is kept.

The page is at `/` (Indonesian; `?lang=en` for English), `/kecamatan/{name}` and
`/usulan/{proposal_id}`; the data at `/data/figures.{csv,json}` and
`/data/proposals.{csv,json}`; `/live` tells an open page that the figures changed.
"""


def build(given: ServiceSettings | None = None) -> tuple[ServiceRuntime, FastAPI]:
    settings = TransparencySettings.extending(given) if given else TransparencySettings()
    runtime = build_runtime(settings, SERVICE, [repository.create_indexes], publishes=())
    for model in proposal_models():
        runtime.consumers.on(model, on_proposal_event)
    runtime.consumers.on(ev.BudgetAllocatedV1, on_budget_allocated)
    app = create_app(
        runtime, title="Berdaya transparency", description=DESCRIPTION, routers=[build_router()]
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return runtime, app


def asyncapi_app() -> FastStream:
    """For `faststream docs gen --factory services.transparency.bootstrap:asyncapi_app`."""
    return documented_app(SERVICE, build)
