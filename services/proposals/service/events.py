"""Translate a proposal's transitions into the published event contracts."""

from __future__ import annotations

from typing import Literal

from services.proposals.domain.lifecycle import PUBLISHED_STATES, RETURNER, Action, State
from services.proposals.domain.model import ProgressReport, Proposal
from shared.contracts import events as ev
from shared.contracts.events import StepKeys
from shared.contracts.types import Contract, ProgressFields
from shared.identity import Role

LEVEL_OF: dict[Role, Literal["kelurahan", "kecamatan", "city"]] = {
    Role.KELURAHAN_OFFICER: "kelurahan",
    Role.KECAMATAN_OFFICER: "kecamatan",
    Role.CITY_OFFICER: "city",
}


def _base(p: Proposal) -> StepKeys:
    """The keys of `p`'s events, and whether it is public in the state it is now in."""
    return {
        "proposal_id": p.id,
        "area": p.area,
        "proposer_id": p.proposer_id,
        "public": p.state in PUBLISHED_STATES,
    }


def submitted(p: Proposal) -> ev.ProposalSubmittedV2:
    d = p.draft
    return ev.ProposalSubmittedV2(
        **_base(p),
        title=d.title,
        work_type=d.work_type,
        dimensions=d.dimensions,
        location=d.location,
        problem=d.problem,
        households_served=d.households_served,
        estimated_cost_idr=d.estimated_cost_idr,
        swadaya=d.swadaya,
        possible_duplicate_of=tuple(p.possible_duplicates),
    )


def approved(p: Proposal, actor_id: str) -> ev.ProposalApprovedV2:
    d = p.draft
    assert p.budget_idr is not None and p.fiscal_year is not None
    return ev.ProposalApprovedV2(
        **_base(p),
        title=d.title,
        work_type=d.work_type,
        dimensions=d.dimensions,
        concrete_grade=d.concrete_grade,
        location=d.location,
        budget_idr=p.budget_idr,
        fiscal_year=p.fiscal_year,
        swadaya=d.swadaya,
        approved_by=actor_id,
    )


def progress_reported(p: Proposal, report: ProgressReport) -> ev.WorkProgressReportedV2:
    return ev.WorkProgressReportedV2(
        **_base(p),
        **report.model_dump(include=set(ProgressFields.model_fields)),
        reported_by=report.reported_by,
    )


def completed(p: Proposal, actor_id: str) -> ev.WorkCompletedV2:
    volunteers, labour_days = p.swadaya_contributed()
    return ev.WorkCompletedV2(
        **_base(p),
        reported_by=actor_id,
        volunteers_total=volunteers,
        labour_days_total=labour_days,
    )


def for_action(
    p: Proposal, action: Action, actor_id: str, reason: str, previous: State
) -> Contract | None:
    """The event a plain transition publishes (None when it publishes none)."""
    base = _base(p)
    match action:
        case Action.VERIFY:
            return ev.ProposalVerifiedV2(**base, verified_by=actor_id, note=reason)
        case Action.ENDORSE:
            return ev.ProposalEndorsedV2(**base, endorsed_by=actor_id, note=reason)
        case Action.RETURN:
            level = LEVEL_OF[RETURNER[previous]]
            return ev.ProposalReturnedV2(
                **base,
                returned_by=actor_id,
                level=level,
                reason=reason,
            )
        case Action.REJECT:
            return ev.ProposalRejectedV2(**base, rejected_by=actor_id, reason=reason)
        case Action.RESUBMIT:
            return ev.ProposalResubmittedV2(**base, resubmitted_by=actor_id, note=reason)
        case Action.WITHDRAW:
            return ev.ProposalWithdrawnV2(**base, withdrawn_by=actor_id, reason=reason)
        case Action.RETURN_WORK:
            return ev.WorkReturnedV2(**base, returned_by=actor_id, reason=reason)
        case Action.START_WORK:
            return ev.WorkStartedV2(**base, started_by=actor_id)
        case Action.VALIDATE:
            return ev.WorkValidatedV2(**base, validated_by=actor_id, note=reason)
        case Action.CANCEL:
            return ev.ProposalCancelledV2(**base, cancelled_by=actor_id, reason=reason)
        case _:
            return None
