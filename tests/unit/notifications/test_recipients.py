"""Who hears of what: the audience table, officers by area, channels by preference."""

from __future__ import annotations

import pytest

from services.notifications.domain.messages import TEMPLATES
from services.notifications.domain.people import Channel, Frequency, Person, Preferences
from services.notifications.domain.recipients import (
    AUDIENCES,
    Audience,
    Recipient,
    Route,
    actor_of,
    recipients_of,
    roles_to_look_up,
    routes_for,
)
from shared.contracts.events import ProposalEvent
from shared.identity import Role
from tests.unit.shared.samples import sample_events

SAMPLES = sample_events()
KEC, KEL = "Telanaipura", "Simpang IV Sipin"

BUDI = Person(
    id="rt-head-budi",
    role=Role.RT_HEAD,
    kecamatan=KEC,
    kelurahan=KEL,
    rt="003",
    email="budi@example.id",
)
ANI = Person(
    id="lurah-ani", role=Role.KELURAHAN_OFFICER, kecamatan=KEC, kelurahan=KEL, email="a@x.id"
)
ANI_ELSEWHERE = Person(
    id="lurah-other", role=Role.KELURAHAN_OFFICER, kecamatan=KEC, kelurahan="Telanaipura"
)
JOKO = Person(id="camat-joko", role=Role.KECAMATAN_OFFICER, kecamatan=KEC)
RINA = Person(id="camat-rina", role=Role.KECAMATAN_OFFICER, kecamatan="Jelutung")
SARI = Person(id="city-sari", role=Role.CITY_OFFICER)
DEDI = Person(id="gudang-dedi", role=Role.WAREHOUSE_OFFICER, email="dedi@x.id")
EKO = Person(id="pengawas-eko", role=Role.SUPERVISOR)
STAFF = [ANI, ANI_ELSEWHERE, JOKO, RINA, SARI, DEDI, EKO]
SITI = Person(id="warga-siti", role=Role.RESIDENT, email="siti@x.id")


def sample(event_type: str) -> ProposalEvent:
    data = SAMPLES[event_type]
    assert isinstance(data, ProposalEvent)
    return data


def heard_by(event_type: str, followers: list[Person] | None = None) -> dict[str, Audience]:
    found = recipients_of(
        event_type, sample(event_type), proposer=BUDI, staff=STAFF, followers=followers or []
    )
    return {r.person_id: r.audience for r in found}


def test_every_templated_event_has_an_audience_and_nothing_else_does() -> None:
    assert set(AUDIENCES) == set(TEMPLATES)


@pytest.mark.parametrize("event_type", sorted(AUDIENCES))
def test_the_proposer_and_the_followers_hear_of_every_step(event_type: str) -> None:
    heard = heard_by(event_type, followers=[SITI])
    assert heard[BUDI.id] is Audience.PROPOSER
    assert heard[SITI.id] is Audience.FOLLOWERS


@pytest.mark.parametrize(
    ("event_type", "officers"),
    [
        ("proposal.submitted", {ANI.id: Audience.KELURAHAN_OFFICERS}),
        ("proposal.resubmitted", {ANI.id: Audience.KELURAHAN_OFFICERS}),
        ("proposal.verified", {JOKO.id: Audience.KECAMATAN_OFFICERS}),
        ("proposal.endorsed", {SARI.id: Audience.CITY_OFFICERS}),
        ("material.reserved", {DEDI.id: Audience.WAREHOUSE}),
        ("material.shortage", {DEDI.id: Audience.WAREHOUSE}),
        ("material.released", {DEDI.id: Audience.WAREHOUSE}),
        ("material.delivered", {DEDI.id: Audience.WAREHOUSE}),
        ("work.completed", {EKO.id: Audience.SUPERVISORS}),
        ("work.started", {}),
        ("proposal.approved", {}),
    ],
)
def test_the_officers_whose_turn_it_is_hear_of_it_in_their_own_area_only(
    event_type: str, officers: dict[str, Audience]
) -> None:
    heard = heard_by(event_type)
    assert {k: v for k, v in heard.items() if k != BUDI.id} == officers


def test_the_handler_looks_up_only_the_roles_an_event_concerns() -> None:
    assert roles_to_look_up("proposal.submitted") == {Role.KELURAHAN_OFFICER}
    assert roles_to_look_up("work.completed") == {Role.SUPERVISOR}
    assert roles_to_look_up("work.started") == set()


def test_a_person_in_several_audiences_hears_once_as_the_most_concerned() -> None:
    heard = recipients_of(
        "proposal.submitted",
        sample("proposal.submitted"),
        proposer=BUDI,
        staff=[ANI],
        followers=[BUDI, ANI],
    )
    assert [(r.person_id, r.audience) for r in heard] == [
        (ANI.id, Audience.KELURAHAN_OFFICERS),
        (BUDI.id, Audience.PROPOSER),
    ]


def test_a_proposer_missing_from_the_directory_still_hears_as_an_rt_head() -> None:
    (only,) = recipients_of("work.started", sample("work.started"))
    assert only.person_id == "rt-head-budi"
    assert only.person.role is Role.RT_HEAD
    assert only.audience is Audience.PROPOSER


@pytest.mark.parametrize(
    ("event_type", "actor"),
    [
        ("proposal.submitted", "rt-head-budi"),
        ("proposal.verified", "lurah-staff-ani"),
        ("work.started", "rt-head-budi"),
        ("work.validated", "pengawas-eko"),
        ("material.reserved", None),
        ("material.dispatched", None),
    ],
)
def test_the_actor_of_an_event(event_type: str, actor: str | None) -> None:
    assert actor_of(sample(event_type)) == actor


def routes(person: Person, actor: str | None = None) -> list[Route]:
    return routes_for(Recipient(person, Audience.PROPOSER), actor)


def test_an_rt_head_by_default_gets_email_at_once_and_the_feed() -> None:
    assert routes(BUDI) == [
        Route(Channel.EMAIL, Frequency.IMMEDIATELY, "budi@example.id"),
        Route(Channel.IN_APP, Frequency.IMMEDIATELY, BUDI.id),
    ]


def test_nobody_is_emailed_about_what_they_did_themselves() -> None:
    assert routes(BUDI, actor=BUDI.id) == [Route(Channel.IN_APP, Frequency.IMMEDIATELY, BUDI.id)]


def test_a_channel_without_an_address_is_skipped() -> None:
    texted = BUDI.model_copy(
        update={"preferences": Preferences(channels=frozenset(Channel), frequency="immediately")}
    )
    assert [r.channel for r in routes(texted)] == [Channel.EMAIL, Channel.IN_APP]
    with_phone = texted.model_copy(update={"phone": "+6281234567890"})
    assert [r.channel for r in routes(with_phone)] == [Channel.EMAIL, Channel.IN_APP, Channel.SMS]


def test_a_digest_frequency_is_carried_by_the_route_and_the_feed_stays_immediate() -> None:
    weekly = routes(SITI)
    assert weekly == [
        Route(Channel.EMAIL, Frequency.WEEKLY, "siti@x.id"),
        Route(Channel.IN_APP, Frequency.IMMEDIATELY, SITI.id),
    ]


def test_frequency_none_stops_email_and_sms_but_not_the_chosen_feed() -> None:
    quiet = BUDI.model_copy(
        update={
            "preferences": Preferences(
                channels=frozenset({Channel.EMAIL, Channel.IN_APP}), frequency="none"
            )
        }
    )
    assert routes(quiet) == [Route(Channel.IN_APP, Frequency.IMMEDIATELY, BUDI.id)]


def test_a_person_who_wants_nothing_gets_nothing() -> None:
    silent = BUDI.model_copy(
        update={"preferences": Preferences(channels=frozenset(), frequency="none")}
    )
    assert routes(silent) == []
