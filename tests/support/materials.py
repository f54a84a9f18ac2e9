"""Helpers for the materials service's tests: the service with a client of its API,
receive stock, run a handler, read what it wrote and emitted."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from httpx import AsyncClient, Response

from services.materials.adapters.stock import StockRepository
from services.materials.domain.stock import levels_from_ledger
from services.materials.service.handlers import EventHandlers
from shared.contracts import Envelope, ReceivedEvent, new_envelope
from shared.contracts.types import Contract
from shared.identity import Actor
from shared.runtime import ServiceRuntime
from shared.slots import Level
from shared.storage import outbox
from shared.storage.unit_of_work import UnitOfWork
from tests.support.events import proposal_approved
from tests.support.infrastructure import Infrastructure
from tests.support.people import RT_HEAD, WAREHOUSE_OFFICER, auth
from tests.support.processes import start_service, wait_ready
from tests.support.runtime import asgi_client, publish_envelopes, running_service

CENTRAL, SOUTH = "Gudang Kota Jambi", "Gudang Jambi Selatan"
# The README's road (150 m x 4 m x 0.12 m, K-175, 5 % waste) in the stocked units.
ROAD_BILL = {"cement": 493.0, "sand": 41.1, "gravel": 43.3}


@dataclass
class MaterialsApi:
    """The materials service in this event loop: its runtime, a client of its HTTP API,
    and its event handlers (to run one without the broker, see `handle`)."""

    runtime: ServiceRuntime
    api: AsyncClient
    handlers: EventHandlers

    async def job(self, proposal_id: uuid.UUID) -> dict[str, Any]:
        response = await self.api.get(f"/jobs/{proposal_id}", headers=auth(RT_HEAD))
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        return job

    async def reserved(self, proposal_id: uuid.UUID) -> dict[str, float]:
        lines = job_lines(await self.job(proposal_id))
        return {item: line["reserved"] for item, line in lines.items()}

    async def stock(self, **params: str) -> dict[tuple[str, str], dict[str, float]]:
        response = await self.api.get(
            "/stock", params={**params, "page_size": "100"}, headers=auth(WAREHOUSE_OFFICER)
        )
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["total"] <= 100, "more balances than one page: read the next pages"
        return {(b["warehouse"], b["item"]): b for b in page["items"]}

    async def approved_road(self, stock: dict[str, float] | None = None) -> uuid.UUID:
        """Stock (the whole bill by default) received, then a road approved."""
        await receive_stock(self.api, ROAD_BILL if stock is None else stock)
        approved = proposal_approved()
        await handle(self.runtime, self.handlers, approved)
        return approved.proposal_id

    async def dispatch(self, proposal_id: uuid.UUID, **body: Any) -> Response:
        return await self.api.post(
            f"/jobs/{proposal_id}/shipments",
            json={"warehouse": CENTRAL, "note": "truck BH 1234 XY, driver Andi", **body},
            headers=auth(WAREHOUSE_OFFICER),
        )

    async def confirm(
        self, shipment_id: str, lines: list[dict[str, Any]], actor: Actor = RT_HEAD
    ) -> Response:
        return await self.api.post(
            f"/shipments/{shipment_id}/receipt", json={"lines": lines}, headers=auth(actor)
        )


@asynccontextmanager
async def materials_api(infra: Infrastructure, namespace: str) -> AsyncIterator[MaterialsApi]:
    async with (
        running_service("materials", infra, namespace) as (runtime, app),
        asgi_client(app) as api,
    ):
        yield MaterialsApi(runtime, api, EventHandlers(app.state.reference))


async def receive_stock(
    api: AsyncClient,
    lines: dict[str, float],
    warehouse: str = CENTRAL,
    receipt_id: str | None = None,
) -> Response:
    """A warehouse officer receives `lines` (item → quantity) over HTTP."""
    body: dict[str, Any] = {
        "warehouse": warehouse,
        "supplier": "CV Bangun Jaya",
        "lines": [{"item": item, "quantity": q} for item, q in lines.items()],
    }
    if receipt_id is not None:
        body["receipt_id"] = receipt_id
    return await api.post("/stock/receipts", json=body, headers=auth(WAREHOUSE_OFFICER))


async def handle(
    runtime: ServiceRuntime, handlers: EventHandlers, data: Contract, producer: str = "proposals"
) -> Envelope:
    """Run the materials handler of `data`'s event in a transaction, as the consumer does
    (without the broker and the inbox)."""
    envelope = new_envelope(data, producer=producer, correlation_id="test")
    by_type: dict[str, Callable[[ReceivedEvent[Any], UnitOfWork], Awaitable[None]]] = {
        "proposal.approved": handlers.on_proposal_approved,
        "proposal.rejected": handlers.on_proposal_rejected,
        "proposal.cancelled": handlers.on_proposal_cancelled,
        "stock.received": handlers.on_stock_received,
    }
    handler = by_type[envelope.type]
    event = ReceivedEvent(envelope=envelope, data=data)
    await runtime.transactions.run(lambda uow: handler(event, uow), correlation_id="test")
    return envelope


async def emitted(runtime: ServiceRuntime, event_type: str) -> list[dict[str, Any]]:
    """The `data` of every `event_type` the service wrote to its outbox, oldest first."""
    cursor = runtime.db[outbox.COLLECTION].find({"type": event_type}).sort("seq", 1)
    return [json.loads(row["body"])["data"] async for row in cursor]


async def levels(runtime: ServiceRuntime) -> dict[tuple[str, str], Level]:
    """The balance documents, as levels."""
    documents = await StockRepository(runtime.db).balances()
    return {
        (d["warehouse"], d["item"]): Level(on_hand=d["on_hand"], reserved=d["reserved"])
        for d in documents
    }


async def levels_from_the_ledger(runtime: ServiceRuntime) -> dict[tuple[str, str], Level]:
    entries, _ = await StockRepository(runtime.db).entries()
    return levels_from_ledger(entries)


async def assert_levels_match_the_ledger(runtime: ServiceRuntime) -> None:
    """Every balance document equals the sum of its ledger entries (zero if none)."""
    from_ledger = await levels_from_the_ledger(runtime)
    for key, level in (await levels(runtime)).items():
        assert from_ledger.get(key, Level()) == level, key
        assert level.on_hand >= 0 and level.reserved >= 0, key


def job_lines(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {line["item"]: line for line in job["lines"]}


async def queued_approvals(
    infra: Infrastructure, namespace: str, log_dir: Path, count: int, **env: str
) -> None:
    """`count` approvals waiting on the materials service's queue, none handled yet: a
    first run of the service declares its queues, then the approvals are published.
    No stock is received, so each one announces an (empty) reservation and a shortage."""
    first = start_service("materials", infra, namespace, log_dir, **env)
    await asyncio.to_thread(wait_ready, first)
    first.stop()
    approvals = [
        new_envelope(proposal_approved(), producer="proposals", correlation_id=f"c{i}")
        for i in range(count)
    ]
    await publish_envelopes(infra, namespace, approvals)
