"""Bill of materials for an approved job: pure functions over the norms in ``norms.toml``.

Nothing here does I/O except :func:`load_norm_book`, which reads the packaged (or a given)
TOML file. Handlers translate a ``proposal.approved`` event into :class:`WorkDimensions`, call
:func:`compute_bill_of_materials` and persist / publish the result.

Arithmetic is done in :class:`decimal.Decimal`, starting from the shortest decimal form of each
float (``str(0.12) == "0.12"``), so that dimensions people type (0.12 m, 0.1 m...) are used as
typed: a job that needs exactly 400.0 kg of cement gets 8 bags of 50 kg, not 9 because of a
binary representation error.

Rounding to the shipping unit always goes UP, after the waste allowance is added:

* ``bag``   - whole packs: ``ceil(net_kg x (1 + waste) / pack_kg)``;
* ``m3``    - up to the next 0.1 m³ (the resolution a truck load / a warehouse measures
  loose aggregate in; finer numbers would be false precision);
* ``litre`` - up to the next whole litre.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal, localcontext
from pathlib import Path
from typing import Annotated, Literal, Self, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.contracts.types import WORK_TYPES, WorkType
from shared.datafiles import packaged_or_given, read_toml, validated
from shared.reference.work_rules import work_rules

__all__ = [
    "WORK_TYPES",
    "BillOfMaterials",
    "BomLine",
    "BomOptions",
    "ItemSpec",
    "Norm",
    "NormBook",
    "NormBookError",
    "NormMaterial",
    "WorkDimensions",
    "WorkTypeSpec",
    "compute_bill_of_materials",
    "load_norm_book",
    "normalize_grade",
    "work_volume_m3",
]


ShipUnit: TypeAlias = Literal["bag", "m3", "litre"]
NormUnit: TypeAlias = Literal["kg", "m3", "litre"]
Geometry: TypeAlias = Literal["slab", "u_channel", "box"]

PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonEmptyStr = Annotated[str, Field(min_length=1)]
Quantity: TypeAlias = int | float

_ITEM_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
_M3_STEP = Decimal("0.1")  # aggregates are ordered and shipped to the nearest 0.1 m³ (rounded up)
_ONE = Decimal(1)
_LITRES_PER_M3 = Decimal(1000)

# Which norm-unit → shipping-unit conversions exist.
_CONVERSIONS: dict[ShipUnit, frozenset[NormUnit]] = {
    "bag": frozenset({"kg"}),
    "m3": frozenset({"kg", "m3"}),
    "litre": frozenset({"litre"}),
}


class NormBookError(ValueError):
    """The norm book file is missing, is not TOML, or does not describe valid norms."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------------------------
# The norm book (data)
# --------------------------------------------------------------------------------------------


class ItemSpec(_Frozen):
    """A material as it is ordered, stocked and shipped."""

    name_id: NonEmptyStr
    name_en: NonEmptyStr
    unit: ShipUnit
    supplied: bool = True
    """False for what is taken on site (water): computed, but never reserved nor shipped."""
    pack_sizes_kg: tuple[Annotated[int, Field(gt=0)], ...] = ()
    default_pack_kg: Annotated[int, Field(gt=0)] | None = None
    density_kg_m3: PositiveFloat | None = None
    density_note: str = ""

    @model_validator(mode="after")
    def _check_unit_data(self) -> Self:
        if self.unit == "bag":
            if not self.pack_sizes_kg or self.default_pack_kg is None:
                raise ValueError("an item shipped in bags needs pack_sizes_kg and default_pack_kg")
            if self.default_pack_kg not in self.pack_sizes_kg:
                raise ValueError(
                    f"default_pack_kg {self.default_pack_kg} is not one of "
                    f"pack_sizes_kg {list(self.pack_sizes_kg)}"
                )
        elif self.pack_sizes_kg or self.default_pack_kg is not None:
            raise ValueError(f"pack sizes only apply to items shipped in bags, not in {self.unit}")
        if self.unit in ("m3", "litre") and self.density_kg_m3 is None:
            raise ValueError(f"an item shipped in {self.unit} needs density_kg_m3")
        return self


class NormMaterial(_Frozen):
    """One material of a norm: ``amount`` ``unit`` per m³ of work."""

    item: NonEmptyStr
    amount: PositiveFloat
    unit: NormUnit


class Norm(_Frozen):
    """Materials per m³ of work (m³ of concrete, m³ of masonry), with its source."""

    name_id: NonEmptyStr
    name_en: NonEmptyStr
    source: NonEmptyStr
    materials: tuple[NormMaterial, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_unique_items(self) -> Self:
        codes = [m.item for m in self.materials]
        duplicates = sorted({c for c in codes if codes.count(c) > 1})
        if duplicates:
            raise ValueError(f"items listed more than once: {duplicates}")
        return self


class WorkTypeSpec(_Frozen):
    """A kind of job: how its volume follows from the dimensions, and its default norm.

    The grades it may ask for are not here: shared/reference/work_rules.toml states them
    once, for the proposals service (which refuses other drafts) and this one alike."""

    name_id: NonEmptyStr
    name_en: NonEmptyStr
    geometry: Geometry
    geometry_doc: NonEmptyStr
    default_norm: NonEmptyStr


class Defaults(_Frozen):
    waste_allowance: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class NormBook(_Frozen):
    """Validated content of ``norms.toml``."""

    schema_version: Literal[1]
    defaults: Defaults
    items: dict[str, ItemSpec] = Field(min_length=1)
    norms: dict[str, Norm] = Field(min_length=1)
    work_types: dict[WorkType, WorkTypeSpec] = Field(min_length=1)

    @property
    def default_waste_allowance(self) -> float:
        return self.defaults.waste_allowance

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        problems: list[str] = []
        for code in self.items:
            if not _ITEM_CODE.match(code):
                problems.append(f"item code {code!r} must be lower_snake_case")
        for key, norm in self.norms.items():
            for m in norm.materials:
                item = self.items.get(m.item)
                if item is None:
                    problems.append(f"norm {key!r} uses unknown item {m.item!r}")
                elif m.unit not in _CONVERSIONS[item.unit]:
                    problems.append(
                        f"norm {key!r}: {m.item} is given in {m.unit} but shipped in "
                        f"{item.unit}; allowed: {sorted(_CONVERSIONS[item.unit])}"
                    )
        problems.extend(
            f"work type {wt!r} uses unknown norm {spec.default_norm!r}"
            for wt, spec in self.work_types.items()
            if spec.default_norm not in self.norms
        )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def norm_for(self, work_type: WorkType, grade: str | None) -> tuple[str, Norm]:
        """The norm key and norm for a job; ``grade=None`` means the work type's default.

        Raises ValueError naming the allowed grades when the grade is not one of them
        (by the shared work rules), or when the book has no norm for an allowed grade.
        """
        spec = self.work_types.get(work_type)
        if spec is None:
            raise ValueError(
                f"work type {work_type!r} is not in the norm book "
                f"(it has: {sorted(self.work_types)})"
            )
        if grade is None:
            return spec.default_norm, self.norms[spec.default_norm]
        key = normalize_grade(grade)
        problem = work_rules().grade_problem(work_type, key)
        if problem is not None:
            raise ValueError(problem)
        norm = self.norms.get(key)
        if norm is None:
            raise ValueError(
                f"grade {key} is allowed for {work_type} but the norm book has no norm for it "
                f"(it has: {', '.join(self.norms)})"
            )
        return key, norm


def load_norm_book(path: Path | None = None) -> NormBook:
    """Read and validate the norm book (by default the packaged ``norms.toml``).

    Raises NormBookError (a ValueError) naming the file and what is wrong.
    """
    source, where = packaged_or_given(__package__ or __name__, "norms.toml", path, kind="norm book")
    data = read_toml(source, what=where, error=NormBookError)
    return validated(NormBook, data, what=where, error=NormBookError)


def normalize_grade(grade: str) -> str:
    """Canonical spelling of a grade / mix: ``"k 175"``, ``"K175"`` → ``"K-175"``."""
    compact = re.sub(r"\s+", "", grade).upper()
    k_grade = re.fullmatch(r"K-?(\d+)", compact)
    return f"K-{k_grade.group(1)}" if k_grade else compact


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


class WorkDimensions(_Frozen):
    """What an approved proposal says about the job.

    * ``concrete_road``: width_m = road width, thickness_m = slab thickness, no depth_m.
    * ``drain`` (U-channel of stone masonry): width_m = clear inner width, depth_m = clear
      inner depth, thickness_m = wall and floor thickness.
    * ``culvert`` (concrete box): length_m = barrel length, width_m = clear inner span,
      depth_m = clear inner height, thickness_m = wall / slab thickness.

    ``concrete_grade`` picks the norm (``"K-175"``, ``"K-225"``; spelling is normalised);
    None means the work type's default (K-175 for roads, K-225 for culverts, the 1 PC : 4 PS
    masonry for drains).
    """

    work_type: WorkType
    length_m: PositiveFloat
    width_m: PositiveFloat
    thickness_m: PositiveFloat
    depth_m: PositiveFloat | None = None
    concrete_grade: Annotated[str, Field(min_length=1, max_length=32)] | None = None

    @model_validator(mode="after")
    def _check_depth(self) -> Self:
        if self.work_type == "concrete_road":
            if self.depth_m is not None:
                raise ValueError(
                    "depth_m does not apply to a concrete_road (use thickness_m for the slab)"
                )
        elif self.depth_m is None:
            raise ValueError(f"depth_m (clear inner depth) is required for a {self.work_type}")
        return self


class BomOptions(_Frozen):
    """Per-computation overrides; None means the norm book's default."""

    cement_bag_kg: Annotated[int, Field(gt=0)] = 50
    waste_allowance: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    sand_density_kg_m3: PositiveFloat | None = None
    gravel_density_kg_m3: PositiveFloat | None = None
    split_stone_density_kg_m3: PositiveFloat | None = None

    def density_overrides(self) -> dict[str, float]:
        overrides = {
            "sand": self.sand_density_kg_m3,
            "gravel": self.gravel_density_kg_m3,
            "split_stone": self.split_stone_density_kg_m3,
        }
        return {code: value for code, value in overrides.items() if value is not None}


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


class BomLine(_Frozen):
    """One material of a bill: ``quantity`` in the shipping ``unit``, waste included."""

    item: NonEmptyStr
    unit: ShipUnit
    quantity: Quantity = Field(ge=0)
    """bags and litres: int; m³: float, a multiple of 0.1."""
    net_kg: float = Field(ge=0)
    """Mass before the waste allowance."""
    gross_kg: float = Field(ge=0)
    """Mass after the waste allowance, before rounding up to the shipping unit."""
    pack_kg: int | None = None
    """Bag size for items shipped in bags, else None."""
    supplied: bool
    """False: computed only (water), not reserved nor shipped."""

    @model_validator(mode="after")
    def _check_quantity_type(self) -> Self:
        if self.unit in ("bag", "litre") and not isinstance(self.quantity, int):
            raise ValueError(f"a quantity in {self.unit} must be a whole number")
        if (self.unit == "bag") != (self.pack_kg is not None):
            raise ValueError("pack_kg is set exactly for lines shipped in bags")
        return self


class BillOfMaterials(_Frozen):
    work_type: WorkType
    norm: str
    """Key of the norm used, e.g. "K-175" or "1PC:4PS"."""
    norm_source: str
    work_volume_m3: float
    waste_allowance: float
    lines: tuple[BomLine, ...]

    def line(self, item: str) -> BomLine:
        for line in self.lines:
            if line.item == item:
                return line
        raise KeyError(item)

    @property
    def supplied_lines(self) -> tuple[BomLine, ...]:
        """The lines to reserve and ship (water excluded)."""
        return tuple(line for line in self.lines if line.supplied)


# --------------------------------------------------------------------------------------------
# Computation
# --------------------------------------------------------------------------------------------


def _dec(value: float) -> Decimal:
    """The decimal a person meant: shortest repr of the float (0.12, not 0.11999...)."""
    return Decimal(repr(float(value)))


def _volume(geometry: Geometry, work: WorkDimensions) -> Decimal:
    length, width, thickness = _dec(work.length_m), _dec(work.width_m), _dec(work.thickness_m)
    if geometry == "slab":
        return length * width * thickness
    if work.depth_m is None:  # guaranteed by WorkDimensions; kept for the type checker
        raise ValueError(f"depth_m is required for a {work.work_type}")
    depth = _dec(work.depth_m)
    if geometry == "u_channel":
        # two walls and a floor, all `thickness` thick, around a width x depth channel
        section = (width + 2 * thickness) * (depth + thickness) - width * depth
    else:  # box: walls, top and bottom slab around a width x depth opening
        section = (width + 2 * thickness) * (depth + 2 * thickness) - width * depth
    return length * section


def work_volume_m3(work: WorkDimensions, book: NormBook) -> float:
    """Volume of concrete / masonry of the job, per the work type's geometry in the book."""
    spec = book.work_types.get(work.work_type)
    if spec is None:
        raise ValueError(f"work type {work.work_type!r} is not in the norm book")
    with localcontext() as ctx:
        ctx.prec = 40
        return float(_volume(spec.geometry, work))


def _ceil_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def compute_bill_of_materials(
    work: WorkDimensions, book: NormBook, options: BomOptions | None = None
) -> BillOfMaterials:
    """Materials needed for ``work``, in shipping units, waste included, rounded up.

    Raises ValueError for a grade the work type does not allow or a cement bag size the
    norm book does not list.
    """
    opts = options if options is not None else BomOptions()
    spec = book.work_types.get(work.work_type)
    if spec is None:
        raise ValueError(
            f"work type {work.work_type!r} is not in the norm book "
            f"(it has: {sorted(book.work_types)})"
        )
    norm_key, norm = book.norm_for(work.work_type, work.concrete_grade)
    waste = (
        opts.waste_allowance if opts.waste_allowance is not None else book.defaults.waste_allowance
    )
    densities = opts.density_overrides()

    with localcontext() as ctx:
        ctx.prec = 40
        volume = _volume(spec.geometry, work)
        factor = _ONE + _dec(waste)
        lines: list[BomLine] = []
        for material in norm.materials:
            item = book.items[material.item]
            density = _dec(densities.get(material.item, item.density_kg_m3 or 0.0))
            amount = _dec(material.amount) * volume
            if material.unit == "kg":
                net_kg = amount
            elif material.unit == "m3":
                net_kg = amount * density
            else:  # litre
                net_kg = amount * density / _LITRES_PER_M3
            gross_kg = net_kg * factor
            pack_kg: int | None = None
            quantity: Quantity
            if item.unit == "bag":
                pack_kg = _pack_size(material.item, item, opts)
                quantity = int(_ceil_to(gross_kg / pack_kg, _ONE))
            elif item.unit == "m3":
                gross_m3 = amount * factor if material.unit == "m3" else gross_kg / density
                quantity = float(_ceil_to(gross_m3, _M3_STEP))
            else:  # litre
                quantity = int(_ceil_to(amount * factor, _ONE))
            lines.append(
                BomLine(
                    item=material.item,
                    unit=item.unit,
                    quantity=quantity,
                    net_kg=float(net_kg),
                    gross_kg=float(gross_kg),
                    pack_kg=pack_kg,
                    supplied=item.supplied,
                )
            )
        return BillOfMaterials(
            work_type=work.work_type,
            norm=norm_key,
            norm_source=norm.source,
            work_volume_m3=float(volume),
            waste_allowance=waste,
            lines=tuple(lines),
        )


def _pack_size(code: str, item: ItemSpec, options: BomOptions) -> int:
    if code != "cement":
        if item.default_pack_kg is None:  # guaranteed by ItemSpec for bag items
            raise ValueError(f"item {code!r} has no default pack size")
        return item.default_pack_kg
    if options.cement_bag_kg not in item.pack_sizes_kg:
        allowed = ", ".join(f"{size} kg" for size in item.pack_sizes_kg)
        raise ValueError(
            f"cement bag of {options.cement_bag_kg} kg is not available; allowed: {allowed}"
        )
    return options.cement_bag_kg
