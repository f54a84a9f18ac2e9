"""The proposals service's settings: the shared ones, plus its own (each an environment
variable prefixed `BERDAYA_`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from services.proposals.domain.lifecycle import State
from services.proposals.domain.photos import DEVELOPMENT_PHOTO_HOSTS, PhotoPolicy
from services.proposals.domain.stuck import DEFAULT_STUCK_AFTER_HOURS
from shared.settings import ServiceSettings


class ProposalsSettings(ServiceSettings):
    service_name: str = "proposals"

    # Hosts that photo and attachment links may point at (JSON in the environment:
    # BERDAYA_PHOTO_HOSTS='["foto.jambikota.go.id"]'); https only, http in development.
    photo_hosts: tuple[Annotated[str, Field(min_length=1, max_length=253)], ...] = Field(
        default=DEVELOPMENT_PHOTO_HOSTS, min_length=1, max_length=50
    )

    # The stuck-flows view (GET /admin/stuck-proposals): hours a proposal may rest in a
    # state before it is listed, JSON in the environment, merged over the defaults of
    # services/proposals/domain/stuck.py: BERDAYA_STUCK_AFTER_HOURS='{"approved": 2}'.
    stuck_after_hours: dict[State, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)

    @property
    def stuck_thresholds(self) -> dict[State, float]:
        return {**DEFAULT_STUCK_AFTER_HOURS, **self.stuck_after_hours}

    @model_validator(mode="after")
    def _production_names_its_photo_hosts(self) -> ProposalsSettings:
        self.check_photo_hosts()
        return self

    def check_photo_hosts(self) -> None:
        """Production lists the city's photo storage, never a development host."""
        if self.production and set(self.photo_hosts) & set(DEVELOPMENT_PHOTO_HOSTS):
            raise ValueError(
                "BERDAYA_PHOTO_HOSTS names development hosts; in production list only "
                "the city's photo storage"
            )

    @property
    def photo_policy(self) -> PhotoPolicy:
        return PhotoPolicy(
            hosts=tuple(h.lower() for h in self.photo_hosts),
            allow_http=self.environment == "development",
        )
