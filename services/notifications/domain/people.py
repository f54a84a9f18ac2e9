"""Who is who, and how each person wants to hear of things (pure, no I/O).

A person's entry in the directory says their role and area (which reviews concern
them), where to reach them and their preferences. Someone an event names but the
directory does not know (a proposer nobody registered) gets the defaults of their
role and, having no address, only the in-app feed.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from shared.contracts.types import PLAIN_LINE, Area, Name
from shared.datafiles import read_toml
from shared.identity import Actor, Role

Language = Literal["id", "en"]
MessagingApp = Literal["sms", "whatsapp"]
EmailAddress = Annotated[
    str,
    Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254, examples=["budi@example.id"]),
    PLAIN_LINE,
]
# As a person types it: may be empty (the directory then shows the id).
PersonName = Annotated[str, Field(max_length=120), PLAIN_LINE]
# As the directory holds it: typed, or from a token (whose name is not checked as typed).
EntryName = Annotated[str, Field(max_length=120)]
PersonId = Annotated[str, Field(min_length=1, max_length=120)]
RtNumber = Annotated[str, Field(pattern=r"^\d{3}$")]
PhoneNumber = Annotated[
    str, Field(pattern=r"^\+?[0-9]{8,15}$", description="digits, optionally with a leading +")
]


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"  # SMS or WhatsApp, through the gateway
    IN_APP = "in_app"


class Frequency(StrEnum):
    IMMEDIATELY = "immediately"
    DAILY = "daily"
    WEEKLY = "weekly"
    NONE = "none"


DIGEST_FREQUENCIES = (Frequency.DAILY, Frequency.WEEKLY)


class Preferences(BaseModel):
    """`frequency` paces e-mail and SMS; the in-app feed shows each step as it happens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channels: frozenset[Channel]
    frequency: Frequency

    @field_serializer("channels")
    def _sorted(self, channels: frozenset[Channel]) -> list[str]:
        return sorted(c.value for c in channels)  # BSON and JSON have no sets


class Person(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: PersonId
    role: Role
    name: EntryName = ""
    kecamatan: str | None = None
    kelurahan: str | None = None
    rt: str | None = None
    email: EmailAddress | None = None
    phone: PhoneNumber | None = None
    messaging: MessagingApp = "whatsapp"
    language: Language = "id"
    preferences: Preferences | None = Field(
        default=None, description="none: the defaults of the person's role"
    )

    def covers(self, area: Area) -> bool:
        """True when `area` lies inside this person's scope (same rule as for actors)."""
        return Actor(
            id=self.id,
            role=self.role,
            kecamatan=self.kecamatan,
            kelurahan=self.kelurahan,
            rt=self.rt,
        ).covers(area)

    @property
    def effective_preferences(self) -> Preferences:
        return self.preferences or default_preferences(self.role)

    def address(self, channel: Channel) -> str | None:
        """Where this person is reached on `channel`; None if they cannot be."""
        if channel is Channel.EMAIL:
            return self.email
        if channel is Channel.SMS:
            return self.phone
        return self.id


def _load_defaults() -> dict[Role, Preferences]:
    raw = read_toml(Path(__file__).with_name("routing.toml"))
    return {Role(role): Preferences.model_validate(body) for role, body in raw["defaults"].items()}


DEFAULT_PREFERENCES: dict[Role, Preferences] = _load_defaults()


def default_preferences(role: Role) -> Preferences:
    return DEFAULT_PREFERENCES[role]


def unknown_person(person_id: str, role: Role) -> Person:
    """Someone an event names whom the directory does not know."""
    return Person(id=person_id, role=role)


def from_actor(actor: Actor) -> Person:
    """A first directory entry for someone who signed in (role and area from the token)."""
    return Person(
        id=actor.id,
        role=actor.role,
        name=actor.name,
        kecamatan=actor.kecamatan,
        kelurahan=actor.kelurahan,
        rt=actor.rt,
    )


class PersonChanges(BaseModel):
    """What a person may change about their own entry; fields left out stay as they
    are, `preferences: null` goes back to the defaults of their role."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: PersonName = ""
    email: EmailAddress | None = None
    phone: PhoneNumber | None = None
    messaging: MessagingApp = "whatsapp"
    language: Language = "id"
    preferences: Preferences | None = None


class DirectoryEntry(PersonChanges):
    """A person's entry as a city officer writes it: role and area decide which
    reviews, shipments and inspections concern them."""

    role: Role
    kecamatan: Name | None = None
    kelurahan: Name | None = None
    rt: RtNumber | None = None


def changed(person: Person, changes: PersonChanges) -> Person:
    """`person` with the fields `changes` sets (and only those)."""
    return Person.model_validate({**person.model_dump(), **changes.model_dump(exclude_unset=True)})


def entry_person(person_id: str, entry: DirectoryEntry) -> Person:
    return Person.model_validate({"id": person_id, **entry.model_dump()})


# The area fields each role needs, so that "officers of this kelurahan" finds them.
REQUIRED_SCOPE: dict[Role, tuple[str, ...]] = {
    Role.RESIDENT: (),
    Role.RT_HEAD: ("kecamatan", "kelurahan", "rt"),
    Role.KELURAHAN_OFFICER: ("kecamatan", "kelurahan"),
    Role.KECAMATAN_OFFICER: ("kecamatan",),
    Role.CITY_OFFICER: (),
    Role.WAREHOUSE_OFFICER: (),
    Role.SUPERVISOR: (),
}


def problem_with_scope(person: Person, kelurahan_of: dict[str, dict[str, int]]) -> str | None:
    """None if the person's area fits their role and exists; else what is wrong.
    `kelurahan_of`: kecamatan → kelurahan → number of RTs (the area register)."""
    missing = [name for name in REQUIRED_SCOPE[person.role] if getattr(person, name) is None]
    if missing:
        return f"a {person.role.value} needs {' and '.join(missing)}"
    if person.kelurahan is not None and person.kecamatan is None:
        return "a kelurahan needs its kecamatan"
    if person.rt is not None and person.kelurahan is None:
        return "an RT needs its kelurahan"
    if person.kecamatan is not None and person.kecamatan not in kelurahan_of:
        return f"unknown kecamatan {person.kecamatan!r}; known: {', '.join(sorted(kelurahan_of))}"
    known = kelurahan_of.get(person.kecamatan or "", {})
    if person.kelurahan is not None and person.kelurahan not in known:
        return (
            f"kelurahan {person.kelurahan!r} is not in kecamatan {person.kecamatan}; "
            f"known: {', '.join(sorted(known))}"
        )
    return None
