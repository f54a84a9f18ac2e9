"""Which links a proposal may carry as photos and attachments (pure, no I/O).

A link is shown to reviewers and, once published, to anyone: it may point only at the
city's own photo storage (BERDAYA_PHOTO_HOSTS), over https (http only in development),
and never carry credentials.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from shared.errors import Unprocessable

# Development and tests: a local file server, and the documentation hosts of RFC 2606.
DEVELOPMENT_PHOTO_HOSTS = ("localhost", "127.0.0.1", "example.org", "photos.example.org")


@dataclass(frozen=True)
class PhotoPolicy:
    hosts: tuple[str, ...] = DEVELOPMENT_PHOTO_HOSTS
    allow_http: bool = True

    @property
    def schemes(self) -> tuple[str, ...]:
        return ("https", "http") if self.allow_http else ("https",)

    def problem_with(self, link: str) -> str | None:
        """None if `link` may be stored and shown; else what is wrong with it."""
        try:
            parts = urlsplit(link)
            host = (parts.hostname or "").lower()
            _ = parts.port  # raises ValueError on a port that is no number
        except ValueError:
            return f"{link[:80]!r} is not a link"
        if parts.scheme.lower() not in self.schemes:
            return f"a photo link starts with {' or '.join(s + '://' for s in self.schemes)}"
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            return "a photo link carries no user name or password"
        if host not in self.hosts:
            return f"photos are kept at {', '.join(self.hosts)}; not at {host or 'no host'}"
        return None

    def check(self, links: Iterable[str]) -> None:
        """Refuse (422) the first link that may not be stored, saying which and why."""
        for index, link in enumerate(links):
            problem = self.problem_with(link)
            if problem:
                raise Unprocessable(f"photo {index + 1}: {problem}")
