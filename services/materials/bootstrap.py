"""Wires the materials service: settings → runtime → use cases → HTTP and consumers."""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI
from faststream import FastStream

from services.materials.adapters import repository
from services.materials.entrypoints.http import build_router
from services.materials.service.commands import MaterialCommands, on_proposal_approved
from shared.runtime import ServiceRuntime, build_runtime, documented_app
from shared.settings import ServiceSettings
from shared.web.app import create_app

SERVICE: Final = "materials"


def build(settings: ServiceSettings | None = None) -> tuple[ServiceRuntime, FastAPI]:
    settings = settings or ServiceSettings(service_name=SERVICE)
    runtime = build_runtime(settings, SERVICE, [repository.create_indexes])
    runtime.consumers.on("proposal.approved", on_proposal_approved)
    app = create_app(
        runtime,
        title="Berdaya materials",
        description="Bills of materials, shipments and receipts for approved jobs.",
        routers=[build_router()],
    )
    app.state.commands = MaterialCommands(runtime.transactions)
    return runtime, app


def asyncapi_app() -> FastStream:
    """For `faststream docs gen --factory services.materials.bootstrap:asyncapi_app`."""
    return documented_app(SERVICE, build)
