"""A steady flow for failover tests: proposals endorsed ahead, then approved in a stream
through the proposals API (each approval reserves a job in materials), a client that
retries like a phone in the field (same Idempotency-Key until it gets an answer), and
a clock of when each committed effect became visible."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from aio_pika.abc import AbstractIncomingMessage
from pymongo.asynchronous.collection import AsyncCollection

from tests.support.people import (
    CITY_OFFICER,
    KECAMATAN,
    KECAMATAN_OFFICER,
    KELURAHAN_OFFICER,
    RT_HEAD,
    auth,
    road_proposal,
)
from tests.support.probe import EventProbe

RETRY_PAUSE = 0.5
REQUEST_SECONDS = 30.0


async def command(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], body: Any, within: float = 120
) -> dict[str, Any]:
    """POST `body` to `path` until it is answered 2xx, with one Idempotency-Key: a
    request lost in a failover is sent again and acts at most once."""
    key = str(uuid.uuid4())
    deadline = time.monotonic() + within
    last = ""
    while time.monotonic() < deadline:
        try:
            response = await client.post(
                path, json=body, headers={**headers, "Idempotency-Key": key}
            )
        except httpx.HTTPError as error:
            last = repr(error)
        else:
            if response.is_success:
                answer: dict[str, Any] = response.json()
                return answer
            # 5xx while a dependency is away; 409 while the first request with this
            # key is still in flight
            if response.status_code < 500 and response.status_code != 409:
                raise AssertionError(f"{path}: {response.status_code} {response.text}")
            last = f"{response.status_code} {response.text[:200]}"
        await asyncio.sleep(RETRY_PAUSE)
    raise AssertionError(f"{path}: no answer within {within} s; last: {last}")


async def endorsed_proposals(proposals_url: str, count: int, concurrency: int = 8) -> list[str]:
    """`count` road proposals created, verified and endorsed, and a ceiling for their
    kecamatan large enough for all of them; returns their ids."""
    async with httpx.AsyncClient(base_url=proposals_url, timeout=REQUEST_SECONDS) as client:
        ceiling = await client.put(
            f"/budgets/{KECAMATAN}/2026",
            json={"ceiling_idr": 1_000_000_000_000},
            headers=auth(CITY_OFFICER),
        )
        assert ceiling.status_code == 200, ceiling.text
        gate = asyncio.Semaphore(concurrency)

        async def one() -> str:
            async with gate:
                created = await command(client, "/proposals", auth(RT_HEAD), road_proposal())
                proposal_id: str = created["proposal"]["id"]
                for step, actor in (("verify", KELURAHAN_OFFICER), ("endorse", KECAMATAN_OFFICER)):
                    await command(client, f"/proposals/{proposal_id}/{step}", auth(actor), {})
                return proposal_id

        return list(await asyncio.gather(*(one() for _ in range(count))))


async def approve_all(proposals_url: str, proposal_ids: list[str], concurrency: int = 4) -> None:
    """Approve each proposal once (retried through any outage), a few at a time."""
    gate = asyncio.Semaphore(concurrency)
    body = {"budget_idr": 1_000_000, "fiscal_year": 2026}
    async with httpx.AsyncClient(base_url=proposals_url, timeout=REQUEST_SECONDS) as client:

        async def one(proposal_id: str) -> None:
            async with gate:
                answer = await command(
                    client, f"/proposals/{proposal_id}/approve", auth(CITY_OFFICER), body
                )
                assert answer["proposal"]["state"] == "approved", answer

        await asyncio.gather(*(one(p) for p in proposal_ids))


@dataclass
class EffectClock:
    """Polls a count of committed effects and keeps when each new value was seen."""

    count: Callable[[], Awaitable[int]]
    every: float = 0.1
    samples: list[tuple[float, int]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _poll(self) -> None:
        while True:
            try:
                found = await self.count()
            except Exception:
                found = None  # nobody to ask right now: the gap is what is measured
            if found is not None and (not self.samples or found != self.samples[-1][1]):
                self.samples.append((time.monotonic(), found))
            await asyncio.sleep(self.every)

    def latest(self) -> int:
        return self.samples[-1][1] if self.samples else 0

    def first_progress_after(self, fault_at: float, settled: float) -> float | None:
        """Seconds from the fault to the first effect committed after it. Effects
        seen within `settled` seconds of the fault were committed before it (still
        replicating or being announced), however late they became visible."""
        before = max((n for t, n in self.samples if t <= fault_at + settled), default=0)
        for seen_at, found in self.samples:
            if seen_at > fault_at and found > before:
                return seen_at - fault_at
        return None

    def reached(self, target: int) -> float | None:
        return next((t for t, n in self.samples if n >= target), None)


def once_each(messages: list[AbstractIncomingMessage]) -> Counter[str]:
    """Distinct events per proposal (copies of one event id counted once)."""
    distinct = {m.message_id: json.loads(m.body)["data"]["proposal_id"] for m in messages}
    return Counter(distinct.values())


def report_recovery(clock: EffectClock, killed_at: float, done_at: float, settled: float) -> None:
    next_effect = clock.first_progress_after(killed_at, settled)
    assert next_effect is not None
    print(f"recovery: next committed job {next_effect:.1f} s after the kill;")
    print(f"backlog done (every job committed and announced) after {done_at - killed_at:.1f} s")


async def assert_each_once(
    jobs: AsyncCollection[dict[str, Any]],
    probe: EventProbe,
    endorsed: list[str],
    kinds: Sequence[str],
) -> int:
    """0 lost, 0 doubled: one job per approval, one event id per proposal and kind of
    event; returns how many repeated copies of an event id went over the wire (the
    outbox republished them; consumers drop them)."""
    per_proposal = Counter([str(d["proposal_id"]) async for d in jobs.find({})])
    assert set(per_proposal) == set(endorsed)
    assert set(per_proposal.values()) == {1}
    for kind in kinds:
        found = once_each(probe.of_type(kind))
        assert set(found) == set(endorsed), kind
        assert set(found.values()) == {1}, f"{kind} doubled"
    return len(probe.messages) - sum(len({m.message_id for m in probe.of_type(k)}) for k in kinds)
