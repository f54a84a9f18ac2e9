"""The envelope every event travels in.

Wrapping a payload and parsing a body need the contracts: see
`shared.contracts.registry` (which imports this module, never the other way round).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from shared.clock import AwareTimestamp
from shared.contracts.types import Contract

DataT = TypeVar("DataT", bound=Contract, covariant=True)
EventType = Annotated[str, Field(pattern=r"^[a-z]+(\.[a-z_]+)+$", max_length=80)]


class Envelope(BaseModel):
    """`{event_id, type, version, occurred_at, producer, correlation_id, causation_id, data}`.

    Unknown fields are rejected; `data` is validated against the payload model the
    catalogue names for (`type`, `version`).
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    event_id: uuid.UUID
    type: EventType
    version: Annotated[int, Field(ge=1)]
    occurred_at: AwareTimestamp
    producer: Annotated[str, Field(min_length=1, max_length=60)]
    correlation_id: Annotated[str, Field(min_length=1, max_length=100)]
    causation_id: Annotated[str | None, Field(max_length=100)] = None
    data: dict[str, Any]


class InvalidEvent(ValueError):
    """A message that can never be handled; `reason` says why, for the dead-letter queue."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ReceivedEvent(Generic[DataT]):
    """An event as a handler sees it: the envelope as published, and its payload as
    the handler's model (upcast from an older version if that is what was sent)."""

    envelope: Envelope
    data: DataT
