"""The API's own shapes of a proposal, mapped field by field to and from the domain's
(which the repository maps to its stored documents in turn): renaming a field of the
domain changes the mappings, not the API, and needs no migration."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails

from services.proposals.domain.lifecycle import State
from services.proposals.domain.model import (
    MaterialShipment,
    MaterialsWord,
    ProgressReport,
    Proposal,
    ProposalDraft,
    Transition,
)
from shared.clock import Timestamp
from shared.contracts.types import (
    Area,
    ConcreteGrade,
    Dimensions,
    Households,
    JobRupiah,
    Location,
    Photos,
    Problem,
    SwadayaPledge,
    Title,
    WorkType,
)


class DraftBody(BaseModel):
    """What an RT head filled in."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    area: Area
    work_type: WorkType
    dimensions: Dimensions
    concrete_grade: ConcreteGrade | None = None
    location: Location
    problem: Problem
    households_served: Households
    estimated_cost_idr: JobRupiah
    swadaya: SwadayaPledge = SwadayaPledge()
    attachments: Annotated[
        Photos, Field(description="links to photos or documents (not the files)")
    ] = ()

    @classmethod
    def of(cls, draft: ProposalDraft) -> DraftBody:
        return cls(
            title=draft.title,
            area=draft.area,
            work_type=draft.work_type,
            dimensions=draft.dimensions,
            concrete_grade=draft.concrete_grade,
            location=draft.location,
            problem=draft.problem,
            households_served=draft.households_served,
            estimated_cost_idr=draft.estimated_cost_idr,
            swadaya=draft.swadaya,
            attachments=draft.attachments,
        )


class ProposalRequest(DraftBody):
    """What an RT head fills in, to submit a proposal or to revise a returned one."""

    # Each field's limits are the shared types'; the rules across fields (sizes for the
    # work, the city's bounds) are the domain draft's own, run while the body is read: a
    # body they refuse is a 422 like any other invalid input, in the domain's words.
    @model_validator(mode="wrap")
    @classmethod
    def _the_domain_takes_it(
        cls, sent: Any, handler: ModelWrapValidatorHandler[ProposalRequest]
    ) -> ProposalRequest:
        body = handler(sent)
        try:
            body.to_draft()
        except ValidationError as refused:
            raise _about(refused, sent) from None
        return body

    def to_draft(self) -> ProposalDraft:
        return ProposalDraft(
            title=self.title,
            area=self.area,
            work_type=self.work_type,
            dimensions=self.dimensions,
            concrete_grade=self.concrete_grade,
            location=self.location,
            problem=self.problem,
            households_served=self.households_served,
            estimated_cost_idr=self.estimated_cost_idr,
            swadaya=self.swadaya,
            attachments=self.attachments,
        )


def _about(refused: ValidationError, sent: Any) -> ValidationError:
    """The domain's problems, each about the body as sent (not the draft made of it), so
    the 422 shows what the client sent, as for any other problem of the body."""
    problems = []
    for error in refused.errors():
        problem = InitErrorDetails(type=error["type"], loc=error["loc"], input=sent)
        if "ctx" in error:
            problem["ctx"] = error["ctx"]
        problems.append(problem)
    return ValidationError.from_exception_data(ProposalRequest.__name__, problems)


class ProposalBody(BaseModel):
    """A proposal: its draft, where it stands, and everything that happened to it."""

    id: uuid.UUID
    draft: DraftBody
    proposer_id: str
    state: State
    created_at: Timestamp
    updated_at: Timestamp
    budget_idr: int | None
    fiscal_year: int | None
    progress: list[ProgressReport]
    timeline: list[Transition]
    deliveries: list[MaterialShipment]
    materials: MaterialsWord | None
    possible_duplicates: list[uuid.UUID]
    revision: int
    programme_year: int = Field(
        description="the year the job belongs to: its fiscal year once approved, else the "
        "year it was submitted in"
    )
    last_progress_at: Timestamp = Field(
        description="when anything last moved: a step of its own, a word or a shipment "
        "from the materials service"
    )

    @classmethod
    def of(cls, proposal: Proposal) -> ProposalBody:
        return cls(
            id=proposal.id,
            draft=DraftBody.of(proposal.draft),
            proposer_id=proposal.proposer_id,
            state=proposal.state,
            created_at=proposal.created_at,
            updated_at=proposal.updated_at,
            budget_idr=proposal.budget_idr,
            fiscal_year=proposal.fiscal_year,
            progress=proposal.progress,
            timeline=proposal.timeline,
            deliveries=proposal.deliveries,
            materials=proposal.materials,
            possible_duplicates=proposal.possible_duplicates,
            revision=proposal.revision,
            programme_year=proposal.programme_year,
            last_progress_at=proposal.last_progress_at,
        )
