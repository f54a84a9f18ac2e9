"""A process that opens a MongoDB transaction, writes one document and never ends it:
killed with SIGKILL, it leaves the transaction to the server, as a service killed in
the middle of a use case does.

    python -m tests.support.orphan_transaction MONGODB_URL DATABASE COLLECTION DOCUMENT_ID

It prints `holding` once the write is in (the document is then locked to every other
transaction), and sleeps until killed.
"""

from __future__ import annotations

import asyncio
import sys

from pymongo import AsyncMongoClient

HOLDING = "holding"


async def hold(url: str, database: str, collection: str, document_id: str) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(url)
    session = client.start_session()
    await session.start_transaction()
    await client[database][collection].update_one(
        {"_id": document_id}, {"$inc": {"writes": 1}}, upsert=True, session=session
    )
    print(HOLDING, flush=True)
    await asyncio.Event().wait()  # until SIGKILL


if __name__ == "__main__":
    asyncio.run(hold(*sys.argv[1:5]))
