"""Material jobs for unit tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.materials.domain.job import JobLine, MaterialJob
from shared.contracts.types import Area

AREA = Area(kecamatan="Telanaipura", kelurahan="Simpang IV Sipin", rt="003")
APPROVED = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
UNITS = {"cement": "bag", "sand": "m3", "gravel": "m3", "split_stone": "m3"}


def job_for(required: dict[str, float], *, approved_days_later: int = 0) -> MaterialJob:
    """A job needing ``required`` (item → quantity), nothing reserved yet."""
    return MaterialJob(
        proposal_id=uuid.uuid4(),
        area=AREA,
        proposer_id="rt-head-budi",
        work_volume_m3=72.0,
        norm="K-175",
        approved_at=APPROVED + timedelta(days=approved_days_later),
        lines=[
            JobLine(item=item, unit=UNITS[item], required=quantity)
            for item, quantity in required.items()
        ],
    )
