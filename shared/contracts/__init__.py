"""The public event contract: envelope, payloads and the versioned catalogue."""

from shared.contracts.catalogue import CATALOGUE, contract_for, parse_event
from shared.contracts.envelope import Envelope, InvalidEvent, ReceivedEvent
from shared.contracts.registry import EventContract, contract_of, new_envelope

__all__ = [
    "CATALOGUE",
    "Envelope",
    "EventContract",
    "InvalidEvent",
    "ReceivedEvent",
    "contract_for",
    "contract_of",
    "new_envelope",
    "parse_event",
]
