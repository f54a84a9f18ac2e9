"""The public event contract: envelope, payloads and the versioned catalogue."""

from shared.contracts.catalogue import CATALOGUE, EventContract, contract_for
from shared.contracts.envelope import (
    Envelope,
    InvalidEvent,
    ReceivedEvent,
    new_envelope,
    parse_event,
)

__all__ = [
    "CATALOGUE",
    "Envelope",
    "EventContract",
    "InvalidEvent",
    "ReceivedEvent",
    "contract_for",
    "new_envelope",
    "parse_event",
]
