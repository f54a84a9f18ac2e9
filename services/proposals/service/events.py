"""Translate a proposal's transitions into the published event contracts."""

from __future__ import annotations

from typing import Literal

from services.proposals.domain.lifecycle import RETURNER, Action, State
from services.proposals.domain.model import ProgressReport, Proposal
from shared.contracts import events as ev
from shared.contracts.events import ProposalKeys
from shared.contracts.types import Contract, ProgressFields
from shared.identity import Role

LEVEL_OF: dict[Role, Literal["kelurahan", "kecamatan", "city"]] = {
    Role.KELURAHAN_OFFICER: "kelurahan",
    Role.KECAMATAN_OFFICER: "kecamatan",
    Role.CITY_OFFICER: "city",
}


def _base(p: Proposal) -> ProposalKeys:
    return {"proposal_id": p.id, "area": p.area, "proposer_id": p.proposer_id}


def submitted(p: Proposal) -> ev.ProposalSubmittedV1:
    d = p.draft
    return ev.ProposalSubmittedV1(
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


def approved(p: Proposal, actor_id: str) -> ev.ProposalApprovedV1:
    d = p.draft
    assert p.budget_idr is not None and p.fiscal_year is not None
    return ev.ProposalApprovedV1(
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


def progress_reported(p: Proposal, report: ProgressReport) -> ev.WorkProgressReportedV1:
    return ev.WorkProgressReportedV1(
        **_base(p),
        **report.model_dump(include=set(ProgressFields.model_fields)),
        reported_by=report.reported_by,
    )


def completed(p: Proposal, actor_id: str) -> ev.WorkCompletedV1:
    volunteers, labour_days = p.swadaya_contributed()
    return ev.WorkCompletedV1(
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
            return ev.ProposalVerifiedV1(**base, verified_by=actor_id, note=reason)
        case Action.ENDORSE:
            return ev.ProposalEndorsedV1(**base, endorsed_by=actor_id, note=reason)
        case Action.RETURN:
            level = LEVEL_OF[RETURNER[previous]]
            return ev.ProposalReturnedV1(
                **base,
                returned_by=actor_id,
                level=level,
                reason=reason,
            )
        case Action.REJECT:
            return ev.ProposalRejectedV1(**base, rejected_by=actor_id, reason=reason)
        case Action.RESUBMIT:
            return ev.ProposalResubmittedV1(**base, resubmitted_by=actor_id, note=reason)
        case Action.WITHDRAW:
            return ev.ProposalWithdrawnV1(**base, withdrawn_by=actor_id, reason=reason)
        case Action.RETURN_WORK:
            return ev.WorkReturnedV1(**base, returned_by=actor_id, reason=reason)
        case Action.START_WORK:
            return ev.WorkStartedV1(**base, started_by=actor_id)
        case Action.VALIDATE:
            return ev.WorkValidatedV1(**base, validated_by=actor_id, note=reason)
        case Action.CANCEL:
            return ev.ProposalCancelledV1(**base, cancelled_by=actor_id, reason=reason)
        case _:
            return None
