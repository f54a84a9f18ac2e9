"""One hand-built, valid payload for every event type of the catalogue (no I/O), and of
every later version as the upcasters make it."""

from __future__ import annotations

import uuid

from shared.contracts import CATALOGUE, ReceivedEvent, new_envelope
from shared.contracts import events as ev
from shared.contracts.types import (
    Area,
    Contract,
    Dimensions,
    Location,
    MaterialLine,
    ReceivedLine,
    SwadayaPledge,
)

AREA = Area(kecamatan="Telanaipura", kelurahan="Simpang IV Sipin", rt="003")
PROPOSAL_ID = uuid.UUID("5b0c1c52-7f0e-4d55-9a4c-0d3c2b0f6a11")
SHIPMENT_ID = uuid.UUID("0f7d0b8e-8d8f-4b0e-a8a8-2c6a1b9d3e22")
KEYS: ev.ProposalKeys = {"proposal_id": PROPOSAL_ID, "area": AREA, "proposer_id": "rt-head-budi"}
ROAD = Dimensions(length_m=150, width_m=4, thickness_m=0.12)
PLACE = Location(lat=-1.6105, lng=103.5912, description="Gang Mawar, behind the mosque")
SWADAYA = SwadayaPledge(volunteers=40, labour_days=120, local_materials="formwork timber")
BILL = (
    MaterialLine(item="cement", unit="bag", quantity=493),
    MaterialLine(item="sand", unit="m3", quantity=41.1),
    MaterialLine(item="gravel", unit="m3", quantity=43.3),
)


def sample_events() -> dict[str, Contract]:
    """event type → a valid version-1 payload of that type."""
    outcome = {
        "notification_id": uuid.UUID("9e3d7a8c-1111-4c2b-8d3e-5f6a7b8c9d00"),
        "recipient_id": "rt-head-budi",
        "channel": "in_app",
        "about_event_id": uuid.UUID("9e3d7a8c-2222-4c2b-8d3e-5f6a7b8c9d00"),
        "about_event_type": "proposal.approved",
        "proposal_id": PROPOSAL_ID,
    }
    return {
        "proposal.submitted": ev.ProposalSubmittedV1(
            **KEYS,
            title="Rabat beton Gang Mawar",
            work_type="concrete_road",
            dimensions=ROAD,
            location=PLACE,
            problem="The lane floods every rainy season and carts cannot pass.",
            households_served=62,
            estimated_cost_idr=150_000_000,
            swadaya=SWADAYA,
        ),
        "proposal.resubmitted": ev.ProposalResubmittedV1(
            **KEYS, resubmitted_by="rt-head-budi", note="length corrected to 150 m"
        ),
        "proposal.withdrawn": ev.ProposalWithdrawnV1(
            **KEYS, withdrawn_by="rt-head-budi", reason="a private donor paved it"
        ),
        "proposal.cancelled": ev.ProposalCancelledV1(
            **KEYS, cancelled_by="city-officer-sari", reason="the land is being re-zoned"
        ),
        "material.released": ev.MaterialReleasedV1(
            **KEYS, lines=BILL, reason="the job was cancelled"
        ),
        "material.unplannable": ev.MaterialUnplannableV1(
            **KEYS,
            reason="cannot compute the bill of materials: unknown grade 'K-175' for culvert; "
            "allowed: K-225",
            work_type="culvert",
            dimensions=Dimensions(length_m=6, width_m=1, thickness_m=0.2, depth_m=1),
            concrete_grade="K-175",
            allowed_grades=("K-225",),
        ),
        "work.returned": ev.WorkReturnedV1(
            **KEYS, returned_by="pengawas-eko", reason="the last 10 m are not yet cured"
        ),
        "budget.allocated": ev.BudgetAllocatedV1(
            kecamatan="Telanaipura",
            fiscal_year=2026,
            ceiling_idr=2_000_000_000,
            allocated_by="bpkad-finance",
            reference="SK-2026/017",
        ),
        "stock.received": ev.StockReceivedV1(
            receipt_id="GRN-2026-0042",
            warehouse="Gudang Kota Jambi",
            supplier="PT Semen Padang",
            lines=BILL,
            received_by="gudang-dedi",
        ),
        "proposal.verified": ev.ProposalVerifiedV1(
            **KEYS, verified_by="lurah-staff-ani", note="checked on site"
        ),
        "proposal.endorsed": ev.ProposalEndorsedV1(**KEYS, endorsed_by="camat-staff-joko"),
        "proposal.returned": ev.ProposalReturnedV1(
            **KEYS,
            returned_by="camat-staff-joko",
            level="kecamatan",
            reason="the lane length does not match the sketch",
        ),
        "proposal.approved": ev.ProposalApprovedV1(
            **KEYS,
            title="Rabat beton Gang Mawar",
            work_type="concrete_road",
            dimensions=ROAD,
            concrete_grade="K-175",
            location=PLACE,
            budget_idr=150_000_000,
            fiscal_year=2026,
            swadaya=SWADAYA,
            approved_by="city-officer-sari",
        ),
        "proposal.rejected": ev.ProposalRejectedV1(
            **KEYS, rejected_by="city-officer-sari", reason="the lane is a private road"
        ),
        "material.reserved": ev.MaterialReservedV1(
            **KEYS, work_volume_m3=72.0, lines=BILL, complete=True
        ),
        "material.shortage": ev.MaterialShortageV1(
            **KEYS, missing=(MaterialLine(item="cement", unit="bag", quantity=93),)
        ),
        "material.dispatched": ev.MaterialDispatchedV1(
            **KEYS,
            shipment_id=SHIPMENT_ID,
            warehouse="Gudang Telanaipura",
            lines=BILL,
            note="first truck",
        ),
        "material.delivered": ev.MaterialDeliveredV1(
            **KEYS,
            shipment_id=SHIPMENT_ID,
            confirmed_by="rt-head-budi",
            lines=(
                ReceivedLine(
                    item="cement", unit="bag", sent=493, received=490, discrepancy_reason="damaged"
                ),
                ReceivedLine(item="sand", unit="m3", sent=41.1, received=41.1),
            ),
        ),
        "material.fulfilled": ev.MaterialFulfilledV1(**KEYS, lines=BILL),
        "work.started": ev.WorkStartedV1(**KEYS, started_by="rt-head-budi"),
        "work.progress_reported": ev.WorkProgressReportedV1(
            **KEYS,
            percent=40,
            note="first 60 m poured",
            photos=("https://example.org/p/1.jpg",),
            volunteers=25,
            labour_days=12.5,
            reported_by="rt-head-budi",
        ),
        "work.completed": ev.WorkCompletedV1(
            **KEYS, reported_by="rt-head-budi", volunteers_total=80, labour_days_total=41.5
        ),
        "work.validated": ev.WorkValidatedV1(**KEYS, validated_by="pengawas-eko", note="good"),
        "notification.sent": ev.NotificationSentV1.model_validate(outcome),
        "notification.failed": ev.NotificationFailedV1.model_validate(
            {**outcome, "channel": "sms", "reason": "number unreachable"}
        ),
    }


def samples_of_every_version() -> dict[tuple[str, int], Contract]:
    """(event type, version) → a valid payload: the version-1 sample, and each later
    version upcast from it."""
    samples: dict[tuple[str, int], Contract] = {(t, 1): data for t, data in sample_events().items()}
    for (event_type, version), contract in CATALOGUE.items():
        if version > 1:
            first = samples[(event_type, 1)]
            envelope = new_envelope(first, producer="test", correlation_id="samples")
            received = ReceivedEvent(envelope=envelope, data=first)
            samples[(event_type, version)] = CATALOGUE.upcast(received, contract.data_model).data
    return samples
