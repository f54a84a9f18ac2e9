"""Wires the proposals service: settings → runtime → use cases → HTTP and consumers."""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI
from faststream import FastStream

from services.proposals.adapters import repository
from services.proposals.entrypoints.http import build_router
from services.proposals.service.commands import ProposalCommands, on_material_fulfilled
from shared.runtime import ServiceRuntime, build_runtime, documented_app
from shared.settings import ServiceSettings
from shared.web.app import create_app

SERVICE: Final = "proposals"


def build(settings: ServiceSettings | None = None) -> tuple[ServiceRuntime, FastAPI]:
    settings = settings or ServiceSettings(service_name=SERVICE)
    runtime = build_runtime(settings, SERVICE, [repository.create_indexes])
    runtime.consumers.on("material.fulfilled", on_material_fulfilled)
    app = create_app(
        runtime,
        title="Berdaya proposals",
        description="Bangkit Berdaya proposals: submit, review, approve, build, hand over.",
        routers=[build_router()],
    )
    app.state.commands = ProposalCommands(runtime.transactions)
    return runtime, app


def asyncapi_app() -> FastStream:
    """For `faststream docs gen --factory services.proposals.bootstrap:asyncapi_app`."""
    return documented_app(SERVICE, build)
