"""Who hears of an event. The foundation tells the proposing RT head of every step."""

from __future__ import annotations

from dataclasses import dataclass

from shared.contracts.events import ProposalEvent


@dataclass(frozen=True)
class Recipient:
    person_id: str
    channel: str = "in_app"
    language: str = "id"


def recipients_of(event_type: str, data: ProposalEvent) -> list[Recipient]:
    return [Recipient(person_id=data.proposer_id)]
