"""The materials service's settings: the shared ones, plus its own (each an
environment variable prefixed `BERDAYA_`)."""

from __future__ import annotations

from pydantic import Field

from services.materials.domain.job import OVER_SHIPMENT_TOLERANCE
from services.materials.domain.stock import DEFAULT_SLOTS
from shared.settings import ServiceSettings


class MaterialsSettings(ServiceSettings):
    service_name: str = "materials"

    # How much more than was sent an RT head may confirm as arrived (over_shipped), as
    # a fraction of what was sent; anything more is the warehouse's to count.
    over_shipment_tolerance: float = Field(default=OVER_SHIPMENT_TOLERANCE, ge=0, le=1)
    # Documents each (warehouse, item) level is kept in, and gates per item: concurrent
    # reservations meet only when they draw on the same slot (README "Stock"). Raising
    # it takes effect at the next start; lowering it leaves the extra slots in use.
    stock_slots: int = Field(default=DEFAULT_SLOTS, ge=1, le=64)
