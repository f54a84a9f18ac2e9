"""Value types that several events share."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

# The work types of the program: the one list. Data files that key on them (the
# materials norm book, the proposals size rules) are checked against it by a unit test.
WorkType = Literal["concrete_road", "drain", "culvert"]
WORK_TYPES: tuple[WorkType, ...] = get_args(WorkType)
ConcreteGrade = Literal["K-175", "K-225"]
Name = Annotated[str, Field(min_length=1, max_length=120)]
Text = Annotated[str, Field(max_length=2000)]
Percent = Annotated[int, Field(ge=0, le=100)]

# Fiscal years the program accepts. The constants are for FastAPI `Query`/`Path`
# parameters, which take the bounds themselves; models use `FiscalYear`.
FIRST_FISCAL_YEAR = 2000
LAST_FISCAL_YEAR = 2100
FiscalYear = Annotated[int, Field(ge=FIRST_FISCAL_YEAR, le=LAST_FISCAL_YEAR)]

# Rupiah amounts, whole. Two limits on purpose: `Rupiah` bounds any amount, up to a
# kecamatan's yearly ceiling (pagu), and is what published payloads accept; `JobRupiah`
# bounds what one job may be estimated at or given (Rp 1 trillion), a sanity check on
# what people type in, ten times tighter than the largest ceiling.
RUPIAH_MAX = 10**13
JOB_RUPIAH_MAX = 10**12
Rupiah = Annotated[int, Field(ge=0, le=RUPIAH_MAX, description="Indonesian rupiah, whole")]
JobRupiah = Annotated[int, Field(ge=0, le=JOB_RUPIAH_MAX, description="Indonesian rupiah, whole")]

# People and their work, as an RT head may enter them (pledged or reported).
Volunteers = Annotated[int, Field(ge=0, le=10_000)]
LabourDays = Annotated[float, Field(ge=0, le=100_000)]
# A reference to a photo or document (not the file itself).
Reference = Annotated[str, Field(max_length=500)]


class Contract(BaseModel):
    """Base of every contract model: strict, closed, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Area(Contract):
    """Kecamatan → kelurahan → RT; names as in the reference data."""

    kecamatan: Name
    kelurahan: Name
    rt: Annotated[str, Field(pattern=r"^\d{3}$", description="RT number, three digits")]


class Dimensions(Contract):
    length_m: Annotated[float, Field(gt=0, le=5000)]
    width_m: Annotated[float, Field(gt=0, le=50)]
    thickness_m: Annotated[float | None, Field(gt=0, le=2)] = None
    depth_m: Annotated[float | None, Field(gt=0, le=10)] = None


class Location(Contract):
    lat: Annotated[float, Field(ge=-90, le=90)]
    lng: Annotated[float, Field(ge=-180, le=180)]
    description: Text = ""


class SwadayaPledge(Contract):
    """What residents promise to contribute themselves (gotong royong)."""

    volunteers: Volunteers = 0
    labour_days: LabourDays = 0
    local_materials: Text = ""


class ProgressFields(BaseModel):
    """What a progress report from the site says: the one place its fields are declared.

    The bounds here are those of the published `work.progress_reported` payload; the HTTP
    input tightens volunteers, labour days and photos (see `Volunteers`, `LabourDays`).
    No config of its own: each model that extends it keeps its own (the event contract
    strict and closed, the stored report lenient, the request body closed).
    """

    percent: Percent
    note: Text = ""
    photos: tuple[Reference, ...] = ()
    volunteers: Annotated[int, Field(ge=0)] = 0
    labour_days: Annotated[float, Field(ge=0)] = 0


class MaterialLine(Contract):
    item: Name
    unit: Annotated[str, Field(min_length=1, max_length=20)]
    quantity: Annotated[float, Field(ge=0)]


class ReceivedLine(Contract):
    item: Name
    unit: Annotated[str, Field(min_length=1, max_length=20)]
    sent: Annotated[float, Field(ge=0)]
    received: Annotated[float, Field(ge=0)]
    discrepancy_reason: Literal["lost", "damaged", "short_shipped", "over_shipped"] | None = None
