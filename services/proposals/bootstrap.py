"""Wires the proposals service: settings → runtime → use cases → HTTP and consumers."""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI
from faststream import FastStream

from services.proposals.adapters import budgets, repository
from services.proposals.entrypoints.http import (
    build_admin_router,
    build_budget_router,
    build_public_router,
    build_router,
)
from services.proposals.service import handlers
from services.proposals.service.commands import BudgetCommands, ProposalCommands
from services.proposals.settings import ProposalsSettings
from shared.contracts import events as ev
from shared.runtime import ServiceRuntime, build_runtime, documented_app
from shared.settings import ServiceSettings
from shared.web.app import create_app

SERVICE: Final = "proposals"
SETTINGS: Final = ProposalsSettings
# Every collection this service keeps besides the runtime's outbox and inbox: its
# MongoDB role names exactly these (shared/storage/access.py).
COLLECTIONS: Final = (
    repository.COLLECTION,
    budgets.COLLECTION,
    budgets.SLOTS,
)


def build(settings: ServiceSettings | None = None) -> tuple[ServiceRuntime, FastAPI]:
    settings = ProposalsSettings.extending(settings or ProposalsSettings())
    runtime = build_runtime(
        settings,
        SERVICE,
        [
            repository.create_indexes,
            budgets.create_indexes,
            budgets.split_into_slots,
        ],
    )
    runtime.consumers.on(ev.MaterialDispatchedV2, handlers.on_material_dispatched)
    runtime.consumers.on(ev.MaterialDeliveredV2, handlers.on_material_delivered)
    runtime.consumers.on(ev.MaterialFulfilledV2, handlers.on_material_fulfilled)
    runtime.consumers.on(ev.BudgetAllocatedV1, handlers.on_budget_allocated)
    runtime.consumers.on(ev.MaterialUnplannableV2, handlers.on_material_unplannable)
    runtime.consumers.on(ev.MaterialReservedV2, handlers.on_material_reserved)
    runtime.consumers.on(ev.MaterialShortageV2, handlers.on_material_shortage)
    app = create_app(
        runtime,
        title="Berdaya proposals",
        description=(
            "Bangkit Berdaya proposals: submit, review, approve, build, hand over. "
            "Bearer tokens carry a role and an area (development tokens: "
            "`python -m shared.web.auth --help`); /public needs none."
        ),
        routers=[
            build_router(),
            build_budget_router(),
            build_public_router(),
            build_admin_router(settings.stuck_thresholds),
        ],
    )
    app.state.commands = ProposalCommands(runtime.transactions, photos=settings.photo_policy)
    app.state.budget_commands = BudgetCommands(runtime.transactions)
    return runtime, app


def asyncapi_app() -> FastStream:
    """For `faststream docs gen --factory services.proposals.bootstrap:asyncapi_app`."""
    return documented_app(SERVICE, build)
