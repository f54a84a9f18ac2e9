"""Text a person types: normalized, trimmed, and refused with control or invisible
formatting characters — in the HTTP bodies and the event contracts alike."""

from __future__ import annotations

import json
import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from services.notifications.domain.people import PersonChanges
from services.proposals.entrypoints.http import Decision
from shared.contracts import InvalidEvent, new_envelope, parse_event
from shared.contracts import events as ev
from shared.contracts.types import PLAIN_LINE, PLAIN_PARAGRAPHS, Name, Text
from tests.unit.shared.samples import sample_events

MAX_BYTES = 256 * 1024

NAME: TypeAdapter[str] = TypeAdapter(Name)
TEXT: TypeAdapter[str] = TypeAdapter(Text)

BIDI = [chr(c) for c in (0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))]
INVISIBLE = ["\u200b", "\u2060", "\ufeff", "\u2028", "\u2029", "\u061c", "\u180e"]
CONTROLS = [chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, 0x85)]
REFUSED_EVERYWHERE = BIDI + INVISIBLE + CONTROLS


def refusal(adapter: TypeAdapter[str], value: str) -> str:
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python(value)
    return str(caught.value.errors()[0]["msg"])


@pytest.mark.parametrize("character", REFUSED_EVERYWHERE, ids=lambda c: f"U+{ord(c):04X}")
def test_a_control_or_invisible_character_is_refused_saying_which(character: str) -> None:
    for adapter in (NAME, TEXT):
        message = refusal(adapter, f"Gang{character}Mawar")
        assert f"character 5 is U+{ord(character):04X}" in message
        assert "control or invisible formatting character" in message


def test_the_trojan_source_override_is_named() -> None:
    assert "RIGHT-TO-LEFT OVERRIDE" in refusal(NAME, "invoice\u202egnp.exe")


def test_line_breaks_and_tabs_are_for_paragraphs_only() -> None:
    assert TEXT.validate_python("first line\n\tsecond line") == "first line\n\tsecond line"
    assert "U+000A" in refusal(NAME, "two\nlines")
    assert "U+0009" in refusal(NAME, "a\ttab")


def test_windows_and_old_mac_line_breaks_become_line_feeds() -> None:
    assert TEXT.validate_python("a\r\nb\rc") == "a\nb\nc"


def test_text_is_trimmed_before_its_length_is_counted() -> None:
    assert NAME.validate_python("  Budi  ") == "Budi"
    with pytest.raises(ValidationError, match="at least 1 character"):
        NAME.validate_python("   ")
    assert len(NAME.validate_python(" " * 10 + "x" * 120 + " " * 10)) == 120


def test_text_is_composed_nfc() -> None:
    decomposed = "Jose\u0301"  # e + combining acute
    assert NAME.validate_python(decomposed) == "Jos\u00e9"


def test_joiners_that_scripts_and_emoji_need_stay() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert NAME.validate_python(f"keluarga {family}") == f"keluarga {family}"


def test_a_lone_surrogate_is_refused() -> None:
    assert "U+D800" in refusal(NAME, "a\ud800b")


def test_the_json_schema_states_the_rule() -> None:
    schema = NAME.json_schema()
    assert schema["pattern"] == PLAIN_LINE.pattern
    assert TEXT.json_schema()["pattern"] == PLAIN_PARAGRAPHS.pattern
    assert re.fullmatch(schema["pattern"], "Gang Mawar")
    assert not re.fullmatch(schema["pattern"], "Gang\u202eMawar")


def test_an_http_body_refuses_it() -> None:
    with pytest.raises(ValidationError, match=r"U\+202E"):
        Decision.model_validate({"reason": "see \u202eattached"})
    with pytest.raises(ValidationError, match=r"U\+200B"):
        PersonChanges.model_validate({"email": "budi\u200b@example.id"})
    with pytest.raises(ValidationError, match=r"U\+0007"):
        PersonChanges.model_validate({"name": "Budi\a"})


def test_an_event_refuses_it_with_a_reason_for_the_dead_letter() -> None:
    sample = sample_events()["proposal.verified"]
    body = sample.model_dump(mode="json") | {"note": "ok\u2066hidden\u2069"}
    with pytest.raises(ValidationError, match=r"U\+2066"):
        ev.ProposalVerifiedV1.model_validate_json(json.dumps(body))


def test_the_envelope_reason_names_the_field_and_the_character() -> None:
    envelope = new_envelope(
        sample_events()["proposal.verified"], producer="proposals", correlation_id="c"
    )
    raw = json.loads(envelope.model_dump_json())
    raw["data"]["verified_by"] = "lurah\u202eina"
    with pytest.raises(InvalidEvent) as caught:
        parse_event(json.dumps(raw).encode(), max_bytes=MAX_BYTES)
    assert "data.verified_by" in caught.value.reason
    assert "U+202E" in caught.value.reason


# -- properties ------------------------------------------------------------------------

plain = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cc", "Cs", "Zl", "Zp"),
        blacklist_characters="".join(BIDI + INVISIBLE),
    ),
    max_size=200,
)


@given(plain)
def test_plain_text_is_kept_composed_and_trimmed(value: str) -> None:
    kept = TEXT.validate_python(value[:2000])
    assert kept == unicodedata.normalize("NFC", value[:2000]).strip()


@given(st.text(max_size=60), st.sampled_from(REFUSED_EVERYWHERE), st.text(max_size=60))
def test_a_refused_character_inside_is_always_refused(
    before: str, character: str, after: str
) -> None:
    value = f"x{before}{character}{after}x"
    with pytest.raises(ValidationError):
        TEXT.validate_python(value)
    with pytest.raises(ValidationError):
        NAME.validate_python(value[:100])


@given(st.text(max_size=300))
def test_whatever_is_accepted_is_clean_and_stable(value: str) -> None:
    try:
        kept = TEXT.validate_python(value)
    except ValidationError:
        return
    assert re.fullmatch(PLAIN_PARAGRAPHS.pattern, kept)
    assert kept == kept.strip() and unicodedata.is_normalized("NFC", kept)
    assert TEXT.validate_python(kept) == kept  # cleaning twice changes nothing
