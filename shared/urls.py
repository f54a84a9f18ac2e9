"""URLs as they may appear in logs and answers."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def without_password(url: str) -> str:
    """`amqp://materials:secret@rabbitmq/berdaya` → `amqp://materials:***@rabbitmq/berdaya`
    (MongoDB seed lists `h1:1,h2:2` included)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    credentials, hosts = parts.netloc.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hosts}"))


def for_logs(url: str) -> str:
    """`https://u:p@hooks.example/T1/B2/abc?token=x#y` → `https://hooks.example/…`:
    scheme, host and port only. Credentials, query and fragment may hold tokens, and
    so may the path (many webhook URLs are secrets in themselves)."""
    parts = urlsplit(url)
    hosts = parts.netloc.rsplit("@", 1)[-1]
    rest = "/…" if parts.path.strip("/") or parts.query or parts.fragment else ""
    return f"{parts.scheme}://{hosts}{rest}"
