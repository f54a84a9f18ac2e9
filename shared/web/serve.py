"""Run one service process: logging, then uvicorn serving the service's app, with a
stop that is graceful and bounded."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

import uvicorn
from fastapi import FastAPI

from shared.logs import configure_logging
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings, settings_or_refusal

# The exit status of a stop that did not finish within its bound.
HARD_EXIT_STATUS = 3


class BoundedStopServer(uvicorn.Server):
    """uvicorn's server, whose graceful stop (see ServiceRuntime.stop) cannot hang: a
    second SIGTERM/SIGINT, or `bound` seconds after the first, ends the process."""

    def __init__(self, config: uvicorn.Config, bound: float) -> None:
        super().__init__(config)
        self._bound = bound

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit:
            _exit_now(f"second {signal.Signals(sig).name} while stopping: exiting now")
        super().handle_exit(sig, frame)
        watchdog = threading.Timer(
            self._bound, _exit_now, args=(f"stop took longer than {self._bound:g} s: exiting now",)
        )
        watchdog.daemon = True
        watchdog.start()


def _exit_now(why: str) -> None:
    # A signal handler or a timer thread: no logging locks, no event loop.
    os.write(2, f'{{"event": "{why}", "log_level": "error"}}\n'.encode())
    os._exit(HARD_EXIT_STATUS)


def serve(
    service: str,
    build: Callable[[ServiceSettings], tuple[ServiceRuntime, FastAPI]],
    settings_kind: type[ServiceSettings] = ServiceSettings,
) -> None:
    """Run `service` until it is told to stop; its settings (`settings_kind`, with the
    service's own fields) are read first, so that a refused one ends the process with
    one sentence, not a traceback."""
    settings = settings_or_refusal(settings_kind, service_name=service)
    configure_logging(service, settings.log_level, settings.log_json)
    _, app = build(settings)
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # keep our structured logging
        access_log=False,
        # X-Forwarded-For is read by the app, from BERDAYA_TRUSTED_PROXIES only.
        proxy_headers=False,
        timeout_graceful_shutdown=max(1, round(settings.http_drain_seconds)),
    )
    BoundedStopServer(config, settings.shutdown_seconds).run()
