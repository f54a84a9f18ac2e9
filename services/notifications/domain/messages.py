"""What the proposing RT head is told about each step, in Indonesian and English.

Data, not code (messages.toml): one entry per event type, `{placeholders}` from the event.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from shared.contracts.events import ProposalEvent


@dataclass(frozen=True)
class Template:
    title_id: str
    body_id: str
    title_en: str
    body_en: str


def _load_templates() -> dict[str, Template]:
    raw = tomllib.loads(Path(__file__).with_name("messages.toml").read_text(encoding="utf-8"))
    return {event_type: Template(**fields) for event_type, fields in raw.items()}


TEMPLATES: dict[str, Template] = _load_templates()


@dataclass(frozen=True)
class Message:
    title: str
    body: str


def render(event_type: str, data: ProposalEvent, language: str = "id") -> Message:
    template = TEMPLATES[event_type]
    values: dict[str, Any] = _flatten(data)
    if language == "en":
        return Message(template.title_en.format(**values), template.body_en.format(**values))
    return Message(template.title_id.format(**values), template.body_id.format(**values))


def _flatten(model: BaseModel) -> dict[str, Any]:
    return {name: getattr(model, name) for name in type(model).model_fields}
