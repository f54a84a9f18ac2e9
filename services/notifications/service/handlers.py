"""Turn every step of a job into notifications for the people and systems concerned.

Inside the consumer's transaction (with the inbox) the handler only decides and
writes: the in-app feed entries, and one delivery per (event, recipient, channel) for
e-mail, SMS and webhooks. It sends nothing itself; the dispatcher does, after commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from services.notifications.adapters.deliveries import Deliveries
from services.notifications.adapters.directory import Directory, Follows
from services.notifications.adapters.endpoints import Endpoints
from services.notifications.adapters.feed import Feed, FeedItem
from services.notifications.adapters.proposals import KnownProposal, KnownProposals
from services.notifications.domain import deliveries
from services.notifications.domain.deliveries import About, DeliveryChannel, NotificationDelivery
from services.notifications.domain.messages import READERS, TEMPLATES, proposal_label, render
from services.notifications.domain.people import Channel, unknown_person
from services.notifications.domain.recipients import (
    Audience,
    Recipient,
    actor_of,
    audiences_of,
    recipients_of,
    roles_to_look_up,
    routes_for,
)
from shared.clock import utc_now
from shared.contracts import CATALOGUE, ReceivedEvent
from shared.contracts.events import NotificationSentV1, ProposalEvent, ProposalStep
from shared.identity import Role
from shared.storage.unit_of_work import UnitOfWork

# Every event that concerns a proposal has a message template.
NOTIFIED_EVENTS = sorted(TEMPLATES)


def _notified_models() -> list[type[ProposalStep]]:
    """The payload model (newest version) of each notified event."""
    models: list[type[ProposalStep]] = []
    for event_type in NOTIFIED_EVENTS:
        model = CATALOGUE.newest(event_type).data_model
        if not issubclass(model, ProposalStep):
            raise TypeError(f"{event_type} has a template but is no proposal step")
        models.append(model)
    return models


NOTIFIED_MODELS = _notified_models()


DueChannels = Callable[[set[DeliveryChannel]], None]


class Notifier:
    """The handler of every notified event; `on_due` hears, once the consumer's
    transaction committed, the channels that now have deliveries to send."""

    def __init__(self, on_due: DueChannels) -> None:
        self._on_due = on_due

    async def __call__(self, event: ReceivedEvent[ProposalStep], uow: UnitOfWork) -> None:
        rows = await notify(event, uow)
        due = {row.channel for row in rows if not row.batched}
        if due:
            uow.after_commit(lambda: self._on_due(due))


async def notify(event: ReceivedEvent[ProposalStep], uow: UnitOfWork) -> list[NotificationDelivery]:
    """Write the feed entries and the deliveries the event calls for; return those."""
    data, envelope = event.data, event.envelope
    now = utc_now()
    about = About(
        event_id=envelope.event_id,
        event_type=envelope.type,
        proposal_id=data.proposal_id,
        occurred_at=envelope.occurred_at,
        correlation_id=envelope.correlation_id,
    )
    # outside the transaction: one commutative upsert on a document every step of the
    # proposal touches (see `remember`); everything below only inserts
    known = await KnownProposals(uow.db).remember(data, envelope.type, envelope.occurred_at, now)
    feed: list[FeedItem] = []
    rows: list[NotificationDelivery] = []
    for recipient in await _recipients(envelope.type, data, uow):
        items, sends = _notify_person(recipient, about, data, known, now)
        feed += items
        rows += sends
    for endpoint in await Endpoints(uow.db, uow.session).subscribed_to(envelope.type):
        rows.append(deliveries.for_endpoint(about, endpoint.id, envelope.model_dump_json(), now))
    # each kind of write in one round trip, however many people are told
    await Feed(uow.db, uow.session).add_all(feed)
    # a feed entry is its delivery: it is there once this transaction commits
    await uow.emit_all([_in_app_sent(item) for item in feed])
    await Deliveries(uow.db, uow.session).add(rows)
    return rows


async def _recipients(event_type: str, data: ProposalEvent, uow: UnitOfWork) -> list[Recipient]:
    followers: list[str] = []
    if Audience.FOLLOWERS in audiences_of(event_type):
        followers = await Follows(uow.db, uow.session).followers_of(data.proposal_id)
    known, staff = await Directory(uow.db, uow.session).concerned(
        [data.proposer_id, *followers], roles_to_look_up(event_type), data.area
    )
    return recipients_of(
        event_type,
        data,
        proposer=known.get(data.proposer_id),
        staff=staff,
        # a follower whose entry was removed still has the feed
        followers=[known.get(i) or unknown_person(i, Role.RESIDENT) for i in followers],
    )


def _notify_person(
    recipient: Recipient,
    about: About,
    data: ProposalEvent,
    known: KnownProposal,
    now: datetime,
) -> tuple[list[FeedItem], list[NotificationDelivery]]:
    """The person's in-app entries, and their e-mail/SMS deliveries."""
    person = recipient.person
    message = render(
        about.event_type,
        data,
        person.language,
        reader=READERS[recipient.audience],
        title=known.title,
    )
    feed: list[FeedItem] = []
    rows: list[NotificationDelivery] = []
    for route in routes_for(recipient, actor_of(data)):
        if route.channel is Channel.IN_APP:
            feed.append(
                FeedItem(
                    id=uuid.uuid4(),
                    recipient_id=person.id,
                    channel=route.channel.value,
                    event_id=about.event_id,
                    event_type=about.event_type,
                    proposal_id=about.proposal_id,
                    title=message.title,
                    body=message.text,
                    created_at=about.occurred_at,
                )
            )
        else:
            label = proposal_label(data.area, known.title, person.language)
            rows.append(deliveries.for_person(about, person, route, message, label, now))
    return feed, rows


def _in_app_sent(item: FeedItem) -> NotificationSentV1:
    return NotificationSentV1(
        notification_id=item.id,
        recipient_id=item.recipient_id,
        channel="in_app",
        about_event_id=item.event_id,
        about_event_type=item.event_type,
        proposal_id=item.proposal_id,
    )
