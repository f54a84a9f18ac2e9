"""One AsyncMongoClient per process; each service owns one database."""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]
Database = AsyncDatabase[Document]


def connect(url: str, app_name: str) -> AsyncMongoClient[Document]:
    # UUIDs are stored as BSON binary subtype 4, the portable representation.
    # Every write waits for a majority of the replica set: one a primary alone holds is
    # rolled back when that primary dies (an outbox row marked sent would be sent again,
    # a lease lost). Writes and reads are retried once after a failover (PyMongo's
    # default, stated here because the services rely on it); transactions are retried
    # by `with_transaction` (shared/storage/unit_of_work.py).
    return AsyncMongoClient(
        url,
        appname=app_name,
        uuidRepresentation="standard",
        tz_aware=True,
        serverSelectionTimeoutMS=5000,
        w="majority",
        retryWrites=True,
        retryReads=True,
    )


# Sooner than server selection gives up: a readiness probe must answer quickly.
PING_SECONDS = 2.0


async def ping(client: AsyncMongoClient[Document]) -> bool:
    try:
        async with asyncio.timeout(PING_SECONDS):
            await client.admin.command("ping")
    except Exception:
        return False
    return True


class NotUsableYet(Exception):
    """MongoDB answers but cannot take this service's work yet."""


async def check_usable(url: str) -> None:
    """Raise unless `url` leads to a writable primary that offers sessions.

    Asked with a client of its own, closed afterwards: a connection made to a node not
    yet initiated as a replica set stays in a client's pool without session support,
    and every transaction on it would then fail ("Sessions are not supported")."""
    probe: AsyncMongoClient[Document] = AsyncMongoClient(url, serverSelectionTimeoutMS=5000)
    try:
        hello = await probe.admin.command("hello")
    finally:
        await probe.close()
    if not hello.get("isWritablePrimary"):
        raise NotUsableYet("not a writable primary (yet): is the replica set initiated?")
    if hello.get("logicalSessionTimeoutMinutes") is None:
        raise NotUsableYet("it offers no sessions: transactions need a replica set")


async def check_transactions(
    client: AsyncMongoClient[Document], collection: AsyncCollection[Document]
) -> None:
    """Raise unless a transaction can read `collection`: a replica set just initiated
    can take writes while this client still sees no session support (until its next
    heartbeat), and every consumer and command needs a transaction."""
    async with client.start_session() as session, await session.start_transaction():
        await collection.find_one({"_id": None}, session=session)
