"""Where a webhook may go: the URL checked, its host resolved (without blocking the
event loop) and every address it resolves to checked (see
`domain.webhooks.problem_with_address`).

The check runs when an endpoint is registered or changed, and again before each
delivery; the delivery then connects to the very address that was checked (see
`pinned`), so a name that resolves to a public address at the check and to a private
one a moment later (DNS rebinding) never gets the request there.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from services.notifications.domain.webhooks import problem_with_address, problem_with_url
from services.notifications.settings import NotificationSettings

Resolver = Callable[[str, int], Awaitable[list[str]]]
RESOLVE_TIMEOUT_SECONDS = 5.0


class UnsafeDestination(Exception):
    """The URL may not be called; the message says why, without the URL itself."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def resolve(host: str, port: int) -> list[str]:
    """The host's addresses, as the system resolver gives them, in its order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Destination:
    url: str
    host: str
    address: str  # the checked IP to connect to

    @property
    def is_https(self) -> bool:
        return urlsplit(self.url).scheme == "https"


class Destinations:
    def __init__(
        self, *, https_only: bool, allow_private: bool, resolver: Resolver = resolve
    ) -> None:
        self._https_only = https_only
        self._allow_private = allow_private
        self._resolver = resolver

    @classmethod
    def of(cls, settings: NotificationSettings, resolver: Resolver = resolve) -> Destinations:
        return cls(
            https_only=settings.production,
            allow_private=settings.webhook_allow_private_networks,
            resolver=resolver,
        )

    def problem_with_url(self, url: str) -> str | None:
        return problem_with_url(url, https_only=self._https_only)

    async def check(self, url: str) -> Destination:
        """The destination of `url` with an address it may connect to, or
        `UnsafeDestination`."""
        problem = self.problem_with_url(url)
        if problem:
            raise UnsafeDestination(problem)
        parts = urlsplit(url)
        host = parts.hostname or ""
        addresses = await self._addresses(host, parts.port or _default_port(parts.scheme))
        for address in addresses:
            # every one, not just the first: a name with one public and one private
            # address is refused whichever the resolver puts first
            problem = problem_with_address(address, allow_private=self._allow_private)
            if problem:
                raise UnsafeDestination(problem)
        return Destination(url=url, host=host, address=addresses[0])

    async def _addresses(self, host: str, port: int) -> list[str]:
        if _is_ip(host):
            return [host]
        try:
            found = await asyncio.wait_for(self._resolver(host, port), RESOLVE_TIMEOUT_SECONDS)
        except (OSError, TimeoutError) as error:
            raise UnsafeDestination("the endpoint's host does not resolve") from error
        if not found:
            raise UnsafeDestination("the endpoint's host does not resolve")
        return found


def pinned(destination: Destination) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """The request's URL with the checked address in place of the host, the Host
    header naming the host, and the TLS server name (SNI, and the name the server's
    certificate is verified against) being the host too."""
    original = httpx.URL(destination.url)
    url = original.copy_with(host=destination.address)
    headers = {"Host": original.netloc.decode("ascii")}
    extensions: dict[str, Any] = {}
    if destination.is_https and not _is_ip(destination.host):
        extensions["sni_hostname"] = destination.host
    return url, headers, extensions


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80
