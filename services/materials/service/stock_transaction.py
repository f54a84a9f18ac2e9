"""Stock movements inside one unit of work: reserve for a job, top up waiting jobs, release.

Used by the event handlers and the HTTP use cases alike, so that every path that changes
a level writes its ledger entry, keeps the job consistent and announces the outcome in the
same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.materials.adapters.repository import MaterialsRepository
from services.materials.adapters.stock import StockRepository
from services.materials.domain.bill_of_materials import NormBook
from services.materials.domain.catalogue import Catalogue
from services.materials.domain.job import MaterialJob
from services.materials.domain.stock import (
    LedgerEntry,
    LedgerKind,
    Movement,
    StockQuantity,
    entry,
    plan_reservation,
    subtract,
    totals,
)
from shared.contracts import events as ev
from shared.contracts.types import MaterialLine
from shared.slots import EPSILON
from shared.storage.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Reference:
    """The reference data every use case reads: the norm book and the catalogue."""

    book: NormBook
    catalogue: Catalogue


@dataclass
class StockTransaction:
    """One command's or event handler's unit of work over stock: its transaction, the
    jobs and stock (balances, ledger, receipts) read and written in it, who moves stock
    and when. Each movement it makes writes a ledger entry with its balance."""

    uow: UnitOfWork
    reference: Reference
    by: str
    """Who caused the movements (a person, or the city system that sent the event)."""
    now: datetime
    jobs: MaterialsRepository = field(init=False)
    stock: StockRepository = field(init=False)

    def __post_init__(self) -> None:
        self.jobs = MaterialsRepository(self.uow.db, self.uow.session)
        self.stock = StockRepository(self.uow.db, self.uow.session)

    @property
    def catalogue(self) -> Catalogue:
        return self.reference.catalogue

    async def move(self, movement: Movement, *, require_available: bool = True) -> LedgerEntry:
        (recorded,) = await self.move_all([movement], require_available=require_available)
        return recorded

    async def move_all(
        self, movements: Sequence[Movement], *, require_available: bool = True
    ) -> list[LedgerEntry]:
        """Record ``movements`` in order, all or none (see `StockRepository.record_all`);
        returns their ledger entries."""
        recorded = [entry(m, uuid.uuid4()) for m in movements]
        await self.stock.record_all(recorded, require_available=require_available)
        return recorded

    def movement(
        self,
        kind: LedgerKind,
        portion: StockQuantity,
        *,
        reason: str = "",
        note: str = "",
        proposal_id: uuid.UUID | None = None,
        shipment_id: uuid.UUID | None = None,
        receipt_id: str | None = None,
        outward: bool = False,
        in_transit: bool = False,
    ) -> Movement:
        """A movement of ``portion`` by this transaction's actor, now."""
        return Movement(
            kind=kind,
            warehouse=portion.warehouse,
            item=portion.item,
            unit=self.catalogue.item(portion.item).unit,
            quantity=portion.quantity,
            by=self.by,
            at=self.now,
            reason=reason,
            note=note,
            proposal_id=proposal_id,
            shipment_id=shipment_id,
            receipt_id=receipt_id,
            outward=outward,
            in_transit=in_transit,
        )

    async def reserve_for(self, job: MaterialJob) -> list[StockQuantity]:
        """Reserve what exists of the job's shortfall; returns what was reserved.

        The job is changed, not saved: the caller saves it.
        """
        needs = job.shortfall()
        if not needs:
            return []
        available = await self.stock.available(needs)
        plan = plan_reservation(needs, available, self.catalogue.warehouse_names)
        await self._hold(job, plan)
        # see StockRepository.wait_for: a receipt committed meanwhile must meet this job
        await self.stock.wait_for(list(job.shortfall()))
        return plan

    async def top_up_waiting(self, items: Collection[str]) -> list[MaterialJob]:
        """Give newly available ``items`` to the jobs waiting for them, oldest approval
        first, each only up to its bill; announce each job that got some."""
        available = await self.stock.available(items)
        if not _any_left(available):
            return []
        advanced: list[MaterialJob] = []
        reservations: list[Movement] = []
        waiting = [job async for job in self.jobs.waiting_jobs()]
        for job in waiting:
            needs = {item: q for item, q in job.shortfall().items() if item in items}
            plan = plan_reservation(needs, available, self.catalogue.warehouse_names)
            if not plan:
                continue
            reservations += self._reserve(job, plan)
            available = subtract(available, plan)
            await self.jobs.save_job(job)
            await self.announce_reserved(job)
            advanced.append(job)
            if not _any_left(available):
                break
        # the plans were made on `available`, not on what the movements left: every
        # job's reservations are recorded together
        await self.move_all(reservations)
        return advanced

    async def release(
        self, job: MaterialJob, portions: Iterable[StockQuantity], reason: str, note: str = ""
    ) -> list[MaterialLine]:
        """Record the release of ``portions`` (already taken off the job)."""
        portions = list(portions)
        await self.move_all(
            [
                self.movement(
                    "release", portion, reason=reason, note=note, proposal_id=job.proposal_id
                )
                for portion in portions
            ]
        )
        return [
            MaterialLine(item=item, unit=self.catalogue.item(item).unit, quantity=quantity)
            for item, quantity in totals(portions).items()
        ]

    async def announce_reserved(self, job: MaterialJob) -> None:
        await self.uow.emit(
            ev.MaterialReservedV2(
                **job.keys(),
                work_volume_m3=job.work_volume_m3,
                lines=job.secured(),
                complete=not job.shortfall(),
            )
        )

    async def announce_shortage(self, job: MaterialJob) -> None:
        missing = job.missing()
        if missing:
            await self.uow.emit(ev.MaterialShortageV2(**job.keys(), missing=missing))

    async def _hold(self, job: MaterialJob, plan: list[StockQuantity]) -> None:
        await self.move_all(self._reserve(job, plan))

    def _reserve(self, job: MaterialJob, plan: list[StockQuantity]) -> list[Movement]:
        """Take ``plan`` onto ``job``; the movements that record it."""
        job.reserve(plan)
        return [self.movement("reservation", p, proposal_id=job.proposal_id) for p in plan]


def _any_left(available: dict[str, dict[str, float]]) -> bool:
    return any(q > EPSILON for stock in available.values() for q in stock.values())
