"""Pydantic models to and from MongoDB documents, the same way in every repository."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

from shared.storage.mongo import Document

M = TypeVar("M", bound=BaseModel)


def to_document(model: BaseModel, key: object) -> Document:
    """The model's fields plus `_id = str(key)` (UUIDs stay native BSON inside)."""
    document = model.model_dump(mode="python")
    document["_id"] = str(key)
    return document


def from_document(kind: type[M], document: Document) -> M:
    data: dict[str, Any] = {k: v for k, v in document.items() if k != "_id"}
    return kind.model_validate(data)
