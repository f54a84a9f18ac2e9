"""Rate limits on writes and on the reads that need no token (`limits`, in memory).

Each caller is counted on its own: by the token's `sub` when the token verifies, else
by the client's IP (the socket's, or what a trusted proxy put in X-Forwarded-For; see
`ServiceSettings.trusted_proxies`). A token that does not verify is counted by IP, so
inventing subjects gains nothing. Past the limit: 429 with `Retry-After`.

The counters live in each replica's memory: N replicas allow up to N times the limit
in all. That keeps a hot path free of a network hop, and the limit is there to stop a
flood from one caller, not to meter it exactly; to share the count, `limits` has
Redis and MongoDB storages behind the same interface.
"""

from __future__ import annotations

import math
import time
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from shared.settings import ServiceSettings
from shared.web.auth import current_actor
from shared.web.problems import WRITE_METHODS, takes_a_token

# Never limited: probes and scrapes must see the service as it is.
NEVER_LIMITED = frozenset({"/health", "/ready", "/metrics"})


class RateLimits:
    """The app's limits and their counters."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.enabled = settings.rate_limits_enabled
        self.writes: list[RateLimitItem] = parse_many(settings.rate_limit_writes)
        self.public: list[RateLimitItem] = parse_many(settings.rate_limit_public)
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    async def check(self, kind: str, limits: list[RateLimitItem], caller: str) -> None:
        """Counts one request of `caller`; 429 when it is one too many."""
        for item in limits:
            if not await self._limiter.hit(item, kind, caller):
                stats = await self._limiter.get_window_stats(item, kind, caller)
                wait = max(1, math.ceil(stats.reset_time - time.time()))
                raise HTTPException(
                    status.HTTP_429_TOO_MANY_REQUESTS,
                    detail=f"too many {kind} requests (at most {item}); try again in {wait} s",
                    headers={"Retry-After": str(wait)},
                )


async def rate_limited(request: Request) -> None:
    """A dependency of every route (see create_app): counts the request when it is a
    write, or a read of a route that needs no token."""
    limits: RateLimits = request.app.state.rate_limits
    route = request.scope.get("route")
    if not limits.enabled or not isinstance(route, APIRoute) or route.path in NEVER_LIMITED:
        return
    if request.method in WRITE_METHODS:
        kind, items = "write", limits.writes
    elif not takes_a_token(route):
        kind, items = "public", limits.public
    else:
        return
    await limits.check(kind, items, await _caller(request))


RateLimited = Annotated[None, Depends(rate_limited)]


async def _caller(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        credentials = HTTPAuthorizationCredentials(scheme=scheme, credentials=token.strip())
        try:
            actor = await current_actor(request, credentials)
        except HTTPException:
            pass  # not verified: counted by address
        else:
            return f"sub:{actor.id}"
    client = request.client
    return f"ip:{client.host if client else 'unknown'}"


def install(app: FastAPI, settings: ServiceSettings) -> None:
    app.state.rate_limits = RateLimits(settings)
