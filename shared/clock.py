"""The clock, and the one way a timestamp is written as text.

Every instant the services take comes from `utc_now`: UTC, truncated to the
millisecond — what MongoDB keeps, so a value reads back exactly as it was taken.
Every instant written as text (event envelopes, API responses, CSV, headers, logs)
goes through `format_timestamp`: `2024-05-01T07:00:27.077Z`, always with the
milliseconds, so that the strings sort in time order. (Pydantic on its own writes
`…27Z` for a whole second and `…27.077000Z` otherwise, which do not.)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AwareDatetime, PlainSerializer, WithJsonSchema

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Now, in UTC, to the millisecond."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def format_timestamp(at: datetime) -> str:
    """`2024-05-01T07:00:27.077Z`: UTC, milliseconds always written.

    A naive datetime is taken as UTC (what MongoDB and the clock hold)."""
    utc = at if at.tzinfo is None else at.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="milliseconds") + "Z"


_SCHEMA = WithJsonSchema({"type": "string", "format": "date-time"})
_WRITTEN = PlainSerializer(format_timestamp, return_type=str, when_used="json")

# An instant in a pydantic model: read as any datetime, written in JSON by
# `format_timestamp` (Python-mode dumps, e.g. to MongoDB, keep the datetime).
Timestamp = Annotated[datetime, _WRITTEN, _SCHEMA]
# The same, refusing a datetime without a time zone on input.
AwareTimestamp = Annotated[AwareDatetime, _WRITTEN, _SCHEMA]
