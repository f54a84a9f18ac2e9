"""The envelope every event travels in, and its strict parsing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from shared.contracts.types import Contract

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
    occurred_at: AwareDatetime
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
class ReceivedEvent:
    envelope: Envelope
    data: Contract


def new_envelope(
    data: Contract,
    *,
    producer: str,
    correlation_id: str,
    causation_id: str | None = None,
) -> Envelope:
    """Wrap a payload; its type and version come from the catalogue."""
    from shared.contracts.catalogue import contract_of

    contract = contract_of(type(data))
    return Envelope(
        event_id=uuid.uuid4(),
        type=contract.event_type,
        version=contract.version,
        occurred_at=datetime.now(UTC),
        producer=producer,
        correlation_id=correlation_id,
        causation_id=causation_id,
        data=data.model_dump(mode="json"),
    )


def parse_event(body: bytes, *, max_bytes: int) -> ReceivedEvent:
    """Validate a message body against the envelope and the catalogue, or raise InvalidEvent."""
    from shared.contracts.catalogue import contract_for

    if len(body) > max_bytes:
        raise InvalidEvent(f"message of {len(body)} bytes exceeds the limit of {max_bytes}")
    try:
        envelope = Envelope.model_validate_json(body)
    except ValidationError as error:
        raise InvalidEvent(f"invalid envelope: {_summary(error)}") from error
    contract = contract_for(envelope.type, envelope.version)
    if contract is None:
        raise InvalidEvent(f"unknown event {envelope.type} v{envelope.version}")
    try:
        # Validate the raw JSON again with the typed message model, so that strict
        # JSON-mode rules hold inside `data` too (no "12" for 12).
        message: Any = contract.message_model.model_validate_json(body)
    except ValidationError as error:
        raise InvalidEvent(
            f"invalid {envelope.type} v{envelope.version}: {_summary(error)}"
        ) from error
    data: Contract = message.data
    return ReceivedEvent(envelope=envelope, data=data)


def _summary(error: ValidationError) -> str:
    problems = [
        f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}" for e in error.errors()[:5]
    ]
    more = error.error_count() - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")
