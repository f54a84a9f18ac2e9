"""Digest periods and digest messages (pure, no I/O).

A daily period runs from one day's digest hour to the next, in the city's time zone;
a weekly one from Monday's digest hour to the next Monday's. A digest is sent once
its period has ended, with every step still waiting for it, grouped by proposal,
the proposal with the latest news first and, inside it, the latest step first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.notifications.domain.deliveries import (
    DeliveryChannel,
    Kind,
    LogEntry,
    NotificationDelivery,
    delivery_id,
)
from services.notifications.domain.messages import Message, phrase
from services.notifications.domain.people import Frequency, Language
from shared.clock import format_timestamp

DAYS_PER_PERIOD = {Frequency.DAILY: 1, Frequency.WEEKLY: 7}


@dataclass(frozen=True)
class Period:
    frequency: Frequency
    start: datetime
    end: datetime

    @property
    def key(self) -> str:
        # part of a digest's unique id: keep it as it is (not `format_timestamp`), or a
        # period's digest would be built again under a second id after an upgrade
        return f"{self.frequency.value}:{self.start.isoformat()}"


@dataclass(frozen=True)
class DigestCalendar:
    """Where periods start. `day_seconds` below 86 400 shortens the "day" (tests, demos).

    Periods are counted in fixed lengths from a Monday at the digest hour, which is
    exact in a zone without daylight saving time, such as Kota Jambi's (WIB).
    """

    timezone: str = "Asia/Jakarta"
    hour: int = 7
    day_seconds: int = 86_400

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)  # an unknown zone stops the service at start, not at 07:00

    @property
    def anchor(self) -> datetime:
        return datetime(2024, 1, 1, self.hour, tzinfo=ZoneInfo(self.timezone))  # a Monday

    def length(self, frequency: Frequency) -> timedelta:
        return timedelta(seconds=self.day_seconds * DAYS_PER_PERIOD[frequency])

    def period_containing(self, instant: datetime, frequency: Frequency) -> Period:
        length = self.length(frequency)
        index = (instant - self.anchor) // length
        start = self.anchor + index * length
        return Period(frequency, start, start + length)

    def last_ended(self, now: datetime, frequency: Frequency) -> Period:
        """The latest period that is over at `now`: its digest is due."""
        current = self.period_containing(now, frequency)
        length = self.length(frequency)
        return Period(frequency, current.start - length, current.start)


@dataclass(frozen=True)
class ProposalNews:
    label: str
    steps: list[NotificationDelivery]  # latest first


def group_latest_first(rows: Sequence[NotificationDelivery]) -> list[ProposalNews]:
    """Steps grouped by proposal; the proposal with the latest step first, and inside
    each group the latest step first."""
    ordered = sorted(rows, key=_when, reverse=True)
    groups: dict[str, list[NotificationDelivery]] = {}
    for row in ordered:
        groups.setdefault(str(row.proposal_id), []).append(row)
    return [ProposalNews(label=steps[0].proposal_label, steps=steps) for steps in groups.values()]


def render_digest(
    rows: Sequence[NotificationDelivery], frequency: Frequency, language: Language
) -> Message:
    """One message for every step in `rows`. Only a proposal's latest step says what
    to do next: what older steps asked may be done already."""
    news = group_latest_first(rows)
    title = phrase(
        "digest",
        f"{frequency.value}_title",
        language,
        events=len(rows),
        proposals=len(news),
    )
    sections = [_section(item) for item in news]
    body = "\n\n".join([phrase("digest", "intro", language), *sections])
    return Message(title=title, body=body)


def _section(news: ProposalNews) -> str:
    latest, *older = news.steps
    lines = [news.label, f"• {latest.title}: {latest.text}"]
    lines += [f"• {step.title}: {step.body}" for step in older]
    return "\n".join(lines)


def _when(row: NotificationDelivery) -> tuple[datetime, datetime]:
    return (row.occurred_at or row.created_at, row.created_at)


def digest_key(recipient_id: str, channel: DeliveryChannel, period: Period) -> str:
    return f"digest:{channel}:{recipient_id}:{period.key}"


def digest_delivery(
    recipient_id: str,
    channel: DeliveryChannel,
    period: Period,
    rows: Sequence[NotificationDelivery],
    now: datetime,
) -> NotificationDelivery:
    """One digest carrying `rows`, to the address and in the language of the latest."""
    latest = max(rows, key=lambda row: row.created_at)
    message = render_digest(rows, period.frequency, latest.language)
    key = digest_key(recipient_id, channel, period)
    return NotificationDelivery(
        id=delivery_id(key),
        key=key,
        kind=Kind.DIGEST,
        channel=channel,
        recipient_id=recipient_id,
        address=latest.address,
        via=latest.via,
        language=latest.language,
        frequency=period.frequency,
        title=message.title,
        body=message.body,
        created_at=now,
        # due at once: its latest step was written before now (and before the period
        # ended), which also keeps it due for a dispatcher whose clock runs behind
        next_attempt_at=latest.created_at,
        includes=[row.id for row in rows],
        correlation_id=key,
        log=[
            LogEntry(
                at=now,
                outcome="waiting",
                detail=(
                    f"{period.frequency.value} digest of {len(rows)} steps, period "
                    f"{format_timestamp(period.start)} to {format_timestamp(period.end)}"
                ),
            )
        ],
    )
