"""Value types that several events share."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

WorkType = Literal["concrete_road", "drain", "culvert"]
ConcreteGrade = Literal["K-175", "K-225"]
Name = Annotated[str, Field(min_length=1, max_length=120)]
Text = Annotated[str, Field(max_length=2000)]


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

    volunteers: Annotated[int, Field(ge=0, le=10_000)] = 0
    labour_days: Annotated[float, Field(ge=0, le=100_000)] = 0
    local_materials: Text = ""


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
