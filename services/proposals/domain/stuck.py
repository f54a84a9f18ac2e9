"""Flows that stopped moving: which proposals wait longer than their state allows, and why.

Pure: the thresholds come from the settings (BERDAYA_STUCK_AFTER_HOURS), the proposals
from the repository; this says what each one waits for.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from services.proposals.domain.lifecycle import REVIEWER, State
from services.proposals.domain.model import Proposal
from shared.clock import Timestamp

# How long a proposal may rest in each state before an operator should look, in hours.
# States not listed never count as stuck (the finished ones).
DEFAULT_STUCK_AFTER_HOURS: dict[State, float] = {
    State.SUBMITTED: 14 * 24,
    State.VERIFIED: 14 * 24,
    State.ENDORSED: 14 * 24,
    State.RETURNED: 30 * 24,
    # materials answer within seconds; an hour without a word is a lost or refused event
    State.APPROVED: 1,
    State.BLOCKED: 3 * 24,
    State.MATERIALS_FULFILLED: 14 * 24,
    State.IN_PROGRESS: 30 * 24,
    State.COMPLETED: 14 * 24,
}


class StuckProposal(BaseModel):
    """One proposal that stopped moving: where it is, since when, and what it waits for."""

    model_config = ConfigDict(frozen=True)

    proposal_id: str
    title: str
    state: State
    since: Timestamp
    waiting_hours: float
    threshold_hours: float
    waits_for: str


def cutoffs(thresholds: dict[State, float], now: datetime) -> dict[State, datetime]:
    """Per state: a proposal whose last progress is older than this is stuck."""
    return {state: now - timedelta(hours=hours) for state, hours in thresholds.items()}


def stuck_view(proposal: Proposal, thresholds: dict[State, float], now: datetime) -> StuckProposal:
    since = proposal.last_progress_at
    return StuckProposal(
        proposal_id=str(proposal.id),
        title=proposal.draft.title,
        state=proposal.state,
        since=since,
        waiting_hours=round((now - since).total_seconds() / 3600, 2),
        threshold_hours=thresholds[proposal.state],
        waits_for=waits_for(proposal),
    )


def waits_for(proposal: Proposal) -> str:
    """What the proposal waits for, in a sentence an operator can act on."""
    state, last = proposal.state, proposal.timeline[-1]
    if state is State.APPROVED:
        return _materials(proposal)
    if state is State.BLOCKED:
        return f"the city to return it to the RT or cancel it; blocked: {last.reason}"
    if state in REVIEWER:
        return f"the {REVIEWER[state].value} to review it"
    said = f" (returned: {last.reason})" if last.reason else ""
    return {
        State.RETURNED: f"the RT head to revise and resubmit it{said}",
        State.MATERIALS_FULFILLED: "the RT head to start the work (all materials arrived)",
        State.IN_PROGRESS: f"the RT head to report progress (last at {proposal.percent_done}%)",
        State.COMPLETED: "a supervisor to validate the completed work",
    }.get(state, f"nothing: {state.value} is final")


def _materials(proposal: Proposal) -> str:
    word = proposal.materials
    if word is None and not proposal.deliveries:
        return (
            "the materials service: no reservation, shortage or refusal since the approval "
            "(look for its dead letters and its consumer of proposal.approved)"
        )
    if word is not None and word.status == "short":
        missing = ", ".join(f"{m.item} {m.quantity:g} {m.unit}" for m in word.missing)
        return f"stock at the warehouse (short{': ' + missing if missing else ''})"
    return "the warehouse to ship the reserved materials, or the RT head to confirm receipt"
