"""A contract defined for tests, in a registry of its own: two versions of one event and
the upcaster between them. It stays out of the public catalogue and the AsyncAPI
documents; the consumers take it like any other event."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from shared.contracts.registry import EventRegistry
from shared.contracts.types import Contract

DRILLS = EventRegistry("test drills")


@DRILLS.event("drill.reported", version=1, producer="city-finance")
class DrillReportedV1(Contract):
    """A drill was reported.

    Longer text, for the schema only."""

    note: str


@DRILLS.event("drill.reported", version=2, producer="city-finance")
class DrillReportedV2(Contract):
    """A drill was reported, with its severity."""

    note: str
    severity: Annotated[int, Field(ge=1, le=5)]


@DRILLS.upcaster(DrillReportedV1, DrillReportedV2)
def drill_v1_to_v2(old: DrillReportedV1) -> DrillReportedV2:
    """v1 knew no severity: a note means a minor drill; none cannot be expressed in v2."""
    return DrillReportedV2(note=old.note, severity=1 if old.note else 9)
