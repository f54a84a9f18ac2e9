"""Digest periods and digest messages: latest news first, grouped by proposal."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfoNotFoundError

import pytest

from services.notifications.domain.deliveries import Kind, NotificationDelivery
from services.notifications.domain.digests import (
    DigestCalendar,
    digest_delivery,
    group_latest_first,
    render_digest,
)
from services.notifications.domain.people import Frequency

WIB = timedelta(hours=7)
CALENDAR = DigestCalendar(timezone="Asia/Jakarta", hour=7)
ROAD, DRAIN = uuid.uuid4(), uuid.uuid4()
T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)  # a Monday, 17:00 in Jambi


def step(
    proposal: uuid.UUID, label: str, title: str, minutes: int, **extra: object
) -> NotificationDelivery:
    at = T0 + timedelta(minutes=minutes)
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "key": f"k{uuid.uuid4()}",
        "channel": "email",
        "recipient_id": "siti",
        "address": "siti@x.id",
        "frequency": Frequency.DAILY,
        "batched": True,
        "proposal_id": proposal,
        "proposal_label": label,
        "occurred_at": at,
        "title": title,
        "body": f"{title} happened.",
        "next_step": f"After {title}, do this.",
        "created_at": at,
        "next_attempt_at": at,
        **extra,
    }
    return NotificationDelivery.model_validate(values)


def test_a_daily_period_runs_from_seven_to_seven_in_jambi() -> None:
    period = CALENDAR.period_containing(T0, Frequency.DAILY)
    assert period.start == datetime(2026, 5, 4, 0, 0, tzinfo=UTC)  # 07:00 WIB
    assert period.end - period.start == timedelta(days=1)


def test_a_weekly_period_starts_on_monday_morning() -> None:
    period = CALENDAR.period_containing(T0 + timedelta(days=3), Frequency.WEEKLY)
    assert period.start == datetime(2026, 5, 4, 0, 0, tzinfo=UTC)
    assert (period.start + WIB).weekday() == 0
    assert period.end == period.start + timedelta(days=7)


def test_the_digest_due_is_that_of_the_period_that_just_ended() -> None:
    early_morning = datetime(2026, 5, 4, 23, 59, tzinfo=UTC)  # 06:59 WIB on Tuesday
    assert CALENDAR.last_ended(early_morning, Frequency.DAILY).end == datetime(
        2026, 5, 4, 0, 0, tzinfo=UTC
    )
    after_seven = datetime(2026, 5, 5, 0, 0, tzinfo=UTC)  # 07:00 WIB on Tuesday
    due = CALENDAR.last_ended(after_seven, Frequency.DAILY)
    assert (due.start, due.end) == (
        datetime(2026, 5, 4, 0, 0, tzinfo=UTC),
        datetime(2026, 5, 5, 0, 0, tzinfo=UTC),
    )


def test_a_shorter_day_makes_periods_short_for_tests_and_demos() -> None:
    fast = DigestCalendar(day_seconds=2)
    period = fast.period_containing(T0, Frequency.DAILY)
    assert period.end - period.start == timedelta(seconds=2)
    assert fast.length(Frequency.WEEKLY) == timedelta(seconds=14)


def test_period_keys_differ_by_frequency_and_start() -> None:
    daily = CALENDAR.period_containing(T0, Frequency.DAILY)
    weekly = CALENDAR.period_containing(T0, Frequency.WEEKLY)
    assert daily.key == "daily:2026-05-04T07:00:00+07:00"
    assert weekly.key == "weekly:2026-05-04T07:00:00+07:00"
    assert daily.key != CALENDAR.period_containing(T0 + timedelta(days=1), Frequency.DAILY).key


def test_steps_are_grouped_by_proposal_latest_news_first() -> None:
    rows = [
        step(ROAD, "Road", "verified", 1),
        step(DRAIN, "Drain", "submitted", 2),
        step(ROAD, "Road", "endorsed", 3),
        step(ROAD, "Road", "approved", 5),
        step(DRAIN, "Drain", "verified", 4),
    ]
    news = group_latest_first(rows)
    assert [n.label for n in news] == ["Road", "Drain"]
    assert [s.title for s in news[0].steps] == ["approved", "endorsed", "verified"]
    assert [s.title for s in news[1].steps] == ["verified", "submitted"]


def test_a_digest_says_how_much_and_asks_only_the_latest_next_step() -> None:
    rows = [step(ROAD, "Road", "verified", 1), step(ROAD, "Road", "endorsed", 2)]
    message = render_digest(rows, Frequency.DAILY, "en")
    assert message.title == "Berdaya daily digest: 2 updates on 1 proposals"
    assert message.body.splitlines() == [
        "The latest news comes first.",
        "",
        "Road",
        "• endorsed: endorsed happened. After endorsed, do this.",
        "• verified: verified happened.",
    ]


def test_a_weekly_digest_in_indonesian() -> None:
    message = render_digest([step(ROAD, "Jalan", "x", 1)], Frequency.WEEKLY, "id")
    assert message.title == "Ringkasan mingguan Berdaya: 1 kabar tentang 1 usulan"


def test_a_digest_delivery_carries_its_steps_and_has_one_id_per_period() -> None:
    rows = [step(ROAD, "Road", "verified", 1), step(ROAD, "Road", "endorsed", 2, language="en")]
    period = CALENDAR.period_containing(T0, Frequency.DAILY)
    digest = digest_delivery("siti", "email", period, rows, T0)
    assert digest.kind is Kind.DIGEST
    assert digest.includes == [r.id for r in rows]
    assert digest.language == "en"  # the latest step's: the person's current choice
    assert not digest.batched
    again = digest_delivery("siti", "email", period, rows[:1], T0 + timedelta(hours=1))
    assert again.id == digest.id and again.key == digest.key
    other = digest_delivery("siti", "sms", period, rows, T0)
    assert other.id != digest.id


def test_an_unknown_time_zone_is_refused_at_once() -> None:
    with pytest.raises(ZoneInfoNotFoundError):
        DigestCalendar(timezone="Asia/Atlantis")
