"""The figures per kecamatan and year, and for the whole city, from the public
proposals' views and the ceilings the finance system set. Pure: the same inputs in any
order give the same figures."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence

from pydantic import BaseModel

from services.transparency.domain.facts import Allocation
from services.transparency.domain.proposals import PUBLIC_STATES, ItemFigure, ProposalView


class Figures(BaseModel):
    """One kecamatan's year (or the city's, `kecamatan` None)."""

    kecamatan: str | None
    year: int
    proposals: int
    by_state: dict[str, int]
    ceiling_idr: int | None
    approved_budget_idr: int
    materials: tuple[ItemFigure, ...]
    jobs_completed: int
    jobs_validated: int
    volunteers: int
    labour_days: float
    median_days_to_approval: float | None
    median_days_to_completion: float | None

    @property
    def budget_share(self) -> float | None:
        """The approved budget as a fraction of the ceiling (None: no ceiling set)."""
        if not self.ceiling_idr:
            return None
        return self.approved_budget_idr / self.ceiling_idr


class CityFigures(BaseModel):
    year: int
    city: Figures
    kecamatan: tuple[Figures, ...]


def ceilings(allocations: Iterable[Allocation], year: int) -> dict[str, int]:
    """Each kecamatan's ceiling for `year`: the one set last (by when it was set)."""
    latest: dict[str, Allocation] = {}
    for allocation in allocations:
        if allocation.fiscal_year != year:
            continue
        found = latest.get(allocation.kecamatan)
        key = (allocation.occurred_at, str(allocation.event_id))
        if found is None or key > (found.occurred_at, str(found.event_id)):
            latest[allocation.kecamatan] = allocation
    return {name: allocation.ceiling_idr for name, allocation in latest.items()}


def figures_of(
    views: Iterable[ProposalView], year: int, kecamatan: str | None, ceiling_idr: int | None
) -> Figures:
    """The figures of the public proposals among `views` of `year` (and `kecamatan`)."""
    chosen = [
        view
        for view in views
        if view.public and view.year == year and kecamatan in (None, view.area.kecamatan)
    ]
    by_state = dict.fromkeys(PUBLIC_STATES, 0)
    for view in chosen:
        by_state[view.state] = by_state.get(view.state, 0) + 1
    return Figures(
        kecamatan=kecamatan,
        year=year,
        proposals=len(chosen),
        by_state=by_state,
        ceiling_idr=ceiling_idr,
        approved_budget_idr=sum(view.budget_idr for view in chosen),
        materials=sum_materials(view.materials for view in chosen),
        jobs_completed=sum(1 for view in chosen if view.done),
        jobs_validated=sum(1 for view in chosen if view.state == "validated"),
        volunteers=sum(view.volunteers for view in chosen),
        labour_days=round(sum(view.labour_days for view in chosen), 2),
        median_days_to_approval=median(view.days_to_approval for view in chosen),
        median_days_to_completion=median(view.days_to_completion for view in chosen),
    )


def city_figures(
    views: Sequence[ProposalView],
    allocations: Iterable[Allocation],
    year: int,
    kecamatan_names: Sequence[str],
) -> CityFigures:
    """The city's figures for `year`, and each kecamatan's (every one of the register,
    and any other a public proposal names)."""
    set_ceilings = ceilings(allocations, year)
    names = list(kecamatan_names)
    names += sorted({v.area.kecamatan for v in views if v.area.kecamatan not in names})
    per_area = tuple(figures_of(views, year, name, set_ceilings.get(name)) for name in names)
    total_ceiling = sum(set_ceilings.values()) if set_ceilings else None
    return CityFigures(
        year=year, city=figures_of(views, year, None, total_ceiling), kecamatan=per_area
    )


def sum_materials(lists: Iterable[Iterable[ItemFigure]]) -> tuple[ItemFigure, ...]:
    totals: dict[str, ItemFigure] = {}
    for figures in lists:
        for f in figures:
            was = totals.get(f.item, ItemFigure(item=f.item, unit=f.unit))
            totals[f.item] = ItemFigure(
                item=f.item,
                unit=was.unit,
                bill=round(was.bill + f.bill, 3),
                dispatched=round(was.dispatched + f.dispatched, 3),
                delivered=round(was.delivered + f.delivered, 3),
            )
    return tuple(totals[item] for item in sorted(totals))


def median(values: Iterable[float | None]) -> float | None:
    """The median of the known values, to a tenth of a day (None: none known)."""
    known = [value for value in values if value is not None]
    return round(statistics.median(known), 1) if known else None
