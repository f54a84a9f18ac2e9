"""The download's own shape of a published proposal (`/data/proposals.json`), mapped
field by field from the read model's view (which the adapter stores): renaming a field of
the view changes the mapping and a rebuild, not the API."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict

from services.transparency.domain.facts import Place
from services.transparency.domain.proposals import ItemFigure, ProposalView, Step
from shared.clock import Timestamp
from shared.contracts.types import Dimensions, Location


class _Shown(BaseModel):
    model_config = ConfigDict(frozen=True)


class AreaBody(_Shown):
    kecamatan: str
    kelurahan: str
    rt: str

    @classmethod
    def of(cls, place: Place) -> AreaBody:
        return cls(kecamatan=place.kecamatan, kelurahan=place.kelurahan, rt=place.rt)


class MaterialBody(_Shown):
    """One material: the bill, what left the warehouse, what the RT confirmed."""

    item: str
    unit: str
    bill: float = 0.0
    dispatched: float = 0.0
    delivered: float = 0.0

    @classmethod
    def of(cls, figure: ItemFigure) -> MaterialBody:
        return cls(
            item=figure.item,
            unit=figure.unit,
            bill=figure.bill,
            dispatched=figure.dispatched,
            delivered=figure.delivered,
        )


class StepBody(_Shown):
    """One step of the timeline, with what may be shown of it."""

    type: str
    occurred_at: Timestamp
    percent: int | None = None
    photos: tuple[str, ...] = ()
    reason: str | None = None
    volunteers: int | None = None
    labour_days: float | None = None

    @classmethod
    def of(cls, step: Step) -> StepBody:
        return cls(
            type=step.type,
            occurred_at=step.occurred_at,
            percent=step.percent,
            photos=step.photos,
            reason=step.reason,
            volunteers=step.volunteers,
            labour_days=step.labour_days,
        )


class PublishedProposal(_Shown):
    """A published proposal's public figures and timeline."""

    proposal_id: uuid.UUID
    area: AreaBody
    public: bool
    state: str
    year: int
    title: str | None = None
    work_type: str | None = None
    dimensions: Dimensions | None = None
    location: Location | None = None
    fiscal_year: int | None = None
    budget_idr: int = 0
    pledged_volunteers: int = 0
    pledged_labour_days: float = 0.0
    volunteers: int = 0
    labour_days: float = 0.0
    percent: int = 0
    submitted_at: Timestamp | None = None
    approved_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    validated_at: Timestamp | None = None
    last_step_at: Timestamp
    materials: tuple[MaterialBody, ...] = ()
    timeline: tuple[StepBody, ...] = ()

    @classmethod
    def of(cls, view: ProposalView) -> PublishedProposal:
        return cls(
            proposal_id=view.proposal_id,
            area=AreaBody.of(view.area),
            public=view.public,
            state=view.state,
            year=view.year,
            title=view.title,
            work_type=view.work_type,
            dimensions=view.dimensions,
            location=view.location,
            fiscal_year=view.fiscal_year,
            budget_idr=view.budget_idr,
            pledged_volunteers=view.pledged_volunteers,
            pledged_labour_days=view.pledged_labour_days,
            volunteers=view.volunteers,
            labour_days=view.labour_days,
            percent=view.percent,
            submitted_at=view.submitted_at,
            approved_at=view.approved_at,
            completed_at=view.completed_at,
            validated_at=view.validated_at,
            last_step_at=view.last_step_at,
            materials=tuple(MaterialBody.of(figure) for figure in view.materials),
            timeline=tuple(StepBody.of(step) for step in view.timeline),
        )
