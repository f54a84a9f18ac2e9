"""Who hears of an event, and through which channels (pure, no I/O).

The table is data (routing.toml); the handler loads the people it names (the
proposer, the officers of the roles involved, the followers) and these functions
decide.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from services.notifications.domain.people import Channel, Frequency, Person, unknown_person
from shared.contracts.events import ProposalEvent, ProposalSubmittedV1
from shared.datafiles import read_toml
from shared.identity import Role


class Audience(StrEnum):
    PROPOSER = "proposer"
    FOLLOWERS = "followers"
    KELURAHAN_OFFICERS = "kelurahan_officers"
    KECAMATAN_OFFICERS = "kecamatan_officers"
    CITY_OFFICERS = "city_officers"
    WAREHOUSE = "warehouse"
    SUPERVISORS = "supervisors"


# The audiences made of every directory entry of one role whose area covers the job's.
ROLE_AUDIENCES: dict[Audience, Role] = {
    Audience.KELURAHAN_OFFICERS: Role.KELURAHAN_OFFICER,
    Audience.KECAMATAN_OFFICERS: Role.KECAMATAN_OFFICER,
    Audience.CITY_OFFICERS: Role.CITY_OFFICER,
    Audience.WAREHOUSE: Role.WAREHOUSE_OFFICER,
    Audience.SUPERVISORS: Role.SUPERVISOR,
}
# When someone belongs to several audiences, the first of these decides the wording.
PRECEDENCE = [
    Audience.PROPOSER,
    Audience.KELURAHAN_OFFICERS,
    Audience.KECAMATAN_OFFICERS,
    Audience.CITY_OFFICERS,
    Audience.WAREHOUSE,
    Audience.SUPERVISORS,
    Audience.FOLLOWERS,
]


def _load_audiences() -> dict[str, tuple[Audience, ...]]:
    raw = read_toml(Path(__file__).with_name("routing.toml"))
    return {
        event_type: tuple(Audience(kind) for kind in kinds)
        for event_type, kinds in raw["audiences"].items()
    }


AUDIENCES: dict[str, tuple[Audience, ...]] = _load_audiences()


@dataclass(frozen=True)
class Recipient:
    person: Person
    audience: Audience  # why they hear of it; chooses what the message says to do next

    @property
    def person_id(self) -> str:
        return self.person.id


@dataclass(frozen=True)
class Route:
    """One way a recipient hears of an event."""

    channel: Channel
    frequency: Frequency  # immediately, or the digest it waits for
    address: str


def audiences_of(event_type: str) -> tuple[Audience, ...]:
    return AUDIENCES.get(event_type, ())


def roles_to_look_up(event_type: str) -> set[Role]:
    """The directory roles the handler must load to decide who hears of `event_type`."""
    return {ROLE_AUDIENCES[a] for a in audiences_of(event_type) if a in ROLE_AUDIENCES}


def recipients_of(
    event_type: str,
    data: ProposalEvent,
    *,
    proposer: Person | None = None,
    staff: Iterable[Person] = (),
    followers: Iterable[Person] = (),
) -> list[Recipient]:
    """Everyone who must hear of this event, once each, in a stable order.

    `proposer`: the proposer's directory entry, if any; `staff`: directory entries of
    the roles `roles_to_look_up` names; `followers`: entries of the proposal's followers.
    """
    audiences = audiences_of(event_type)
    found: dict[str, Recipient] = {}

    def add(person: Person, audience: Audience) -> None:
        known = found.get(person.id)
        if known is None or PRECEDENCE.index(audience) < PRECEDENCE.index(known.audience):
            found[person.id] = Recipient(person, audience)

    if Audience.PROPOSER in audiences:
        add(proposer or unknown_person(data.proposer_id, Role.RT_HEAD), Audience.PROPOSER)
    for audience in audiences:
        role = ROLE_AUDIENCES.get(audience)
        for person in staff:
            if role is not None and person.role is role and person.covers(data.area):
                add(person, audience)
    if Audience.FOLLOWERS in audiences:
        for person in followers:
            add(person, Audience.FOLLOWERS)
    return [found[person_id] for person_id in sorted(found)]


def actor_of(data: ProposalEvent) -> str | None:
    """Who caused the event: its `*_by` field; a submission is the proposer's own act."""
    for name in type(data).model_fields:
        if name.endswith("_by"):
            return str(getattr(data, name))
    return data.proposer_id if isinstance(data, ProposalSubmittedV1) else None  # and v2 on


def routes_for(recipient: Recipient, actor_id: str | None) -> list[Route]:
    """The channels a recipient hears of an event through.

    Nobody is e-mailed or texted about what they did themselves (the in-app feed
    still records it); e-mail and SMS need an address and a frequency other than none.
    """
    person = recipient.person
    preferences = person.effective_preferences
    routes: list[Route] = []
    for channel in sorted(preferences.channels):
        address = person.address(channel)
        if address is None:
            continue
        if channel is Channel.IN_APP:
            routes.append(Route(channel, Frequency.IMMEDIATELY, address))
        elif preferences.frequency is not Frequency.NONE and person.id != actor_id:
            routes.append(Route(channel, preferences.frequency, address))
    return routes
