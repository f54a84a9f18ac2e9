"""The people directory's rules: defaults by role, changes a person makes, areas."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.notifications.domain.people import (
    DEFAULT_PREFERENCES,
    Channel,
    DirectoryEntry,
    Frequency,
    Person,
    PersonChanges,
    Preferences,
    changed,
    entry_person,
    from_actor,
    problem_with_scope,
)
from shared.identity import Actor, Role
from shared.reference.areas import area_register

REGISTER = area_register().rt_counts


def test_every_role_has_defaults() -> None:
    assert set(DEFAULT_PREFERENCES) == set(Role)


@pytest.mark.parametrize(
    ("role", "frequency"),
    [
        (Role.RT_HEAD, Frequency.IMMEDIATELY),
        (Role.RESIDENT, Frequency.WEEKLY),
        (Role.KELURAHAN_OFFICER, Frequency.DAILY),
        (Role.KECAMATAN_OFFICER, Frequency.DAILY),
        (Role.CITY_OFFICER, Frequency.DAILY),
        (Role.WAREHOUSE_OFFICER, Frequency.IMMEDIATELY),
        (Role.SUPERVISOR, Frequency.DAILY),
    ],
)
def test_defaults_by_role(role: Role, frequency: Frequency) -> None:
    preferences = Person(id="x", role=role).effective_preferences
    assert preferences.frequency is frequency
    assert preferences.channels == {Channel.EMAIL, Channel.IN_APP}


def test_own_preferences_replace_the_defaults() -> None:
    own = Preferences(channels=frozenset({Channel.SMS}), frequency=Frequency.DAILY)
    assert Person(id="x", role=Role.RT_HEAD, preferences=own).effective_preferences == own


def test_preferences_are_stored_as_a_sorted_list() -> None:
    own = Preferences(channels=frozenset({Channel.SMS, Channel.EMAIL}), frequency="daily")
    assert own.model_dump()["channels"] == ["email", "sms"]
    assert Preferences.model_validate(own.model_dump()) == own


def test_a_change_sets_only_what_it_names() -> None:
    budi = Person(id="budi", role=Role.RT_HEAD, email="old@x.id", language="en")
    after = changed(budi, PersonChanges.model_validate({"email": "new@x.id"}))
    assert after.email == "new@x.id"
    assert after.language == "en"
    back_to_defaults = changed(
        after.model_copy(
            update={"preferences": Preferences(channels=frozenset(), frequency="none")}
        ),
        PersonChanges.model_validate({"preferences": None}),
    )
    assert back_to_defaults.preferences is None


def test_a_bad_address_is_refused() -> None:
    with pytest.raises(ValidationError):
        PersonChanges.model_validate({"email": "not an address"})
    with pytest.raises(ValidationError):
        PersonChanges.model_validate({"phone": "call me"})


def test_a_first_entry_comes_from_the_token() -> None:
    actor = Actor(id="siti", role=Role.RESIDENT, kecamatan="Telanaipura")
    assert from_actor(actor) == Person(id="siti", role=Role.RESIDENT, kecamatan="Telanaipura")


def entry(**values: object) -> Person:
    return entry_person("p", DirectoryEntry.model_validate(values))


def test_an_officer_needs_the_area_of_their_role() -> None:
    assert problem_with_scope(
        entry(role="kelurahan_officer", kecamatan="Telanaipura"), REGISTER
    ) == ("a kelurahan_officer needs kelurahan")
    assert problem_with_scope(entry(role="rt_head"), REGISTER) == (
        "a rt_head needs kecamatan and kelurahan and rt"
    )


def test_an_unknown_area_is_named() -> None:
    problem = problem_with_scope(entry(role="kecamatan_officer", kecamatan="Atlantis"), REGISTER)
    assert problem is not None and problem.startswith("unknown kecamatan 'Atlantis'; known:")
    wrong = entry(role="kelurahan_officer", kecamatan="Telanaipura", kelurahan="Legok")
    problem = problem_with_scope(wrong, REGISTER)
    assert problem is not None
    assert problem.startswith("kelurahan 'Legok' is not in kecamatan Telanaipura")


def test_a_proper_entry_has_no_problem() -> None:
    ani = entry(role="kelurahan_officer", kecamatan="Telanaipura", kelurahan="Simpang IV Sipin")
    assert problem_with_scope(ani, REGISTER) is None
    assert problem_with_scope(entry(role="city_officer"), REGISTER) is None
