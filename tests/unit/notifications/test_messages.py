"""Notification templates: each belongs to a catalogued event and renders in id and en."""

from __future__ import annotations

import pytest

from services.notifications.domain.messages import TEMPLATES, render
from shared.contracts.catalogue import CATALOGUE
from shared.contracts.events import ProposalEvent
from tests.unit.shared.samples import sample_events

SAMPLES = sample_events()
EVENT_TYPES = {event_type for event_type, _version in CATALOGUE}


def proposal_sample(event_type: str) -> ProposalEvent:
    data = SAMPLES[event_type]
    assert isinstance(data, ProposalEvent), f"{event_type} is not a proposal event"
    return data


def test_every_template_is_for_a_catalogued_event_type() -> None:
    assert set(TEMPLATES) <= EVENT_TYPES, set(TEMPLATES) - EVENT_TYPES


def test_every_templated_event_carries_the_proposal_keys() -> None:
    # render() and the recipients need proposer_id, which only proposal events carry.
    for event_type in TEMPLATES:
        assert issubclass(CATALOGUE[(event_type, 1)].data_model, ProposalEvent), event_type


@pytest.mark.parametrize("language", ["id", "en"])
@pytest.mark.parametrize("event_type", sorted(TEMPLATES))
def test_every_template_renders(event_type: str, language: str) -> None:
    message = render(event_type, proposal_sample(event_type), language)
    assert message.title.strip()
    assert message.body.strip()
    for text in (message.title, message.body):
        assert "{" not in text and "}" not in text, text


@pytest.mark.parametrize("event_type", sorted(TEMPLATES))
def test_the_two_languages_differ(event_type: str) -> None:
    data = proposal_sample(event_type)
    assert render(event_type, data, "id").body != render(event_type, data, "en").body


def test_indonesian_is_the_default_language() -> None:
    data = proposal_sample("work.started")
    assert render("work.started", data) == render("work.started", data, "id")
    assert render("work.started", data).title == "Pekerjaan dimulai"


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("id", 'Kota menyetujui "Rabat beton Gang Mawar" dengan anggaran Rp 150,000,000.'),
        ("en", 'The city approved "Rabat beton Gang Mawar" with a budget of Rp 150,000,000.'),
    ],
)
def test_the_approved_message_shows_the_budget_with_thousands_separators(
    language: str, expected: str
) -> None:
    message = render("proposal.approved", proposal_sample("proposal.approved"), language)
    assert expected in message.body


def test_the_returned_message_names_level_and_reason() -> None:
    message = render("proposal.returned", proposal_sample("proposal.returned"), "en")
    assert "kecamatan" in message.body
    assert "the lane length does not match the sketch" in message.body


def test_the_progress_message_shows_the_percent() -> None:
    message = render("work.progress_reported", proposal_sample("work.progress_reported"), "id")
    assert message.title == "Kemajuan 40%"
    assert "40%" in message.body
