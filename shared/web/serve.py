"""Run one service process: logging, then uvicorn serving the service's app."""

from __future__ import annotations

from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from shared.logs import configure_logging
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings


def serve(service: str, build: Callable[[ServiceSettings], tuple[ServiceRuntime, FastAPI]]) -> None:
    settings = ServiceSettings(service_name=service)
    if (
        settings.environment == "production"
        and "development" in settings.jwt_secret.get_secret_value()
    ):
        raise SystemExit("refusing to start in production with the development JWT secret")
    configure_logging(service, settings.log_level, settings.log_json)
    _, app = build(settings)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # keep our structured logging
        access_log=False,
        timeout_graceful_shutdown=10,
    )
