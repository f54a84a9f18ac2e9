"""E-mail duplicates are bounded by what SMTP allows: the notifications service is
killed again and again while it sends e-mail to a real SMTP server, and a delivery
arrives more than once only if it was `sending` with its hand-over (the DATA) begun
at a kill — the one window SMTP cannot close. Every delivery arrives at least once."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from services.notifications.adapters.senders import POSSIBLE_DUPLICATE_HEADER
from shared.settings import database_name
from tests.support.infrastructure import Infrastructure
from tests.support.notifications import JOURNEY, RT_HEAD_ENTRY, journey_event, smtp_sink
from tests.support.people import CITY_OFFICER, RT_HEAD, auth
from tests.support.probe import until_async
from tests.support.processes import ServiceProcess, start_service, wait_ready
from tests.support.runtime import publish_envelopes

PROPOSALS = 12
EMAILS_PER_JOB = 7  # the RT head hears by e-mail of every step he did not take
KILLS = 5
FAST_RECOVERY = {
    "BERDAYA_NOTIFICATION_LEASE_SECONDS": "3",
    "BERDAYA_NOTIFICATION_SEND_TIMEOUT_SECONDS": "2",
    "BERDAYA_NOTIFICATION_POLL_SECONDS": "0.1",
}


async def test_killed_mid_send_a_second_copy_goes_out_only_where_the_first_cannot_be_known(
    infra: Infrastructure, namespace: str, tmp_path: Path
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        infra.mongodb_url, uuidRepresentation="standard", tz_aware=True
    )
    deliveries = client[database_name(namespace, "notifications")]["deliveries"]
    uncertain: set[str] = set()  # `sending`, hand-over begun, when a kill struck
    cut_before_data: set[str] = set()  # `sending`, hand-over not begun
    service: ServiceProcess | None = None
    # a server slow to answer the end of DATA: kills land in the window often
    with smtp_sink(data_delay=0.08) as smtp:
        env = {"BERDAYA_SMTP_HOST": "127.0.0.1", "BERDAYA_SMTP_PORT": str(smtp.port)}

        def start() -> ServiceProcess:
            return start_service(
                "notifications", infra, namespace, tmp_path, **FAST_RECOVERY, **env
            )

        try:
            service = start()
            await asyncio.to_thread(wait_ready, service)
            async with httpx.AsyncClient(base_url=service.url, timeout=10) as api:
                answer = await api.put(
                    f"/people/{RT_HEAD.id}", json=RT_HEAD_ENTRY, headers=auth(CITY_OFFICER)
                )
                assert answer.status_code == 200, answer.text
            events = [journey_event(t, uuid.uuid4()) for _ in range(PROPOSALS) for t in JOURNEY]
            await publish_envelopes(infra, namespace, events)
            for _ in range(KILLS):
                await until_async(
                    lambda: deliveries.count_documents({"status": "sending"}),
                    lambda sending: sending > 0,
                    what="a delivery in flight",
                )
                await asyncio.sleep(random.uniform(0.0, 0.3))
                service.kill()
                async for row in deliveries.find({"status": "sending"}):
                    handed_over = row.get("handing_over_at") is not None
                    (uncertain if handed_over else cut_before_data).add(row["_id"])
                service = start()
                await asyncio.to_thread(wait_ready, service)
            expected = PROPOSALS * EMAILS_PER_JOB
            await until_async(
                lambda: deliveries.count_documents({"channel": "email", "status": "sent"}),
                lambda sent: sent == expected,
                within=90,
                what="every e-mail sent",
            )
            rows = {r["_id"]: r async for r in deliveries.find({"channel": "email"})}
        finally:
            if service is not None:
                service.stop()
            await client.close()

    copies = Counter(str(m["X-Berdaya-Delivery-Id"]) for m in smtp.messages)
    doubled = {i for i, n in copies.items() if n > 1}
    print(
        f"\n{len(rows)} e-mail deliveries, {KILLS} kills: {len(uncertain)} were handing over "
        f"at a kill (uncertain), {len(cut_before_data)} were cut before DATA; copies per "
        f"delivery: {dict(sorted(Counter(copies.values()).items()))} "
        f"({sum(copies.values()) - len(copies)} extra copies)"
    )
    assert set(copies) == set(rows), "every delivery arrives at least once"
    assert doubled <= uncertain, "a second copy only where the first cannot be known sent"
    for delivery_id in doubled:
        found = [m for m in smtp.messages if m["X-Berdaya-Delivery-Id"] == delivery_id]
        assert len({m["Message-ID"] for m in found}) == 1  # the copy is recognisable
        assert found[-1][POSSIBLE_DUPLICATE_HEADER] == "yes"
        assert rows[delivery_id]["possible_duplicate"] is True
    for delivery_id in cut_before_data - uncertain:
        assert copies[delivery_id] == 1
        assert rows[delivery_id]["possible_duplicate"] is False
