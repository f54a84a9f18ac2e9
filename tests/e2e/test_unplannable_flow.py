"""The K-175 culvert, end to end through the three services as processes: the flow the
chaos run found hanging now ends in a state the city sees and acts on.

The proposals process runs with work rules that still allow K-175 for a culvert (the
rules changed between submission and approval, or the two services run different
versions of them); materials, with the packaged rules, cannot plan the job. It says so
(`material.unplannable`), the proposal is blocked and its budget released, the RT head
and the city officer are told, and nothing is dead-lettered."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.identity import Actor
from shared.reference.work_rules import DEFAULT_FILE
from tests.support.broker_access import least_privilege_system
from tests.support.flow import until
from tests.support.infrastructure import Infrastructure
from tests.support.notifications import RT_HEAD_ENTRY, SmtpSink
from tests.support.people import (
    CITY_OFFICER,
    KECAMATAN_OFFICER,
    KELURAHAN_OFFICER,
    RT_HEAD,
    auth,
    road_proposal,
)
from tests.support.processes import ServiceProcess, metric

CULVERT = {"length_m": 6, "width_m": 1, "thickness_m": 0.2, "depth_m": 1}
CITY_OFFICER_ENTRY: dict[str, Any] = {"role": "city_officer", "email": "sari@example.id"}


@pytest.fixture
def system(
    infra: Infrastructure, namespace: str, tmp_path: Path, smtp: SmtpSink
) -> Iterator[dict[str, ServiceProcess]]:
    older_rules = tmp_path / "work_rules.toml"
    packaged = DEFAULT_FILE.read_text(encoding="utf-8")
    older_rules.write_text(packaged.replace('culvert = ["K-225"]', 'culvert = ["K-175", "K-225"]'))
    assert older_rules.read_text() != packaged
    env = {
        "notifications": {"BERDAYA_SMTP_HOST": "127.0.0.1", "BERDAYA_SMTP_PORT": str(smtp.port)},
        "proposals": {"BERDAYA_WORK_RULES_FILE": str(older_rules)},
    }
    with least_privilege_system(infra, namespace, tmp_path, env) as services:
        yield services


def test_a_culvert_materials_cannot_plan_is_blocked_its_budget_released_and_people_told(
    system: dict[str, ServiceProcess], smtp: SmtpSink
) -> None:
    proposals = httpx.Client(base_url=system["proposals"].url, timeout=10)
    notifications = httpx.Client(base_url=system["notifications"].url, timeout=10)
    for person, entry in ((RT_HEAD, RT_HEAD_ENTRY), (CITY_OFFICER, CITY_OFFICER_ENTRY)):
        registered = notifications.put(
            f"/people/{person.id}", json=entry, headers=auth(CITY_OFFICER)
        )
        assert registered.status_code == 200, registered.text
    ceiling = proposals.put(
        "/budgets/Telanaipura/2026", json={"ceiling_idr": 500_000_000}, headers=auth(CITY_OFFICER)
    )
    assert ceiling.status_code == 200, ceiling.text

    draft = road_proposal(
        title="Gorong-gorong Gang Mawar",
        work_type="culvert",
        dimensions=CULVERT,
        concrete_grade="K-175",
    )
    created = proposals.post("/proposals", json=draft, headers=auth(RT_HEAD))
    assert created.status_code == 201, created.text
    proposal_id = created.json()["proposal"]["id"]
    for path, actor, body in (
        ("verify", KELURAHAN_OFFICER, {}),
        ("endorse", KECAMATAN_OFFICER, {}),
        ("approve", CITY_OFFICER, {"budget_idr": 60_000_000, "fiscal_year": 2026}),
    ):
        response = proposals.post(
            f"/proposals/{proposal_id}/{path}", json=body, headers=auth(actor)
        )
        assert response.status_code == 200, response.text

    def reserved() -> int:
        budgets = proposals.get("/budgets", params={"year": 2026}).json()
        return int(next(b["reserved_idr"] for b in budgets if b["kecamatan"] == "Telanaipura"))

    # the proposal reaches the blocked state, with the reason, and holds no budget
    view = until(
        lambda: proposals.get(f"/proposals/{proposal_id}", headers=auth(CITY_OFFICER)).json(),
        lambda v: v["proposal"]["state"] == "blocked",
    )
    assert (
        "unknown grade 'K-175' for culvert; allowed: K-225"
        in (view["proposal"]["timeline"][-1]["reason"])
    )
    assert view["allowed_actions"] == ["return", "cancel"]
    assert reserved() == 0

    # the RT head and the city officer are told (the RT head by e-mail at once too)
    def told(person: Actor) -> bool:
        items = notifications.get("/notifications", headers=auth(person)).json()["items"]
        return any(i["event_type"] == "material.unplannable" for i in items)

    for person in (RT_HEAD, CITY_OFFICER):
        until(partial(told, person), bool)
    until(
        lambda: [m["Subject"] for m in smtp.to(RT_HEAD_ENTRY["email"])],
        lambda subjects: "[Berdaya] Pekerjaan tertahan" in subjects,
    )

    # the city returns it to the RT for correction
    returned = proposals.post(
        f"/proposals/{proposal_id}/return",
        json={"reason": "a culvert is built of K-225; correct the grade"},
        headers=auth(CITY_OFFICER),
    )
    assert returned.status_code == 200, returned.text
    assert returned.json()["proposal"]["state"] == "returned"

    for service in system.values():  # a business refusal is an event, never a dead letter
        assert metric(service.url, "berdaya_dead_lettered_total") == 0, service.log_tail()
