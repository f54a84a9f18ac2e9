"""Use cases of the people directory and of following proposals."""

from __future__ import annotations

import uuid

from pydantic import BaseModel

from services.notifications.adapters.directory import Directory, Follows
from services.notifications.adapters.feed import Feed
from services.notifications.adapters.proposals import KnownProposal, KnownProposals
from services.notifications.domain.people import (
    DirectoryEntry,
    Person,
    PersonChanges,
    changed,
    entry_person,
    from_actor,
    problem_with_scope,
)
from shared.clock import Clock, utc_now
from shared.contracts.types import Area
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.identity import OPERATOR_ROLES, Actor, Role
from shared.logs import get_logger
from shared.reference.areas import area_register
from shared.storage.mongo import Database
from shared.storage.unit_of_work import RecordAnswer, Transactions, UnitOfWork

log = get_logger(__name__)


# Every step of a followed proposal is a notification, and the list of what one follows
# is read whole: a cap far above a person's interest, far below a burden.
MAX_FOLLOWS = 500


class FollowedProposal(BaseModel):
    """A followed proposal as its follower sees it: not who proposed it."""

    proposal_id: uuid.UUID
    area: Area
    title: str | None = None
    published: bool

    @classmethod
    def of(cls, known: KnownProposal) -> FollowedProposal:
        return cls(
            proposal_id=known.proposal_id,
            area=known.area,
            title=known.title,
            published=known.published,
        )


def may_follow(actor: Actor, known: KnownProposal) -> bool:
    """Anyone may follow a published proposal; one not public only in the actor's area."""
    return known.published or actor.covers(known.area)


def no_published_proposal(proposal_id: uuid.UUID) -> NotFound:
    # the same answer whether the proposal is unknown or not public: its existence is not
    return NotFound(
        f"no published proposal {proposal_id} is known here; if it was just published, "
        "try again in a moment"
    )


def require_operator(actor: Actor, doing: str) -> None:
    if actor.role not in OPERATOR_ROLES:
        raise Forbidden(f"only city officers may {doing}; you are signed in as {actor.role.value}")


class PeopleCommands:
    def __init__(self, db: Database, transactions: Transactions, clock: Clock = utc_now) -> None:
        self._db = db
        self._transactions = transactions
        self._clock = clock

    async def follow_token(self, actor: Actor) -> None:
        """The caller's entry follows their latest token's role and area (an officer
        moved to another kelurahan, an RT head who became a resident): the token is
        what the identity provider says now. Entries are made where a person first
        saves something (change_me, follow); a city officer's `put` holds until the
        person's next token says otherwise."""
        if await Directory(self._db).follow_token(actor):
            log.info("directory entry follows the token", person_id=actor.id, role=actor.role)

    async def me(self, actor: Actor) -> Person:
        """My entry; before I saved anything, what the token says, with role defaults."""
        return await Directory(self._db).get(actor.id) or from_actor(actor)

    async def change_me(
        self,
        actor: Actor,
        changes: PersonChanges,
        correlation_id: str,
        *,
        record_answer: RecordAnswer | None = None,
    ) -> Person:
        async def work(uow: UnitOfWork) -> Person:
            directory = Directory(uow.db, uow.session)
            person = changed(await directory.get(actor.id) or from_actor(actor), changes)
            await directory.save(person)
            return person

        return await self._transactions.run(
            work, correlation_id=correlation_id, record_answer=record_answer
        )

    async def put(
        self,
        actor: Actor,
        person_id: str,
        entry: DirectoryEntry,
        correlation_id: str,
        *,
        record_answer: RecordAnswer | None = None,
    ) -> Person:
        require_operator(actor, "manage the people directory")
        person = entry_person(person_id, entry)
        problem = problem_with_scope(person, area_register().rt_counts)
        if problem:
            raise Unprocessable(problem)

        async def work(uow: UnitOfWork) -> Person:
            await Directory(uow.db, uow.session).save(person)
            await uow.audit(
                actor,
                "put_person",
                "person",
                person_id,
                details={"role": person.role, "kecamatan": person.kecamatan},
            )
            return person

        return await self._transactions.run(
            work, correlation_id=correlation_id, record_answer=record_answer
        )

    async def get(self, actor: Actor, person_id: str) -> Person:
        if person_id != actor.id:
            require_operator(actor, "read other people's entries")
        found = await Directory(self._db).get(person_id)
        if found is None:
            raise NotFound(f"nobody with id {person_id!r} is in the directory")
        return found

    async def search(
        self, actor: Actor, role: Role | None, kecamatan: str | None, *, skip: int, limit: int
    ) -> tuple[list[Person], int]:
        """One page of the directory, by id, and how many entries match in all."""
        require_operator(actor, "list the people directory")
        return await Directory(self._db).search(role, kecamatan, skip=skip, limit=limit)

    async def remove(
        self,
        actor: Actor,
        person_id: str,
        correlation_id: str,
        *,
        record_answer: RecordAnswer | None = None,
    ) -> None:
        require_operator(actor, "manage the people directory")

        async def work(uow: UnitOfWork) -> None:
            if not await Directory(uow.db, uow.session).remove(person_id):
                # inside, so that no answer to a key is kept for it
                raise NotFound(f"nobody with id {person_id!r} is in the directory")
            await uow.audit(actor, "delete_person", "person", person_id)

        await self._transactions.run(
            work, correlation_id=correlation_id, record_answer=record_answer
        )

    async def follow(
        self,
        actor: Actor,
        proposal_id: uuid.UUID,
        correlation_id: str,
        *,
        record_answer: RecordAnswer | None = None,
    ) -> FollowedProposal:
        """Follow a published proposal, or one in the actor's own area; a first-time
        follower gets a directory entry from the token."""

        async def work(uow: UnitOfWork) -> FollowedProposal:
            known = await KnownProposals(uow.db, uow.session).get(proposal_id)
            if known is None or not may_follow(actor, known):
                raise no_published_proposal(proposal_id)
            follows = Follows(uow.db, uow.session)
            followed = await follows.followed_by(actor.id)
            if proposal_id not in followed and len(followed) >= MAX_FOLLOWS:
                raise Conflict(
                    f"you follow {len(followed)} proposals, the most one person may; "
                    "stop following one first"
                )
            directory = Directory(uow.db, uow.session)
            if await directory.get(actor.id) is None:
                await directory.save(from_actor(actor))
            await follows.follow(proposal_id, actor.id, self._clock())
            return FollowedProposal.of(known)

        return await self._transactions.run(
            work, correlation_id=correlation_id, record_answer=record_answer
        )

    async def unfollow(
        self,
        actor: Actor,
        proposal_id: uuid.UUID,
        correlation_id: str,
        *,
        record_answer: RecordAnswer | None = None,
    ) -> bool:
        async def work(uow: UnitOfWork) -> bool:
            return await Follows(uow.db, uow.session).unfollow(proposal_id, actor.id)

        return await self._transactions.run(
            work, correlation_id=correlation_id, record_answer=record_answer
        )

    async def mark_read(
        self,
        actor: Actor,
        item_id: uuid.UUID,
        correlation_id: str,
        *,
        record_answer: RecordAnswer | None = None,
    ) -> bool:
        """Mark one of the actor's feed items read; False when it was read already (or is
        not theirs)."""

        async def work(uow: UnitOfWork) -> bool:
            return await Feed(uow.db, uow.session).mark_read(actor.id, item_id)

        return await self._transactions.run(
            work, correlation_id=correlation_id, record_answer=record_answer
        )

    async def following(self, actor: Actor) -> list[FollowedProposal]:
        """What I follow, as far as I may still see it."""
        known = KnownProposals(self._db)
        found = [await known.get(p) for p in await Follows(self._db).followed_by(actor.id)]
        return [
            FollowedProposal.of(proposal)
            for proposal in found
            if proposal is not None and may_follow(actor, proposal)
        ]
