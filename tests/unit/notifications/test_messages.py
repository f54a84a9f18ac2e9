"""Notification templates: each belongs to a catalogued event, renders in id and en,
names the proposal and tells each reader what they can do next."""

from __future__ import annotations

import pytest

from services.notifications.domain.messages import (
    READERS,
    TEMPLATES,
    email_text,
    proposal_label,
    render,
    sms_text,
)
from services.notifications.domain.people import Language
from services.notifications.domain.recipients import AUDIENCES, Audience
from shared.contracts.catalogue import CATALOGUE
from shared.contracts.events import ProposalEvent
from tests.unit.shared.samples import AREA, sample_events

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
def test_every_template_renders(event_type: str, language: Language) -> None:
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
        (
            "id",
            'Kota menyetujui "Rabat beton Gang Mawar" (RT 003, Simpang IV Sipin) '
            "dengan anggaran Rp 150,000,000.",
        ),
        (
            "en",
            'The city approved "Rabat beton Gang Mawar" (RT 003, Simpang IV Sipin) '
            "with a budget of Rp 150,000,000.",
        ),
    ],
)
def test_the_approved_message_shows_the_budget_with_thousands_separators(
    language: Language, expected: str
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


def test_the_new_lifecycle_events_have_templates() -> None:
    new = {
        "proposal.resubmitted",
        "proposal.withdrawn",
        "proposal.cancelled",
        "work.returned",
        "material.released",
    }
    assert new <= set(TEMPLATES)


def test_every_catalogued_proposal_event_has_a_template() -> None:
    proposal_events = {
        event_type
        for (event_type, _), contract in CATALOGUE.items()
        if issubclass(contract.data_model, ProposalEvent)
    }
    assert proposal_events == set(TEMPLATES)


@pytest.mark.parametrize("event_type", sorted(TEMPLATES))
def test_everyone_who_hears_of_an_event_is_told_what_they_can_do_next(event_type: str) -> None:
    data = proposal_sample(event_type)
    for audience in AUDIENCES[event_type]:
        for language in ("id", "en"):
            message = render(event_type, data, language, reader=READERS[audience])
            assert message.next_step.strip(), (event_type, audience, language)


def test_a_message_names_the_proposal_by_title_once_known() -> None:
    data = proposal_sample("work.started")
    titled = render("work.started", data, "en", title="Rabat beton Gang Mawar")
    assert '"Rabat beton Gang Mawar" (RT 003, Simpang IV Sipin)' in titled.body
    untitled = render("work.started", data, "en")
    assert "the proposal of RT 003, Simpang IV Sipin" in untitled.body


def test_a_sentence_that_starts_with_the_proposal_starts_with_a_capital() -> None:
    message = render("proposal.returned", proposal_sample("proposal.returned"), "id")
    assert message.body.startswith("Usulan RT 003, Simpang IV Sipin dikembalikan oleh kecamatan")


def test_a_closed_value_is_translated() -> None:
    data = proposal_sample("proposal.returned").model_copy(update={"level": "city"})
    assert "dikembalikan oleh kota" in render("proposal.returned", data, "id").body
    assert "returned by the city" in render("proposal.returned", data, "en").body


def test_an_empty_optional_part_is_left_out() -> None:
    data = proposal_sample("proposal.withdrawn")
    with_reason = render("proposal.withdrawn", data, "en")
    assert "Reason: a private donor paved it." in with_reason.body
    without = render("proposal.withdrawn", data.model_copy(update={"reason": ""}), "en")
    assert "Reason" not in without.body
    assert without.body.endswith("was withdrawn by its proposer.")


def test_material_lines_read_as_quantities() -> None:
    message = render("material.reserved", proposal_sample("material.reserved"), "en")
    assert "cement 493 bag, sand 41.1 m3, gravel 43.3 m3" in message.body
    assert "72 m³" in message.body


def test_the_next_step_depends_on_the_reader() -> None:
    data = proposal_sample("proposal.submitted")
    reviewer = render("proposal.submitted", data, "en", reader="reviewer")
    proposer = render("proposal.submitted", data, "en", reader="proposer")
    follower = render("proposal.submitted", data, "en", reader="follower")
    assert reviewer.body == proposer.body == follower.body
    assert "verify it or return it" in reviewer.next_step
    assert proposer.next_step == "You will hear of every step."
    assert "unfollow" in follower.next_step


def test_the_text_is_what_happened_then_what_to_do() -> None:
    message = render("work.completed", proposal_sample("work.completed"), "en", reader="supervisor")
    assert message.text == f"{message.body} {message.next_step}"
    assert "validate it or return it with a reason" in message.text


def test_every_audience_has_a_reader_kind() -> None:
    assert set(READERS) == set(Audience)


def test_labels_of_a_proposal() -> None:
    assert proposal_label(AREA, None, "id") == "usulan RT 003, Simpang IV Sipin"
    assert proposal_label(AREA, "Drain", "en") == '"Drain" (RT 003, Simpang IV Sipin)'


def test_an_email_ends_with_how_to_change_preferences() -> None:
    text = email_text("Something happened.", "id")
    assert text.startswith("Something happened.\n\n-- \n")
    assert "Atur cara dan seberapa sering" in text


def test_an_sms_is_short() -> None:
    text = sms_text("Kemajuan 40%", "x" * 1000, "id")
    assert text.startswith("Berdaya: Kemajuan 40%. x")
    assert len(text) == 480 and text.endswith("…")
