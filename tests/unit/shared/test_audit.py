"""The audit record's bounds, its query, and who may read whose actions (no I/O)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from shared.errors import Forbidden
from shared.identity import Actor, Role
from shared.storage.audit import (
    MAX_DETAIL_LIST_ITEMS,
    MAX_DETAIL_TEXT_CHARS,
    MAX_DETAILS,
    AuditQuery,
    AuditRecord,
)
from shared.web.audit import officer_readable_by

CITY = Actor(id="city-sari", role=Role.CITY_OFFICER)
LURAH = Actor(
    id="lurah-ani", role=Role.KELURAHAN_OFFICER, kecamatan="Telanaipura", kelurahan="Legok"
)


def record(**details: object) -> AuditRecord:
    return AuditRecord.of(
        LURAH, "verify", "proposal", "p-1", service="proposals", correlation_id="c", details=details
    )


def test_a_record_carries_the_actor_role_and_area() -> None:
    made = record(reason="ok")
    assert (made.actor_id, made.role, made.area.kecamatan, made.area.kelurahan) == (
        "lurah-ani",
        Role.KELURAHAN_OFFICER,
        "Telanaipura",
        "Legok",
    )
    assert (made.action, made.target_kind, made.target_id) == ("verify", "proposal", "p-1")
    assert made.details == {"reason": "ok"}


def test_details_are_bounded_in_count_length_and_items() -> None:
    many = {f"k{i}": i for i in range(MAX_DETAILS + 5)}
    assert len(record(**many).details) == MAX_DETAILS

    long = record(reason="x" * 10_000, lines=[f"l{i}" for i in range(100)]).details
    assert isinstance(long["reason"], str) and len(long["reason"]) == MAX_DETAIL_TEXT_CHARS
    assert long["reason"].endswith("…")
    assert isinstance(long["lines"], list) and len(long["lines"]) == MAX_DETAIL_LIST_ITEMS


def test_details_keep_numbers_and_write_other_values_as_text() -> None:
    some_id = uuid.uuid4()
    kept = record(budget_idr=150_000_000, ratio=0.5, done=True, none=None, id=some_id).details
    assert kept == {
        "budget_idr": 150_000_000,
        "ratio": 0.5,
        "done": True,
        "none": None,
        "id": str(some_id),
    }


def test_the_query_filters_on_each_condition_given() -> None:
    proposal_id = uuid.uuid4()
    since, until = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    assert AuditQuery().to_filter() == {}
    assert AuditQuery(
        proposal_id=proposal_id, actor_id="a", action="approve", since=since, until=until
    ).to_filter() == {
        "proposal_id": proposal_id,
        "actor_id": "a",
        "action": "approve",
        "at": {"$gte": since, "$lt": until},
    }


def test_an_operator_reads_anyone_and_an_officer_only_themselves() -> None:
    assert officer_readable_by(CITY, None) is None
    assert officer_readable_by(CITY, "lurah-ani") == "lurah-ani"
    assert officer_readable_by(LURAH, None) == "lurah-ani"
    assert officer_readable_by(LURAH, "lurah-ani") == "lurah-ani"
    with pytest.raises(Forbidden, match="only their own"):
        officer_readable_by(LURAH, "city-sari")


@pytest.mark.parametrize("role", [Role.RESIDENT, Role.RT_HEAD])
def test_residents_and_rt_heads_read_none_of_it(role: Role) -> None:
    with pytest.raises(Forbidden, match="operators and officers"):
        officer_readable_by(Actor(id="x", role=role), "x")
