"""Possible duplicates: the same need proposed twice (e-Musrenbang's duplicate check).

A new proposal is flagged, never refused: two lanes of one RT can lie close together
and both be needed. The reviewers decide.
"""

from __future__ import annotations

import math
import uuid

from services.proposals.domain.lifecycle import ACTIVE_STATES
from services.proposals.domain.model import Proposal
from services.proposals.domain.rules import proposal_rules
from shared.contracts.types import Location

EARTH_RADIUS_M = 6_371_000.0


def distance_m(a: Location, b: Location) -> float:
    """Great-circle distance (haversine); exact enough at neighbourhood scale."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    d_lat, d_lng = lat2 - lat1, math.radians(b.lng - a.lng)
    h = math.sin(d_lat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(d_lng / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def possible_duplicates(
    new: Proposal, others: list[Proposal], radius_m: float | None = None
) -> list[uuid.UUID]:
    """Active proposals of the same RT and work type within `radius_m`, nearest first."""
    radius = proposal_rules().duplicates.radius_m if radius_m is None else radius_m
    near = [
        (distance_m(new.draft.location, other.draft.location), other.id)
        for other in others
        if other.id != new.id
        and other.state in ACTIVE_STATES
        and other.area == new.area
        and other.draft.work_type == new.draft.work_type
    ]
    return [proposal_id for distance, proposal_id in sorted(near) if distance <= radius]
