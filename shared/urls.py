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
