"""The people directory and who follows which proposal, in MongoDB."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Final

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession

from services.notifications.domain.people import Person
from shared.contracts.types import Area
from shared.identity import Actor, Role
from shared.storage.documents import from_document, to_document
from shared.storage.mongo import Database, Document

PEOPLE = "people"
FOLLOWS = "follows"

# The key a person's document keeps each field under, by the domain's field name. The
# same names today; renaming a field of the domain changes its name here and keeps the
# key, so the documents written before are read as they are and the queries below
# (`role`, `kecamatan`, …) stay right: no migration.
PERSON_KEYS: Final[dict[str, str]] = {
    "id": "id",
    "role": "role",
    "name": "name",
    "kecamatan": "kecamatan",
    "kelurahan": "kelurahan",
    "rt": "rt",
    "email": "email",
    "phone": "phone",
    "messaging": "messaging",
    "language": "language",
    "preferences": "preferences",
}
_PERSON_FIELDS: Final = {key: name for name, key in PERSON_KEYS.items()}


def document_of(person: Person) -> Document:
    """The document a person's entry is stored as."""
    fields = to_document(person, person.id)
    document = {"_id": fields.pop("_id")}
    document.update((PERSON_KEYS[name], value) for name, value in fields.items())
    return document


def person_of(document: Document) -> Person:
    """The person a stored document holds. A key no field maps is passed on as it is,
    for the domain to refuse (it takes no unknown field)."""
    return from_document(Person, {_PERSON_FIELDS.get(k, k): v for k, v in document.items()})


async def create_indexes(db: Database) -> None:
    await db[PEOPLE].create_indexes([IndexModel([("role", ASCENDING), ("kecamatan", ASCENDING)])])
    await db[FOLLOWS].create_indexes(
        [
            IndexModel([("proposal_id", ASCENDING), ("person_id", ASCENDING)], unique=True),
            IndexModel([("person_id", ASCENDING), ("since", ASCENDING)]),
        ]
    )


class Directory:
    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        self._people = db[PEOPLE]
        self._session = session

    async def get(self, person_id: str) -> Person | None:
        found = await self._people.find_one({"_id": person_id}, session=self._session)
        return None if found is None else person_of(found)

    async def concerned(
        self, person_ids: Collection[str], roles: Collection[Role], area: Area
    ) -> tuple[dict[str, Person], list[Person]]:
        """The entries of `person_ids` (by id; those with none are missing), and the people
        of `roles` who may cover `area` (the domain decides who does) — in one query, as
        every event asks for both."""
        ids = set(person_ids)
        role_names = {role.value for role in roles}
        kecamatan = (None, area.kecamatan)
        clauses: list[Document] = []
        if ids:
            clauses.append({"_id": {"$in": sorted(ids)}})
        if role_names:
            clauses.append({"role": {"$in": sorted(role_names)}, "kecamatan": {"$in": kecamatan}})
        if not clauses:
            return {}, []
        cursor = self._people.find({"$or": clauses}, session=self._session)
        found = [document async for document in cursor]
        named = {d["_id"]: person_of(d) for d in found if d["_id"] in ids}
        staff = [
            person_of(d)
            for d in found
            if d.get("role") in role_names and d.get("kecamatan") in kecamatan
        ]
        return named, staff

    async def save(self, person: Person) -> None:
        await self._people.replace_one(
            {"_id": person.id}, document_of(person), upsert=True, session=self._session
        )

    async def follow_token(self, actor: Actor) -> bool:
        """Bring `actor`'s entry, if there is one, in line with the role and area their
        latest token says: one conditional update that matches (and writes) nothing
        when they agree already, so it is safe on every request and idempotent. True
        when the entry changed."""
        scope = {
            "role": actor.role.value,
            "kecamatan": actor.kecamatan,
            "kelurahan": actor.kelurahan,
            "rt": actor.rt,
        }
        result = await self._people.update_one(
            {"_id": actor.id, "$or": [{name: {"$ne": value}} for name, value in scope.items()]},
            {"$set": scope},
            session=self._session,
        )
        return result.modified_count == 1

    async def remove(self, person_id: str) -> bool:
        result = await self._people.delete_one({"_id": person_id}, session=self._session)
        return result.deleted_count == 1

    async def search(
        self, role: Role | None, kecamatan: str | None, *, skip: int, limit: int
    ) -> tuple[list[Person], int]:
        """One page of the entries that match, by id, and how many match in all."""
        query: Document = {}
        if role is not None:
            query["role"] = role.value
        if kecamatan is not None:
            query["kecamatan"] = kecamatan
        total = await self._people.count_documents(query, session=self._session)
        cursor = self._people.find(query, session=self._session).sort("_id", ASCENDING)
        found = [person_of(d) async for d in cursor.skip(skip).limit(limit)]
        return found, total


class Follows:
    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        self._follows = db[FOLLOWS]
        self._session = session

    async def follow(self, proposal_id: uuid.UUID, person_id: str, now: datetime) -> None:
        await self._follows.update_one(
            {"_id": f"{proposal_id}:{person_id}"},
            {"$setOnInsert": {"proposal_id": proposal_id, "person_id": person_id, "since": now}},
            upsert=True,
            session=self._session,
        )

    async def unfollow(self, proposal_id: uuid.UUID, person_id: str) -> bool:
        result = await self._follows.delete_one(
            {"_id": f"{proposal_id}:{person_id}"}, session=self._session
        )
        return result.deleted_count == 1

    async def followers_of(self, proposal_id: uuid.UUID) -> list[str]:
        cursor = self._follows.find({"proposal_id": proposal_id}, session=self._session)
        return [d["person_id"] async for d in cursor]

    async def followed_by(self, person_id: str) -> list[uuid.UUID]:
        cursor = self._follows.find({"person_id": person_id}, session=self._session).sort(
            "since", ASCENDING
        )
        return [d["proposal_id"] async for d in cursor]
