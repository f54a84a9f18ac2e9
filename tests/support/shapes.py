"""Helpers of the tests that keep a service's API shapes apart from its domain and its
stored documents (tests/unit/*/test_shapes.py)."""

from __future__ import annotations

import ast
from pathlib import Path
from types import ModuleType

from pydantic import BaseModel


def away_from_defaults(model: BaseModel) -> None:
    """Every field away from its default, so that a field a mapping drops shows."""
    for name, field in type(model).model_fields.items():
        if field.is_required():
            continue
        assert getattr(model, name) != field.get_default(call_default_factory=True), name


def imports_of(module: ModuleType) -> set[str]:
    """The modules ``module`` imports, read from its source."""
    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    return imported
