"""The catalogue: warehouses and stocked items as data, checked against the norm book."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.materials.domain.bill_of_materials import load_norm_book
from services.materials.domain.catalogue import CatalogueError, load_catalogue
from shared.errors import Unprocessable

BOOK = load_norm_book()
CATALOGUE = load_catalogue(BOOK)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalogue.toml"
    path.write_text(text, encoding="utf-8")
    return path


ITEMS = """
[items.cement]
step = 1
pack_kg = 50
[items.sand]
step = 0.1
[items.gravel]
step = 0.1
[items.split_stone]
step = 0.1
"""
ONE_WAREHOUSE = 'schema_version = 1\n[[warehouses]]\nname = "Gudang Kota Jambi"\n'


def test_packaged_catalogue_stocks_every_supplied_item_of_the_norm_book() -> None:
    assert CATALOGUE.warehouse_names[0] == "Gudang Kota Jambi"
    supplied = {code for code, spec in BOOK.items.items() if spec.supplied}
    assert set(CATALOGUE.items) == supplied  # water is taken on site, not stocked
    cement = CATALOGUE.item("cement")
    assert (cement.unit, cement.step, cement.pack_kg) == ("bag", 1, 50)
    assert cement.name_en == BOOK.items["cement"].name_en
    assert CATALOGUE.item("sand").unit == "m3"


def test_bills_are_computed_in_the_stocked_bag() -> None:
    assert CATALOGUE.bom_options().cement_bag_kg == 50


def test_warehouse_names_forgive_case_and_spacing() -> None:
    assert CATALOGUE.warehouse("  gudang   KOTA jambi ") == "Gudang Kota Jambi"


def test_an_unknown_warehouse_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(Unprocessable, match="unknown warehouse 'Gudang X'; the warehouses are: "):
        CATALOGUE.warehouse("Gudang X")


def test_an_unknown_item_is_refused_naming_the_stocked_ones() -> None:
    with pytest.raises(Unprocessable, match=r"'water' is not a stocked item; .* cement, sand"):
        CATALOGUE.item("water")


@pytest.mark.parametrize(
    ("item", "value", "expected"),
    [("cement", 493, 493.0), ("sand", 41.1, 41.1), ("gravel", -2.5, -2.5), ("sand", 0, 0.0)],
)
def test_quantities_in_whole_steps_are_accepted(item: str, value: float, expected: float) -> None:
    assert CATALOGUE.quantity(item, value) == expected


@pytest.mark.parametrize(
    ("item", "value", "message"),
    [
        ("cement", 10.5, "cement is counted in steps of 1 bag; 10.5 is not one"),
        ("sand", 12.35, "sand is counted in steps of 0.1 m3; 12.35 is not one"),
    ],
)
def test_quantities_between_steps_are_refused(item: str, value: float, message: str) -> None:
    with pytest.raises(Unprocessable, match=message):
        CATALOGUE.quantity(item, value)


def test_a_quantity_in_another_unit_is_refused() -> None:
    with pytest.raises(Unprocessable, match="cement is counted in bag, not in kg"):
        CATALOGUE.quantity("cement", 50, "kg")


def test_a_catalogue_missing_a_supplied_item_is_refused(tmp_path: Path) -> None:
    text = ONE_WAREHOUSE + ITEMS.replace("[items.split_stone]\nstep = 0.1\n", "")
    with pytest.raises(CatalogueError, match="'split_stone' is supplied by the norm book but not"):
        load_catalogue(BOOK, write(tmp_path, text))


def test_water_cannot_be_stocked(tmp_path: Path) -> None:
    text = ONE_WAREHOUSE + ITEMS + "[items.water]\nstep = 1\n"
    with pytest.raises(CatalogueError, match="'water' is not a supplied item of the norm book"):
        load_catalogue(BOOK, write(tmp_path, text))


def test_a_bag_size_the_norm_book_does_not_know_is_refused(tmp_path: Path) -> None:
    text = ONE_WAREHOUSE + ITEMS.replace("pack_kg = 50", "pack_kg = 25")
    with pytest.raises(CatalogueError, match=r"pack_kg must be one of .* \[50, 40\]"):
        load_catalogue(BOOK, write(tmp_path, text))


def test_forty_kg_bags_make_bills_in_forty_kg_bags(tmp_path: Path) -> None:
    text = ONE_WAREHOUSE + ITEMS.replace("pack_kg = 50", "pack_kg = 40")
    assert load_catalogue(BOOK, write(tmp_path, text)).bom_options().cement_bag_kg == 40


def test_a_step_coarser_than_the_bill_is_refused(tmp_path: Path) -> None:
    text = ONE_WAREHOUSE + ITEMS.replace("[items.sand]\nstep = 0.1", "[items.sand]\nstep = 0.5")
    with pytest.raises(CatalogueError, match=r"step 0\.5 does not divide the bill.s resolution"):
        load_catalogue(BOOK, write(tmp_path, text))


def test_a_warehouse_listed_twice_is_refused(tmp_path: Path) -> None:
    text = ONE_WAREHOUSE + '[[warehouses]]\nname = "gudang kota jambi"\n' + ITEMS
    with pytest.raises(CatalogueError, match="a warehouse is listed twice"):
        load_catalogue(BOOK, write(tmp_path, text))


def test_a_catalogue_without_warehouses_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="warehouses"):
        load_catalogue(BOOK, write(tmp_path, "schema_version = 1\nwarehouses = []\n" + ITEMS))


def test_a_missing_or_broken_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match=r"cannot read catalogue .*nope\.toml"):
        load_catalogue(BOOK, tmp_path / "nope.toml")
    with pytest.raises(CatalogueError, match="is not valid TOML"):
        load_catalogue(BOOK, write(tmp_path, "[[warehouses]\n"))
