"""A kecamatan's yearly budget ceiling (pagu) and what approved jobs reserve of it.

One budget per (kecamatan, fiscal year). Approving a job reserves its cost;
cancelling it releases the cost. The ceiling is set by a city officer or by the
city's finance system (`budget.allocated`), and never below what is reserved.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.clock import Timestamp
from shared.contracts.types import FiscalYear, Rupiah
from shared.errors import Conflict, Forbidden
from shared.identity import Actor, Role


def rupiah(amount: int) -> str:
    """Rp 150.000.000, the way Indonesian officials read amounts."""
    return "Rp " + f"{amount:,}".replace(",", ".")


def budget_key(kecamatan: str, fiscal_year: int) -> str:
    return f"{kecamatan}:{fiscal_year}"


class Allocation(BaseModel):
    """One setting of the ceiling, kept for audit."""

    model_config = ConfigDict(frozen=True)

    ceiling_idr: Rupiah
    by: str
    source: Literal["http", "city-finance"]
    reference: str = ""  # the finance system's own document number
    at: Timestamp


class Budget(BaseModel):
    model_config = ConfigDict(validate_assignment=True)

    kecamatan: str
    fiscal_year: FiscalYear
    ceiling_idr: Rupiah
    reserved_idr: Rupiah = 0
    allocations: list[Allocation] = Field(default_factory=list)
    # When the allocation that set the current ceiling happened (its `at`): an event
    # from the finance system older than this arrived late and must not win.
    ceiling_set_at: Timestamp | None = None

    @property
    def key(self) -> str:
        return budget_key(self.kecamatan, self.fiscal_year)

    @property
    def left_idr(self) -> int:
        return self.ceiling_idr - self.reserved_idr

    @classmethod
    def allocate(cls, kecamatan: str, fiscal_year: int, allocation: Allocation) -> Budget:
        return cls(
            kecamatan=kecamatan,
            fiscal_year=fiscal_year,
            ceiling_idr=allocation.ceiling_idr,
            allocations=[allocation],
            ceiling_set_at=allocation.at,
        )

    @property
    def ceiling_at(self) -> datetime | None:
        """When the current ceiling was set (budgets stored before `ceiling_set_at`
        existed: the last allocation, which is the one that set it)."""
        if self.ceiling_set_at is not None:
            return self.ceiling_set_at
        return self.allocations[-1].at if self.allocations else None

    def is_superseded_by_ceiling(self, allocation: Allocation) -> bool:
        """True for a finance-system allocation older than the one that set the ceiling
        (delivered late, e.g. requeued behind a correction). A person's PUT over HTTP
        always sets the ceiling."""
        if allocation.source == "http" or self.ceiling_at is None:
            return False
        return _to_millisecond(allocation.at) < _to_millisecond(self.ceiling_at)

    def set_ceiling(self, allocation: Allocation) -> None:
        """Set (raise or lower) the ceiling; never below what approved jobs hold."""
        if allocation.ceiling_idr < self.reserved_idr:
            raise Conflict(
                f"the {self.kecamatan} budget for {self.fiscal_year} cannot be set to "
                f"{rupiah(allocation.ceiling_idr)}: approved jobs already hold "
                f"{rupiah(self.reserved_idr)}; cancel jobs first or set at least that"
            )
        self.ceiling_idr = allocation.ceiling_idr
        self.ceiling_set_at = allocation.at
        self.allocations.append(allocation)

    def reserve(self, cost_idr: int) -> None:
        if cost_idr > self.left_idr:
            raise Conflict(
                f"the {self.kecamatan} budget for {self.fiscal_year} has "
                f"{rupiah(self.left_idr)} left of {rupiah(self.ceiling_idr)}; "
                f"this job needs {rupiah(cost_idr)}"
            )
        self.reserved_idr += cost_idr

    def release(self, cost_idr: int) -> None:
        # Never below zero: a release without its reservation is a bug, not a refund.
        if cost_idr > self.reserved_idr:
            raise Conflict(
                f"cannot release {rupiah(cost_idr)} from the {self.kecamatan} budget for "
                f"{self.fiscal_year}: only {rupiah(self.reserved_idr)} is reserved"
            )
        self.reserved_idr -= cost_idr


def _to_millisecond(at: datetime) -> datetime:
    """MongoDB keeps milliseconds: compare at the precision that is stored."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def no_ceiling(kecamatan: str, fiscal_year: int) -> Conflict:
    return Conflict(
        f"no budget ceiling is set for {kecamatan} in {fiscal_year}; a city officer sets it "
        f"first (PUT /budgets/{kecamatan}/{fiscal_year}), or the city's finance system "
        "sends budget.allocated"
    )


def check_may_set_ceiling(actor: Actor) -> None:
    if actor.role is not Role.CITY_OFFICER:
        raise Forbidden("only a city officer sets a kecamatan's budget ceiling")
