"""The framework-free baselines the benchmarks put beside the services, as processes.

    python -m benchmarks.baselines floor-http | floor-consumer | fastapi

Configured by AMQP_URL, MONGODB_URL, HTTP_PORT and BENCH_NAMESPACE. Same guarantees as
the services, nothing else: MongoDB transactions (snapshot, majority) with an outbox
or inbox row, publisher confirms, ack after commit.

- floor-http: bare Starlette; POST /approve/{id} stores the approval and its outbox row
  in one transaction, answers, then publishes `proposal.approved` (confirmed) and marks
  the row sent — what the proposals service and its relay do, without the kernel;
- floor-consumer: aio-pika; on `proposal.approved`, inbox row + job + outbox row in one
  transaction, publishes `material.reserved` (confirmed), marks it sent, acks;
- fastapi: bare FastAPI; POST /proposals validates a body of the proposal's shape and
  inserts it with an outbox row in one transaction (the HTTP benchmark's baseline).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aio_pika
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

PREFETCH = 16
APPROVED, RESERVED = "proposal.approved", "material.reserved"
Mongo = AsyncMongoClient[dict[str, Any]]
Work = Callable[[AsyncClientSession], Awaitable[None]]


def floor_exchange(namespace: str) -> str:
    return f"{namespace}.floor"


def floor_queue(namespace: str) -> str:
    return f"{namespace}.floor.materials"


def database(namespace: str) -> str:
    return f"{namespace}_floor"


async def in_transaction(client: Mongo, work: Work) -> None:
    async with client.start_session() as session:
        await session.with_transaction(
            work, read_concern=ReadConcern("snapshot"), write_concern=WriteConcern("majority")
        )


class Outbound:
    """One confirmed channel; publish, then mark the outbox row sent."""

    def __init__(self, client: Mongo, namespace: str) -> None:
        self._outbox = client[database(namespace)]["outbox"]
        self._namespace = namespace
        self.exchange: aio_pika.abc.AbstractExchange | None = None
        self.connection: aio_pika.abc.AbstractRobustConnection | None = None

    async def open(self) -> aio_pika.abc.AbstractRobustConnection:
        self.connection = await aio_pika.connect_robust(os.environ["AMQP_URL"])
        channel = await self.connection.channel(publisher_confirms=True)
        self.exchange = await channel.declare_exchange(
            floor_exchange(self._namespace), aio_pika.ExchangeType.TOPIC, durable=True
        )
        return self.connection

    async def publish(self, event_id: str, event_type: str, body: bytes) -> None:
        assert self.exchange is not None
        message = aio_pika.Message(
            body,
            message_id=event_id,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await self.exchange.publish(message, routing_key=event_type, mandatory=True)
        await self._outbox.update_one({"_id": event_id}, {"$set": {"sent": True}})


def envelope(event_type: str, data: dict[str, Any]) -> tuple[str, bytes]:
    event_id = str(uuid.uuid4())
    body = {"event_id": event_id, "type": event_type, "version": 1, "data": data}
    return event_id, json.dumps(body).encode()


# --- floor: HTTP → transaction with an outbox row → confirmed publish -----------------------


def floor_http(namespace: str) -> Starlette:
    client: Mongo = AsyncMongoClient(os.environ["MONGODB_URL"])
    db = client[database(namespace)]
    outbound = Outbound(client, namespace)
    in_flight: set[asyncio.Task[None]] = set()

    async def approve(request: Request) -> JSONResponse:
        proposal_id = request.path_params["proposal_id"]
        body = await request.json()
        event_id, message = envelope(APPROVED, {"proposal_id": proposal_id, **body})

        async def work(session: AsyncClientSession) -> None:
            change = {"$set": {"state": "approved", **body}}
            await db["proposals"].update_one(
                {"_id": proposal_id}, change, upsert=True, session=session
            )
            row = {"_id": event_id, "type": APPROVED, "body": message, "sent": False}
            await db["outbox"].insert_one(row, session=session)

        await in_transaction(client, work)
        task = asyncio.create_task(outbound.publish(event_id, APPROVED, message))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        return JSONResponse({"id": proposal_id, "state": "approved"})

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        connection = await outbound.open()
        yield
        await connection.close()
        await client.close()

    async def ready(_: Request) -> JSONResponse:
        return JSONResponse({"ready": outbound.exchange is not None})

    routes = [Route("/approve/{proposal_id}", approve, methods=["POST"]), Route("/ready", ready)]
    return Starlette(routes=routes, lifespan=lifespan)


# --- floor: consume → transaction with inbox and outbox rows → confirmed publish → ack ------


async def floor_consumer(namespace: str) -> None:
    client: Mongo = AsyncMongoClient(os.environ["MONGODB_URL"])
    db = client[database(namespace)]  # its collections exist: the driver makes them
    outbound = Outbound(client, namespace)
    connection = await outbound.open()
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=PREFETCH)
    queue = await channel.declare_queue(
        floor_queue(namespace), durable=True, arguments={"x-queue-type": "quorum"}
    )
    await queue.bind(floor_exchange(namespace), routing_key=APPROVED)

    async def on_message(incoming: aio_pika.abc.AbstractIncomingMessage) -> None:
        approved = json.loads(incoming.body)
        proposal_id = approved["data"]["proposal_id"]
        event_id, message = envelope(RESERVED, {"proposal_id": proposal_id, "complete": True})

        async def work(session: AsyncClientSession) -> None:
            await db["inbox"].insert_one({"_id": approved["event_id"]}, session=session)
            await db["jobs"].insert_one({"_id": proposal_id, **approved["data"]}, session=session)
            row = {"_id": event_id, "type": RESERVED, "body": message, "sent": False}
            await db["outbox"].insert_one(row, session=session)

        await in_transaction(client, work)
        await outbound.publish(event_id, RESERVED, message)
        await incoming.ack()

    await queue.consume(on_message)
    print("floor consumer ready", flush=True)
    await asyncio.Future()  # until the process is stopped


# --- HTTP baseline: bare FastAPI + PyMongo, insert with an outbox row in a transaction -----


class Draft(BaseModel):
    """The shape of a proposal submission, nothing checked beyond the types."""

    title: str
    area: dict[str, str]
    work_type: str
    dimensions: dict[str, float]
    concrete_grade: str
    location: dict[str, Any]
    problem: str
    households_served: int
    estimated_cost_idr: int
    swadaya: dict[str, Any]


def fastapi_baseline(namespace: str) -> FastAPI:
    client: Mongo = AsyncMongoClient(os.environ["MONGODB_URL"])
    db = client[database(namespace)]
    app = FastAPI()

    @app.post("/proposals", status_code=201)
    async def submit(draft: Draft) -> dict[str, Any]:
        proposal_id = str(uuid.uuid4())
        document = {"_id": proposal_id, "state": "submitted", "draft": draft.model_dump()}
        event_id, message = envelope("proposal.submitted", {"proposal_id": proposal_id})

        async def work(session: AsyncClientSession) -> None:
            await db["proposals"].insert_one(document, session=session)
            row = {"_id": event_id, "type": "proposal.submitted", "body": message, "sent": False}
            await db["outbox"].insert_one(row, session=session)

        await in_transaction(client, work)
        return {"proposal": {"id": proposal_id, "state": "submitted"}}

    @app.get("/ready")
    async def ready() -> dict[str, bool]:
        return {"ready": True}

    return app


def serve(app: Any) -> None:
    port = int(os.environ["HTTP_PORT"])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    uvicorn.Server(config).run()


def main(argv: list[str]) -> None:
    namespace = os.environ["BENCH_NAMESPACE"]
    if argv == ["floor-http"]:
        serve(floor_http(namespace))
    elif argv == ["floor-consumer"]:
        asyncio.run(floor_consumer(namespace))
    elif argv == ["fastapi"]:
        serve(fastapi_baseline(namespace))
    else:
        raise SystemExit("usage: python -m benchmarks.baselines floor-http|floor-consumer|fastapi")


if __name__ == "__main__":
    main(sys.argv[1:])
