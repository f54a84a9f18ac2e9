"""Every HTTP body field that travels into an event has the event contract's limits.

A body the HTTP model takes but the event contract refuses fails only when the event is
built, inside the transaction: a 500 instead of a 422 (a `problem` of 3,000 characters
did). So each such field must have the same JSON-schema constraints on both sides.
`FEEDS` declares which request models feed which event payloads; fields are matched by
name (or by a declared rename), and every field of a request model must either travel
or be listed in `STAYS` with where it goes instead — so a new field is classified too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import BaseModel

from services.materials.domain.job import ShipmentLine, ShipmentReceiptLine
from services.materials.entrypoints.http import DispatchRequest, ShipmentReceiptRequest
from services.proposals.domain.lifecycle import RULES, Action
from services.proposals.entrypoints.http import Approval, Completion, Decision, Progress
from services.proposals.entrypoints.shapes import ProposalRequest
from shared.contracts import events as ev
from shared.contracts.types import MaterialLine, ReceivedLine

# JSON-schema keys that describe rather than limit.
ANNOTATIONS = {"title", "description", "default", "examples"}


@dataclass(frozen=True)
class Feed:
    """`source` (a request body, or part of one) becomes `target` (an event payload, or
    part of one): same-named fields travel, `renames` maps the others (source → target).
    `differs` names a field whose limits may differ in just the listed keys, and why;
    `nested` a list field whose items have a feed of their own (field → item model)."""

    source: type[BaseModel]
    target: type[BaseModel]
    renames: dict[str, str] = field(default_factory=dict)
    differs: dict[str, tuple[frozenset[str], str]] = field(default_factory=dict)
    nested: dict[str, type[BaseModel]] = field(default_factory=dict)


# The reason the domain requires, after it checked state and person (409, 403): the
# shared body cannot require it without answering 422 before them.
_REQUIRED_BY_DOMAIN = (frozenset({"minLength"}), "the domain requires the reason (RULES)")
_REASONED: dict[type[BaseModel], Action] = {
    ev.ProposalReturnedV2: Action.RETURN,
    ev.ProposalRejectedV2: Action.REJECT,
    ev.ProposalCancelledV2: Action.CANCEL,
    ev.WorkReturnedV2: Action.RETURN_WORK,
}

FEEDS: list[Feed] = [
    # proposals: POST /proposals (and PUT /proposals/{id}/draft)
    Feed(ProposalRequest, ev.ProposalSubmittedV2),
    Feed(ProposalRequest, ev.ProposalApprovedV2),  # the draft's fields, as approved
    # POST /proposals/{id}/approve
    Feed(Approval, ev.ProposalApprovedV2),
    # POST /proposals/{id}/work/progress and /work/complete (its final report)
    Feed(Progress, ev.WorkProgressReportedV2),
    Feed(Completion, ev.WorkProgressReportedV2),
    # POST /proposals/{id}/<transition>: the reason, as note or reason of the event
    *(
        Feed(Decision, target, renames={"reason": "note"})
        for target in (
            ev.ProposalVerifiedV2,
            ev.ProposalEndorsedV2,
            ev.ProposalResubmittedV2,
            ev.WorkValidatedV2,
        )
    ),
    Feed(Decision, ev.ProposalWithdrawnV2),
    *(Feed(Decision, target, differs={"reason": _REQUIRED_BY_DOMAIN}) for target in _REASONED),
    # materials: POST /jobs/{id}/shipments and /shipments/{id}/receipt
    Feed(DispatchRequest, ev.MaterialDispatchedV2, nested={"lines": ShipmentLine}),
    Feed(ShipmentReceiptRequest, ev.MaterialDeliveredV2, nested={"lines": ShipmentReceiptLine}),
    Feed(
        ShipmentLine,
        MaterialLine,
        differs={
            "quantity": (
                frozenset({"minimum", "exclusiveMinimum"}),
                "a line sent is more than nothing; the event's lines (shortages, "
                "releases) may be zero",
            )
        },
    ),
    Feed(ShipmentReceiptLine, ReceivedLine),
]

# Request fields that travel into no event (or not as they are), and where they go.
STAYS: dict[tuple[type[BaseModel], str], str] = {
    (ProposalRequest, "attachments"): "kept with the proposal, shown to its readers only",
}


def _resolved(schema: Any, defs: dict[str, Any]) -> Any:
    """`schema` with every $ref replaced by its definition and the annotations dropped."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _resolved(defs[schema["$ref"].split("/")[-1]], defs)
        return {k: _resolved(v, defs) for k, v in schema.items() if k not in ANNOTATIONS}
    if isinstance(schema, list):
        return [_resolved(item, defs) for item in schema]
    return schema


def _limits(model: type[BaseModel], name: str) -> dict[str, Any]:
    """The constraints of `model.name`, optional or not (optional is no limit)."""
    document = model.model_json_schema(mode="validation")
    schema = _resolved(document["properties"][name], document.get("$defs", {}))
    options = schema.get("anyOf") if isinstance(schema, dict) else None
    if options and {"type": "null"} in options:
        rest = [option for option in options if option != {"type": "null"}]
        schema = rest[0] if len(rest) == 1 else {"anyOf": rest}
    assert isinstance(schema, dict)
    return schema


def _pairs() -> list[tuple[Feed, str, str]]:
    pairs = []
    for feed in FEEDS:
        for name in feed.source.model_fields:
            target = feed.renames.get(name, name)
            if target in feed.target.model_fields and name not in feed.nested:
                pairs.append((feed, name, target))
    return pairs


@pytest.mark.parametrize(
    ("feed", "source_field", "target_field"),
    _pairs(),
    ids=lambda v: v if isinstance(v, str) else f"{v.source.__name__}->{v.target.__name__}",
)
def test_a_field_that_travels_has_the_event_contracts_limits(
    feed: Feed, source_field: str, target_field: str
) -> None:
    given = _limits(feed.source, source_field)
    published = _limits(feed.target, target_field)
    where = f"{feed.source.__name__}.{source_field} → {feed.target.__name__}.{target_field}"
    if source_field in feed.differs:
        allowed, _why = feed.differs[source_field]
        keys = {k for k in given.keys() | published.keys() if given.get(k) != published.get(k)}
        assert keys <= allowed, f"{where}: limits differ in {sorted(keys - allowed)}"
        return
    assert given == published, f"{where}: use the same type on both sides"


def test_every_request_field_travels_or_says_where_it_goes() -> None:
    travelling = {(feed.source, name) for feed, name, _ in _pairs()}
    travelling |= {(feed.source, name) for feed in FEEDS for name in feed.nested}
    unplaced = [
        f"{source.__name__}.{name}"
        for source in {feed.source for feed in FEEDS}
        for name in source.model_fields
        if (source, name) not in travelling and (source, name) not in STAYS
    ]
    assert not unplaced, f"map these in FEEDS or list them in STAYS: {unplaced}"


def test_what_stays_does_not_travel() -> None:
    travelling = {(feed.source, name) for feed, name, _ in _pairs()}
    assert not travelling & STAYS.keys()


def test_the_declared_differences_are_still_differences() -> None:
    """A `differs` entry nobody needs any more is dropped, not left to hide a change."""
    for feed in FEEDS:
        for name in feed.differs:
            target = feed.renames.get(name, name)
            assert _limits(feed.source, name) != _limits(feed.target, target), (
                f"{feed.source.__name__}.{name} now matches {feed.target.__name__}: "
                "remove it from `differs`"
            )


def test_every_nested_list_has_a_feed_of_its_own() -> None:
    sources = {feed.source for feed in FEEDS}
    for feed in FEEDS:
        for name, item in feed.nested.items():
            assert item in sources, f"{feed.source.__name__}.{name}: declare a Feed for {item}"
            assert str(item.__name__) in str(feed.source.model_fields[name].annotation)


@pytest.mark.parametrize("action", _REASONED.values(), ids=lambda a: a.value)
def test_the_reasons_the_body_leaves_optional_the_domain_requires(action: Action) -> None:
    assert RULES[action].needs_reason


def test_the_walk_finds_a_mismatch() -> None:
    """The check itself can fail: a body with a longer note than the event takes."""
    from pydantic import ConfigDict, Field

    class LongNote(BaseModel):
        model_config = ConfigDict(extra="forbid")
        note: str = Field(default="", max_length=4000)

    assert _limits(LongNote, "note") != _limits(ev.ProposalVerifiedV2, "note")
