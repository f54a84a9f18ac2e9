"""What each reader is told about each step, in Indonesian and English (pure, no I/O).

Data, not code: messages.toml holds one entry per event type (`{placeholders}` from the
event, and what each kind of reader can do next); phrases.toml the words around them.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from services.notifications.domain.people import Language
from services.notifications.domain.recipients import Audience
from shared.contracts.events import ProposalEvent
from shared.contracts.types import Area, MaterialLine
from shared.datafiles import read_toml

Reader = Literal["proposer", "follower", "reviewer", "warehouse", "supervisor"]
READERS: dict[Audience, Reader] = {
    Audience.PROPOSER: "proposer",
    Audience.FOLLOWERS: "follower",
    Audience.KELURAHAN_OFFICERS: "reviewer",
    Audience.KECAMATAN_OFFICERS: "reviewer",
    Audience.CITY_OFFICERS: "reviewer",
    Audience.WAREHOUSE: "warehouse",
    Audience.SUPERVISORS: "supervisor",
}
_OPTIONAL = re.compile(r"\[\[(.*?)\]\]", re.DOTALL)
_MAX_SMS_CHARS = 480


def _load(name: str) -> dict[str, Any]:
    return read_toml(Path(__file__).with_name(name))


@dataclass(frozen=True)
class Template:
    title_id: str
    body_id: str
    title_en: str
    body_en: str
    next: dict[str, dict[str, str]] = field(default_factory=dict)  # reader → language → text

    def title(self, language: Language) -> str:
        return self.title_en if language == "en" else self.title_id

    def body(self, language: Language) -> str:
        return self.body_en if language == "en" else self.body_id


def _load_templates() -> dict[str, Template]:
    return {event_type: Template(**fields) for event_type, fields in _load("messages.toml").items()}


TEMPLATES: dict[str, Template] = _load_templates()
PHRASES: dict[str, Any] = _load("phrases.toml")


@dataclass(frozen=True)
class Message:
    title: str
    body: str  # what happened, to which proposal
    next_step: str = ""  # what the reader can do now

    @property
    def text(self) -> str:
        return f"{self.body} {self.next_step}".strip()


def phrase(section: str, key: str, language: Language, **values: object) -> str:
    return str(PHRASES[section][key][language]).format(**values)


def render(
    event_type: str,
    data: ProposalEvent,
    language: Language = "id",
    *,
    reader: Reader = "proposer",
    title: str | None = None,
) -> Message:
    """The message `reader` gets about this event; `title`: the proposal's, if known."""
    template = TEMPLATES[event_type]
    values = _values(data, language, title)
    return Message(
        title=_fill(template.title(language), values),
        body=_fill(template.body(language), values),
        next_step=next_step(template, reader, language),
    )


def next_step(template: Template, reader: Reader, language: Language) -> str:
    found = template.next.get(reader)
    if found is not None:
        return found[language]
    if reader == "follower":
        return phrase("follower", "next", language)
    return ""


def proposal_label(area: Area, title: str | None, language: Language) -> str:
    """How a message names a proposal: its title and RT, or only its RT."""
    if title:
        return phrase("proposal", "titled", language, title=title, rt=area.rt, **_places(area))
    return phrase("proposal", "untitled", language, rt=area.rt, **_places(area))


def email_subject(title: str, language: Language) -> str:
    return phrase("email", "subject", language, title=title)


def email_text(text: str, language: Language) -> str:
    return f"{text}\n\n-- \n{phrase('email', 'footer', language)}\n"


def sms_text(title: str, text: str, language: Language) -> str:
    message = phrase("sms", "text", language, title=title, body=text)
    return message if len(message) <= _MAX_SMS_CHARS else message[: _MAX_SMS_CHARS - 1] + "…"


def _places(area: Area) -> dict[str, str]:
    return {"kelurahan": area.kelurahan, "kecamatan": area.kecamatan}


def _values(data: ProposalEvent, language: Language, title: str | None) -> dict[str, Any]:
    values = {name: _value(name, getattr(data, name), language) for name in type(data).model_fields}
    known_title = title or getattr(data, "title", None)
    values["proposal"] = label = proposal_label(data.area, known_title, language)
    values["Proposal"] = label[:1].upper() + label[1:]  # at the start of a sentence
    return values


def _value(name: str, value: Any, language: Language) -> Any:
    literals: dict[str, dict[str, str]] | None = PHRASES["literals"].get(name)
    if literals is not None and isinstance(value, str):
        return literals.get(value, {}).get(language, value)
    if isinstance(value, tuple) and all(isinstance(v, MaterialLine) for v in value):
        return ", ".join(f"{line.item} {line.quantity:g} {line.unit}" for line in value)
    if isinstance(value, str):
        return value.strip().rstrip(".")  # free text reads inside our own sentences
    return value


def _fill(text: str, values: dict[str, Any]) -> str:
    """`text.format(**values)`, leaving out [[optional parts]] whose fields are empty."""

    def optional(match: re.Match[str]) -> str:
        inner = match.group(1)
        names = [name for _, name, _, _ in string.Formatter().parse(inner) if name]
        return "" if any(values.get(name) in ("", None, ()) for name in names) else inner

    return _OPTIONAL.sub(optional, text).format(**values)
