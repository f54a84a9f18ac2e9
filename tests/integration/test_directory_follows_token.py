"""The people directory follows each person's latest token: a new role or area in the
token updates their entry on their next call, once; calls with an unchanged token
write nothing (watched on MongoDB's change stream)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio

from shared.identity import Actor, Role
from shared.runtime import ServiceRuntime
from tests.support.infrastructure import Infrastructure
from tests.support.notifications import channel_settings, notifications_api
from tests.support.people import auth

Service = tuple[ServiceRuntime, httpx.AsyncClient]
ANI = Actor(
    id="lurah-staff-ani",
    role=Role.KELURAHAN_OFFICER,
    name="Ani",
    kecamatan="Telanaipura",
    kelurahan="Simpang IV Sipin",
)
# Ani, moved to the kecamatan office of Jelutung: her provider's token says so now.
ANI_MOVED = Actor(id=ANI.id, role=Role.KECAMATAN_OFFICER, name="Ani", kecamatan="Jelutung")


@pytest_asyncio.fixture(loop_scope="session")
async def service(infra: Infrastructure, namespace: str) -> AsyncIterator[Service]:
    async with notifications_api(infra, namespace, **channel_settings()) as found:
        yield found


async def updates_while(runtime: ServiceRuntime, calls: Any) -> list[dict[str, Any]]:
    """The changes to the people collection while `calls` runs: read up to a marker
    written after it, so that none still on its way is missed."""
    people = runtime.db["people"]
    marker = f"marker-{uuid.uuid4()}"
    changes = []
    async with await people.watch(max_await_time_ms=200) as stream:
        await calls()
        await people.insert_one({"_id": marker})
        async with asyncio.timeout(10):
            async for change in stream:
                if change["documentKey"]["_id"] == marker:
                    break
                changes.append(change)
    await people.delete_one({"_id": marker})
    return changes


async def test_the_entry_follows_the_latest_tokens_role_and_area(service: Service) -> None:
    runtime, api = service
    saved = await api.patch("/people/me", json={"language": "en"}, headers=auth(ANI))
    assert saved.status_code == 200, saved.text

    async def same_token() -> None:
        for _ in range(3):
            assert (await api.get("/people/me", headers=auth(ANI))).status_code == 200
            assert (await api.get("/notifications", headers=auth(ANI))).status_code == 200

    assert await updates_while(runtime, same_token) == []

    async def moved() -> None:
        for _ in range(3):
            assert (await api.get("/notifications", headers=auth(ANI_MOVED))).status_code == 200

    changes = await updates_while(runtime, moved)
    assert len(changes) == 1  # the first call with the new token; the others found it done
    assert changes[0]["updateDescription"]["updatedFields"] == {
        "role": "kecamatan_officer",
        "kecamatan": "Jelutung",
        "kelurahan": None,
    }
    me = (await api.get("/people/me", headers=auth(ANI_MOVED))).json()["person"]
    assert (me["role"], me["kecamatan"], me["kelurahan"], me["rt"]) == (
        "kecamatan_officer",
        "Jelutung",
        None,
        None,
    )
    assert me["language"] == "en"  # what she chose stays

    back = (await api.get("/people/me", headers=auth(ANI))).json()["person"]
    assert (back["role"], back["kelurahan"]) == ("kelurahan_officer", "Simpang IV Sipin")


async def test_a_call_without_an_entry_makes_none(service: Service) -> None:
    runtime, api = service
    nobody = Actor(id="warga-baru", role=Role.RESIDENT)
    assert (await api.get("/notifications", headers=auth(nobody))).status_code == 200
    assert await runtime.db["people"].find_one({"_id": nobody.id}) is None
