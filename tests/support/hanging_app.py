"""`python -m tests.support.hanging_app PORT BOUND`: a server whose stop never ends on
its own, served like a service (shared.web.serve), to prove that the stop is bounded."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from shared.web.serve import BoundedStopServer


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield
    print("stopping, forever", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    port, bound = int(sys.argv[1]), float(sys.argv[2])
    app = FastAPI(lifespan=lifespan)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None)
    BoundedStopServer(config, bound).run()
