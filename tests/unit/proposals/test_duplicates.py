"""Possible duplicates: same RT, same work type, active, close by — flagged, never refused."""

from __future__ import annotations

import math

import pytest

from services.proposals.domain.duplicates import distance_m, possible_duplicates
from services.proposals.domain.lifecycle import ACTIVE_STATES, State
from services.proposals.domain.model import Proposal
from shared.contracts.types import Location
from tests.unit.proposals.builders import OTHER_RT_HEAD, draft, proposal_in, submitted

HERE = Location(lat=-1.6105, lng=103.5912)
# One degree of latitude is about 111.2 km: 0.0009° ≈ 100 m north.
METRE_NORTH = 1 / 111_195


def north_of_here(metres: float) -> dict[str, float]:
    return {"lat": HERE.lat + metres * METRE_NORTH, "lng": HERE.lng}


def place(metres_north: float) -> Location:
    return Location.model_validate(north_of_here(metres_north))


def at(metres_north: float, state: State = State.SUBMITTED, **overrides: object) -> Proposal:
    proposal = proposal_in(state)
    proposal.draft = draft(location=north_of_here(metres_north), **overrides)
    return proposal


def test_distance_is_zero_to_itself_and_symmetric() -> None:
    there = place(150)
    assert distance_m(HERE, HERE) == 0
    assert distance_m(HERE, there) == pytest.approx(distance_m(there, HERE))


def test_distance_matches_a_known_figure() -> None:
    assert distance_m(HERE, place(150)) == pytest.approx(150, abs=0.5)
    east = Location(lat=HERE.lat, lng=HERE.lng + 0.001)
    expected = 0.001 * math.pi / 180 * 6_371_000 * math.cos(math.radians(HERE.lat))
    assert distance_m(HERE, east) == pytest.approx(expected, rel=1e-6)


def test_an_active_proposal_of_the_same_rt_and_work_close_by_is_flagged() -> None:
    new = submitted()
    near = at(120)
    assert possible_duplicates(new, [near]) == [near.id]


def test_flags_are_nearest_first_and_stop_at_the_radius() -> None:
    new = submitted()
    far, nearer, nearest, beyond = at(190), at(80), at(5), at(260)
    assert possible_duplicates(new, [far, beyond, nearest, nearer]) == [
        nearest.id,
        nearer.id,
        far.id,
    ]
    assert possible_duplicates(new, [far, nearer], radius_m=100) == [nearer.id]


def test_another_work_type_is_not_a_duplicate() -> None:
    drain = at(
        10,
        work_type="drain",
        dimensions={"length_m": 80, "width_m": 0.6, "thickness_m": 0.15, "depth_m": 0.8},
        concrete_grade=None,
    )
    assert possible_duplicates(submitted(), [drain]) == []


def test_another_rt_is_not_a_duplicate() -> None:
    neighbour = Proposal.submit(
        draft(
            area={"kecamatan": "Telanaipura", "kelurahan": "Simpang IV Sipin", "rt": "004"},
            location=north_of_here(10),
        ),
        OTHER_RT_HEAD,
        submitted().created_at,
    )
    assert possible_duplicates(submitted(), [neighbour]) == []


@pytest.mark.parametrize("state", sorted(set(State) - ACTIVE_STATES))
def test_a_finished_or_dropped_proposal_is_not_a_duplicate(state: State) -> None:
    assert possible_duplicates(submitted(), [at(10, state)]) == []


@pytest.mark.parametrize("state", sorted(ACTIVE_STATES))
def test_every_active_state_counts(state: State) -> None:
    other = at(10, state)
    assert possible_duplicates(submitted(), [other]) == [other.id]


def test_a_proposal_is_not_its_own_duplicate() -> None:
    new = submitted()
    assert possible_duplicates(new, [new]) == []
