"""One AsyncMongoClient per process; each service owns one database."""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]
Database = AsyncDatabase[Document]


def connect(url: str, app_name: str) -> AsyncMongoClient[Document]:
    # UUIDs are stored as BSON binary subtype 4, the portable representation.
    return AsyncMongoClient(
        url,
        appname=app_name,
        uuidRepresentation="standard",
        tz_aware=True,
        serverSelectionTimeoutMS=5000,
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
