"""Every command route of every service takes an `Idempotency-Key` (its OpenAPI says
so): a client whose answer was lost sends it again and acts once."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from services import SERVICES

COMMANDS = ("post", "put", "patch", "delete")


@pytest.mark.parametrize("service", SERVICES)
def test_every_command_takes_an_idempotency_key(service: str) -> None:
    _, app = importlib.import_module(f"services.{service}.bootstrap").build()
    paths: dict[str, Any] = app.openapi()["paths"]
    unkeyed = [
        f"{method.upper()} {path}"
        for path, operations in paths.items()
        for method, operation in operations.items()
        if method in COMMANDS
        and "Idempotency-Key" not in [p["name"] for p in operation.get("parameters", [])]
    ]
    assert unkeyed == []
