"""The catalogue of stocked items and the city's warehouses: reference data in ``catalogue.toml``.

Pure, except :func:`load_catalogue`, which reads the packaged (or a given) file. The
catalogue is checked against the norm book, so that every item a bill of materials asks
for can be received, reserved and shipped.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.materials.domain.bill_of_materials import BomOptions, ItemSpec, NormBook
from shared.datafiles import packaged_or_given, read_toml, validated
from shared.errors import Unprocessable

__all__ = [
    "Catalogue",
    "CatalogueError",
    "StockItem",
    "Warehouse",
    "load_catalogue",
]

NonEmptyStr = Annotated[str, Field(min_length=1, max_length=120)]
# Bills of materials count whole bags and round loose aggregate up to 0.1 m³
# (bill_of_materials.py); stock must be countable at least that finely.
_BILL_RESOLUTION = {"bag": Decimal(1), "m3": Decimal("0.1")}


class CatalogueError(ValueError):
    """The catalogue file is missing, is not TOML, or does not fit the norm book."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Warehouse(_Frozen):
    name: NonEmptyStr
    """How people and the city's systems name it; the warehouse's identity."""
    description: str = ""


class StockItemSpec(_Frozen):
    """What ``catalogue.toml`` says about keeping an item in stock."""

    step: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    pack_kg: Annotated[int, Field(gt=0)] | None = None


class StockItem(_Frozen):
    """A stocked item: the norm book's description plus how it is counted."""

    code: str
    name_id: str
    name_en: str
    unit: Literal["bag", "m3"]
    step: float
    pack_kg: int | None = None


class CatalogueFile(_Frozen):
    schema_version: Literal[1]
    warehouses: tuple[Warehouse, ...] = Field(min_length=1)
    items: dict[str, StockItemSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_unique_warehouses(self) -> Self:
        names = [w.name.casefold() for w in self.warehouses]
        if len(set(names)) != len(names):
            raise ValueError("a warehouse is listed twice")
        return self


class Catalogue(_Frozen):
    """Warehouses (in reservation order) and stocked items, checked against the norm book."""

    warehouses: tuple[Warehouse, ...]
    items: dict[str, StockItem]

    @property
    def warehouse_names(self) -> tuple[str, ...]:
        return tuple(w.name for w in self.warehouses)

    def bom_options(self) -> BomOptions:
        """Bills of materials are computed in the bags the warehouses stock."""
        cement = self.items.get("cement")
        if cement is None or cement.pack_kg is None:
            return BomOptions()
        return BomOptions(cement_bag_kg=cement.pack_kg)

    def warehouse(self, name: str) -> str:
        """The catalogue's spelling of a warehouse name (case and spacing are forgiven)."""
        wanted = " ".join(name.split()).casefold()
        for warehouse in self.warehouses:
            if warehouse.name.casefold() == wanted:
                return warehouse.name
        raise Unprocessable(
            f"unknown warehouse {name!r}; the warehouses are: {', '.join(self.warehouse_names)}"
        )

    def item(self, code: str) -> StockItem:
        found = self.items.get(code)
        if found is None:
            raise Unprocessable(
                f"{code!r} is not a stocked item; the catalogue has: {', '.join(self.items)}"
            )
        return found

    def quantity(self, code: str, value: float, unit: str | None = None) -> float:
        """``value`` of item ``code``, checked: a whole number of steps, in the item's unit."""
        item = self.item(code)
        if unit is not None and unit != item.unit:
            raise Unprocessable(f"{code} is counted in {item.unit}, not in {unit}")
        step = Decimal(repr(item.step))
        steps = Decimal(repr(float(value))) / step
        if steps != steps.to_integral_value():
            raise Unprocessable(
                f"{code} is counted in steps of {item.step:g} {item.unit}; {value:g} is not one"
            )
        return float(steps * step)


def build_catalogue(data: CatalogueFile, book: NormBook) -> Catalogue:
    """Join the file with the norm book; raise ValueError naming every mismatch."""
    problems: list[str] = []
    supplied = {code: spec for code, spec in book.items.items() if spec.supplied}
    problems.extend(
        f"item {code!r} is supplied by the norm book but not stocked in the catalogue"
        for code in supplied
        if code not in data.items
    )
    items: dict[str, StockItem] = {}
    for code, stock in data.items.items():
        spec = supplied.get(code)
        if spec is None:
            problems.append(f"item {code!r} is not a supplied item of the norm book")
            continue
        problems.extend(_item_problems(code, stock, spec))
        if spec.unit in ("bag", "m3"):
            items[code] = StockItem(
                code=code,
                name_id=spec.name_id,
                name_en=spec.name_en,
                unit=spec.unit,
                step=stock.step,
                pack_kg=stock.pack_kg,
            )
    if problems:
        raise ValueError("; ".join(problems))
    return Catalogue(warehouses=data.warehouses, items=items)


def _item_problems(code: str, stock: StockItemSpec, spec: ItemSpec) -> list[str]:
    resolution = _BILL_RESOLUTION.get(spec.unit)
    if resolution is None:
        return [f"item {code!r} is shipped in {spec.unit}, which the warehouses do not stock"]
    problems = []
    if resolution % Decimal(repr(stock.step)) != 0:
        problems.append(
            f"item {code!r}: step {stock.step:g} does not divide the bill's "
            f"resolution of {resolution} {spec.unit}"
        )
    if spec.unit == "bag" and stock.pack_kg not in spec.pack_sizes_kg:
        problems.append(
            f"item {code!r}: pack_kg must be one of the norm book's pack sizes "
            f"{list(spec.pack_sizes_kg)}"
        )
    if spec.unit != "bag" and stock.pack_kg is not None:
        problems.append(f"item {code!r}: pack_kg only applies to items stocked in bags")
    return problems


def load_catalogue(book: NormBook, path: Path | None = None) -> Catalogue:
    """Read and validate the catalogue (by default the packaged ``catalogue.toml``).

    Raises CatalogueError naming the file and what is wrong.
    """
    source, where = packaged_or_given(
        __package__ or __name__, "catalogue.toml", path, kind="catalogue"
    )
    raw = read_toml(source, what=where, error=CatalogueError)
    data = validated(CatalogueFile, raw, what=where, error=CatalogueError)
    try:
        return build_catalogue(data, book)
    except ValueError as error:
        raise CatalogueError(f"{where} is invalid: {error}") from error
