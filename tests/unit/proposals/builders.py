"""People, drafts and proposals in every state, for the proposal unit tests (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.proposals.domain.lifecycle import RETURNER, Action, State
from services.proposals.domain.model import ProgressReport, Proposal, ProposalDraft
from shared.identity import Actor, Role

KECAMATAN, KELURAHAN, RT = "Telanaipura", "Simpang IV Sipin", "003"
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

RT_HEAD = Actor(
    id="rt-head-budi", role=Role.RT_HEAD, kecamatan=KECAMATAN, kelurahan=KELURAHAN, rt=RT
)
OTHER_RT_HEAD = Actor(
    id="rt-head-wati", role=Role.RT_HEAD, kecamatan=KECAMATAN, kelurahan=KELURAHAN, rt="004"
)
KELURAHAN_OFFICER = Actor(
    id="lurah-staff-ani", role=Role.KELURAHAN_OFFICER, kecamatan=KECAMATAN, kelurahan=KELURAHAN
)
OTHER_KELURAHAN_OFFICER = Actor(
    id="lurah-staff-tono",
    role=Role.KELURAHAN_OFFICER,
    kecamatan=KECAMATAN,
    kelurahan="Pematang Sulur",
)
KECAMATAN_OFFICER = Actor(id="camat-staff-joko", role=Role.KECAMATAN_OFFICER, kecamatan=KECAMATAN)
OTHER_KECAMATAN_OFFICER = Actor(
    id="camat-staff-rina", role=Role.KECAMATAN_OFFICER, kecamatan="Jelutung"
)
CITY_OFFICER = Actor(id="city-officer-sari", role=Role.CITY_OFFICER)
SUPERVISOR = Actor(id="pengawas-eko", role=Role.SUPERVISOR)
WAREHOUSE_OFFICER = Actor(id="gudang-dedi", role=Role.WAREHOUSE_OFFICER)
RESIDENT = Actor(
    id="warga-siti", role=Role.RESIDENT, kecamatan=KECAMATAN, kelurahan=KELURAHAN, rt=RT
)

# One in-area person of each role.
BY_ROLE: dict[Role, Actor] = {
    Role.RT_HEAD: RT_HEAD,
    Role.KELURAHAN_OFFICER: KELURAHAN_OFFICER,
    Role.KECAMATAN_OFFICER: KECAMATAN_OFFICER,
    Role.CITY_OFFICER: CITY_OFFICER,
    Role.SUPERVISOR: SUPERVISOR,
    Role.WAREHOUSE_OFFICER: WAREHOUSE_OFFICER,
    Role.RESIDENT: RESIDENT,
}
EVERYONE: tuple[Actor, ...] = (
    *BY_ROLE.values(),
    OTHER_RT_HEAD,
    OTHER_KELURAHAN_OFFICER,
    OTHER_KECAMATAN_OFFICER,
)
REASON = "the sketch does not show the drain outlet"


def draft(**overrides: Any) -> ProposalDraft:
    values: dict[str, Any] = {
        "title": "Rabat beton Gang Mawar",
        "area": {"kecamatan": KECAMATAN, "kelurahan": KELURAHAN, "rt": RT},
        "work_type": "concrete_road",
        "dimensions": {"length_m": 150, "width_m": 4, "thickness_m": 0.12},
        "concrete_grade": "K-175",
        "location": {"lat": -1.6105, "lng": 103.5912, "description": "Gang Mawar"},
        "problem": "The lane turns to mud every rainy season; children cannot reach school.",
        "households_served": 62,
        "estimated_cost_idr": 150_000_000,
        "swadaya": {"volunteers": 40, "labour_days": 120},
        **overrides,
    }
    return ProposalDraft.model_validate(values)


def rightful(action: Action, state: State) -> Actor | None:
    """The in-area person who may take `action` from `state` (None: the system)."""
    match action:
        case Action.VERIFY:
            return KELURAHAN_OFFICER
        case Action.ENDORSE:
            return KECAMATAN_OFFICER
        case Action.APPROVE | Action.REJECT | Action.CANCEL:
            return CITY_OFFICER
        case Action.RETURN:
            return BY_ROLE[RETURNER.get(state, Role.KELURAHAN_OFFICER)]
        case Action.RECORD_MATERIALS_FULFILLED | Action.BLOCK:
            return None
        case Action.VALIDATE | Action.RETURN_WORK:
            return SUPERVISOR
        case _:
            return RT_HEAD


# The way to each state along the real transitions, from a fresh submission.
PATHS: dict[State, list[Action]] = {
    State.SUBMITTED: [],
    State.VERIFIED: [Action.VERIFY],
    State.ENDORSED: [Action.VERIFY, Action.ENDORSE],
    State.RETURNED: [Action.RETURN],
    State.WITHDRAWN: [Action.WITHDRAW],
    State.APPROVED: [Action.VERIFY, Action.ENDORSE, Action.APPROVE],
    State.REJECTED: [Action.VERIFY, Action.ENDORSE, Action.REJECT],
    State.MATERIALS_FULFILLED: [
        Action.VERIFY,
        Action.ENDORSE,
        Action.APPROVE,
        Action.RECORD_MATERIALS_FULFILLED,
    ],
}
PATHS[State.CANCELLED] = [*PATHS[State.APPROVED], Action.CANCEL]
PATHS[State.BLOCKED] = [*PATHS[State.APPROVED], Action.BLOCK]
PATHS[State.IN_PROGRESS] = [*PATHS[State.MATERIALS_FULFILLED], Action.START_WORK]
PATHS[State.COMPLETED] = [*PATHS[State.IN_PROGRESS], Action.COMPLETE_WORK]
PATHS[State.VALIDATED] = [*PATHS[State.COMPLETED], Action.VALIDATE]


def submitted(**overrides: Any) -> Proposal:
    return Proposal.submit(draft(**overrides), RT_HEAD, NOW)


def proposal_in(state: State) -> Proposal:
    """A proposal brought to `state` by the rightful people, one hour per step."""
    proposal = submitted()
    for step, action in enumerate(PATHS[state], start=1):
        at = NOW + timedelta(hours=step)
        actor = rightful(action, proposal.state)
        if action is Action.APPROVE:
            assert actor is not None
            proposal.approve(actor, at, budget_idr=150_000_000, fiscal_year=2026)
        else:
            if action is Action.COMPLETE_WORK:
                finish(proposal, at)
            proposal.act(action, actor, at, reason=REASON)
    assert proposal.state is state
    return proposal


def finish(proposal: Proposal, at: datetime) -> None:
    """The RT head reports the work at 100 % (what completion needs)."""
    report = ProgressReport(percent=100, note="done", reported_by=RT_HEAD.id, at=at)
    proposal.report_progress(report, RT_HEAD)


def ready_for(action: Action, state: State) -> Proposal:
    """A proposal in `state` on which `action` can succeed: completion needs 100 %."""
    proposal = proposal_in(state)
    if action is Action.COMPLETE_WORK and state is State.IN_PROGRESS:
        finish(proposal, NOW + timedelta(days=20))
    return proposal
