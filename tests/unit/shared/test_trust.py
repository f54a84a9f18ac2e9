"""Who may publish an event: the catalogue's producer, as the broker vouches for it."""

from __future__ import annotations

import pytest

from shared.contracts.catalogue import CATALOGUE
from shared.messaging import headers
from shared.messaging.trust import broker_user, publisher_refusal, vouched_publisher


def test_each_service_publishes_as_itself_and_the_citys_systems_as_the_integration_user() -> None:
    assert [broker_user(p) for p in ("proposals", "materials", "notifications")] == [
        "proposals",
        "materials",
        "notifications",
    ]
    assert broker_user("city-finance") == broker_user("city-warehouse") == "city-integrations"


@pytest.mark.parametrize(("event_type", "_"), list(CATALOGUE))
def test_an_event_from_its_producers_user_is_taken(event_type: str, _: int) -> None:
    producer = CATALOGUE.newest(event_type).producer
    refusal = publisher_refusal(
        event_type,
        declared_producer=producer,
        catalogue_producer=producer,
        publisher=broker_user(producer),
        checks_users=True,
    )
    assert refusal is None


def test_another_broker_user_is_refused_by_name() -> None:
    refusal = publisher_refusal(
        "material.fulfilled",
        declared_producer="materials",
        catalogue_producer="materials",
        publisher="proposals",
        checks_users=True,
    )
    assert refusal == (
        "untrusted: material.fulfilled must be published by the broker user 'materials'; "
        "this one was published by 'proposals'"
    )


def test_a_message_without_user_id_is_refused() -> None:
    refusal = publisher_refusal(
        "budget.allocated",
        declared_producer="city-finance",
        catalogue_producer="city-finance",
        publisher="",
        checks_users=True,
    )
    assert refusal is not None and "'no user_id'" in refusal


def test_the_envelopes_producer_is_checked_even_under_the_shared_development_user() -> None:
    def refusal(declared: str) -> str | None:
        return publisher_refusal(
            "material.fulfilled",
            declared_producer=declared,
            catalogue_producer="materials",
            publisher="guest",
            checks_users=False,
        )

    assert refusal("materials") is None
    assert refusal("proposals") == (
        "untrusted: material.fulfilled is produced by materials, "
        "but this one says it comes from 'proposals'"
    )


def test_the_vouched_header_counts_only_on_a_copy_the_service_made_itself() -> None:
    header = {headers.VOUCHED_PUBLISHER: b"materials"}
    # our own retry copy / replay: the first publisher travels in the header
    assert vouched_publisher("proposals", header, own_user="proposals") == "materials"
    # anyone else's message: the broker's user_id, whatever the header claims
    assert vouched_publisher("notifications", header, own_user="proposals") == "notifications"
    assert vouched_publisher(None, header, own_user="proposals") == ""
    # our own message without the header: ourselves
    assert vouched_publisher("proposals", {}, own_user="proposals") == "proposals"
