"""Turn every step of a job into notifications for the people concerned."""

from __future__ import annotations

import uuid

from services.notifications.adapters.feed import Feed, FeedItem
from services.notifications.domain.messages import TEMPLATES, render
from services.notifications.domain.recipients import recipients_of
from shared.contracts import ReceivedEvent
from shared.contracts.events import ProposalEvent
from shared.storage.unit_of_work import UnitOfWork

# Every event that concerns a proposal has a message template.
NOTIFIED_EVENTS = sorted(TEMPLATES)


async def notify(event: ReceivedEvent, uow: UnitOfWork) -> None:
    assert isinstance(event.data, ProposalEvent)
    envelope = event.envelope
    feed = Feed(uow.db, uow.session)
    for recipient in recipients_of(envelope.type, event.data):
        message = render(envelope.type, event.data, recipient.language)
        await feed.add(
            FeedItem(
                id=uuid.uuid4(),
                recipient_id=recipient.person_id,
                channel=recipient.channel,
                event_id=envelope.event_id,
                event_type=envelope.type,
                proposal_id=event.data.proposal_id,
                title=message.title,
                body=message.body,
                created_at=envelope.occurred_at,
            )
        )
