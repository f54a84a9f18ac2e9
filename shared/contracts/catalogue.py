"""The event catalogue, derived from the payload models that declare their contracts
(`shared.contracts.events`): (type, version) → model, producer and summary."""

from __future__ import annotations

from typing import Any

from shared.contracts.envelope import ReceivedEvent
from shared.contracts.events import CATALOGUE
from shared.contracts.registry import EventContract, EventRegistry, Producer, contract_of
from shared.contracts.types import Contract

__all__ = [
    "CATALOGUE",
    "EventContract",
    "EventRegistry",
    "Producer",
    "contract_for",
    "contract_of",
    "parse_event",
    "produced_by",
]


def contract_for(event_type: str, version: int) -> EventContract[Any] | None:
    return CATALOGUE.contract_for(event_type, version)


def produced_by(producer: Producer) -> list[EventContract[Any]]:
    return CATALOGUE.produced_by(producer)


def parse_event(body: bytes, *, max_bytes: int) -> ReceivedEvent[Contract]:
    """Validate a message body against the envelope and the catalogue, or raise InvalidEvent."""
    return CATALOGUE.parse(body, max_bytes=max_bytes)
