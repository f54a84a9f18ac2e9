"""Ready-made event payloads for tests."""

from __future__ import annotations

import uuid

from shared.contracts import events as ev
from shared.contracts.types import Area, Dimensions, Location, SwadayaPledge

AREA = Area(kecamatan="Telanaipura", kelurahan="Simpang IV Sipin", rt="003")


def proposal_approved(**overrides: object) -> ev.ProposalApprovedV1:
    values: dict[str, object] = {
        "proposal_id": uuid.uuid4(),
        "area": AREA,
        "proposer_id": "rt-head-budi",
        "title": "Rabat beton Gang Mawar",
        "work_type": "concrete_road",
        "dimensions": Dimensions(length_m=150, width_m=4, thickness_m=0.12),
        "concrete_grade": "K-175",
        "location": Location(lat=-1.61, lng=103.59, description="Gang Mawar"),
        "budget_idr": 150_000_000,
        "fiscal_year": 2026,
        "swadaya": SwadayaPledge(volunteers=40, labour_days=120),
        "approved_by": "city-officer-sari",
        **overrides,
    }
    return ev.ProposalApprovedV1.model_validate(values)


def work_started(**overrides: object) -> ev.WorkStartedV1:
    values: dict[str, object] = {
        "proposal_id": uuid.uuid4(),
        "area": AREA,
        "proposer_id": "rt-head-budi",
        "started_by": "rt-head-budi",
        **overrides,
    }
    return ev.WorkStartedV1.model_validate(values)
