"""Bill of materials: hand-computed cases, invalid input, and properties."""

from __future__ import annotations

import math
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.materials.domain.bill_of_materials import (
    WORK_TYPES,
    BillOfMaterials,
    BomOptions,
    NormBook,
    NormBookError,
    WorkDimensions,
    compute_bill_of_materials,
    load_norm_book,
    normalize_grade,
)
from shared.reference.work_rules import work_rules

BOOK = load_norm_book()
NO_WASTE = BomOptions(waste_allowance=0)


def road(
    length: float = 150, width: float = 4, thickness: float = 0.12, **kw: Any
) -> WorkDimensions:
    return WorkDimensions(
        work_type="concrete_road", length_m=length, width_m=width, thickness_m=thickness, **kw
    )


def quantities(bill: BillOfMaterials) -> dict[str, float]:
    return {line.item: line.quantity for line in bill.lines}


def raw_book() -> dict[str, Any]:
    text = resources.files("services.materials.domain").joinpath("norms.toml").read_text("utf-8")
    return tomllib.loads(text)


# --------------------------------------------------------------------------------------------
# The packaged norm book
# --------------------------------------------------------------------------------------------


def test_packaged_book_carries_the_sni_norms_with_sources() -> None:
    k175 = {m.item: (m.amount, m.unit) for m in BOOK.norms["K-175"].materials}
    k225 = {m.item: (m.amount, m.unit) for m in BOOK.norms["K-225"].materials}
    assert k175 == {
        "cement": (326, "kg"),
        "sand": (760, "kg"),
        "gravel": (1029, "kg"),
        "water": (215, "litre"),
    }
    assert k225 == {
        "cement": (371, "kg"),
        "sand": (698, "kg"),
        "gravel": (1047, "kg"),
        "water": (215, "litre"),
    }
    assert all(norm.source.strip() for norm in BOOK.norms.values())
    assert "SNI 7394:2008" in BOOK.norms["K-175"].source
    assert "SNI 2836:2008" in BOOK.norms["1PC:4PS"].source
    assert set(BOOK.work_types) == {"concrete_road", "drain", "culvert"}
    assert BOOK.work_types["concrete_road"].default_norm == "K-175"
    assert BOOK.items["cement"].pack_sizes_kg == (50, 40)
    assert BOOK.items["cement"].default_pack_kg == 50
    assert BOOK.items["sand"].density_kg_m3 == 1400
    assert BOOK.items["gravel"].density_kg_m3 == 1800
    assert BOOK.items["water"].supplied is False
    assert BOOK.default_waste_allowance == 0.05


# --------------------------------------------------------------------------------------------
# Hand-computed cases
# --------------------------------------------------------------------------------------------


def test_the_150_m_road_k175_without_waste() -> None:
    # 150 x 4 x 0.12 = 72 m³; cement 72 x 326 = 23 472 kg / 50 = 469.44 -> 470 bags;
    # sand 72 x 760 = 54 720 kg / 1400 = 39.09 -> 39.1 m³; gravel 72 x 1029 = 74 088 kg
    # / 1800 = 41.16 -> 41.2 m³; water 72 x 215 = 15 480 L.
    bill = compute_bill_of_materials(road(), BOOK, NO_WASTE)
    assert bill.work_volume_m3 == pytest.approx(72.0)
    assert bill.norm == "K-175"
    assert "SNI 7394:2008" in bill.norm_source
    assert quantities(bill) == {"cement": 470, "sand": 39.1, "gravel": 41.2, "water": 15480}
    cement = bill.line("cement")
    assert cement.unit == "bag" and cement.pack_kg == 50 and isinstance(cement.quantity, int)
    assert cement.net_kg == pytest.approx(23472)
    assert bill.line("sand").unit == "m3" and bill.line("sand").net_kg == pytest.approx(54720)
    assert bill.line("gravel").net_kg == pytest.approx(74088)
    water = bill.line("water")
    assert water.unit == "litre" and water.supplied is False
    assert [line.item for line in bill.supplied_lines] == ["cement", "sand", "gravel"]


def test_the_150_m_road_with_40_kg_bags() -> None:
    # 23 472 kg / 40 = 586.8 -> 587 bags
    bill = compute_bill_of_materials(road(), BOOK, BomOptions(cement_bag_kg=40, waste_allowance=0))
    assert bill.line("cement").quantity == 587
    assert bill.line("cement").pack_kg == 40


def test_the_150_m_road_with_default_five_percent_waste() -> None:
    # cement 23 472 x 1.05 = 24 645.6 kg / 50 = 492.9 -> 493 bags
    # sand 54 720 x 1.05 = 57 456 kg / 1400 = 41.04 -> 41.1 m³
    # gravel 74 088 x 1.05 = 77 792.4 kg / 1800 = 43.218 -> 43.3 m³
    # water 15 480 x 1.05 = 16 254 L
    bill = compute_bill_of_materials(road(), BOOK)  # None -> book default 5 %
    assert bill.waste_allowance == 0.05
    assert quantities(bill) == {"cement": 493, "sand": 41.1, "gravel": 43.3, "water": 16254}
    assert bill.line("cement").net_kg == pytest.approx(23472)  # net is before waste
    assert bill.line("cement").gross_kg == pytest.approx(24645.6)


def test_k225_road() -> None:
    # 100 x 3 x 0.15 = 45 m³; cement 45 x 371 = 16 695 kg / 50 = 333.9 -> 334 bags;
    # sand 45 x 698 = 31 410 kg / 1400 = 22.436 -> 22.5 m³;
    # gravel 45 x 1047 = 47 115 kg / 1800 = 26.175 -> 26.2 m³; water 45 x 215 = 9675 L.
    bill = compute_bill_of_materials(road(100, 3, 0.15, concrete_grade="K-225"), BOOK, NO_WASTE)
    assert bill.norm == "K-225"
    assert bill.work_volume_m3 == pytest.approx(45.0)
    assert quantities(bill) == {"cement": 334, "sand": 22.5, "gravel": 26.2, "water": 9675}


def test_decimal_dimensions_are_used_as_typed() -> None:
    # 100 x 3.5 x 0.1 = 35 m³ exactly (in binary floats 35.000000000000014);
    # sand 35 x 760 = 26 600 kg / 1400 = 19.0 m³ exactly -> 19.0, not 19.1.
    bill = compute_bill_of_materials(road(100, 3.5, 0.1), BOOK, NO_WASTE)
    assert bill.line("sand").quantity == 19.0
    # cement 35 x 326 = 11 410 kg / 50 = 228.2 -> 229; gravel 36 015 / 1800 = 20.008 -> 20.1
    assert bill.line("cement").quantity == 229
    assert bill.line("gravel").quantity == 20.1


def test_density_overrides() -> None:
    # sand 54 720 kg / 1500 = 36.48 -> 36.5 m³; gravel 74 088 kg / 1600 = 46.305 -> 46.4 m³
    options = BomOptions(waste_allowance=0, sand_density_kg_m3=1500, gravel_density_kg_m3=1600)
    bill = compute_bill_of_materials(road(), BOOK, options)
    assert bill.line("sand").quantity == 36.5
    assert bill.line("gravel").quantity == 46.4


def test_drain_stone_masonry() -> None:
    # U-channel 100 m long, clear 0.4 m wide x 0.5 m deep, walls and floor 0.2 m thick:
    # section = (0.4 + 2 x 0.2) x (0.5 + 0.2) - 0.4 x 0.5 = 0.56 - 0.20 = 0.36 m²; 36 m³.
    # SNI 2836:2008, 1 PC : 4 PS, per m³: split stone 1.2 m³, cement 163 kg, sand 0.52 m³.
    # stone 43.2 m³; cement 5868 kg / 50 = 117.36 -> 118 bags; sand 18.72 -> 18.8 m³.
    work = WorkDimensions(
        work_type="drain", length_m=100, width_m=0.4, depth_m=0.5, thickness_m=0.2
    )
    bill = compute_bill_of_materials(work, BOOK, NO_WASTE)
    assert bill.norm == "1PC:4PS"
    assert bill.work_volume_m3 == pytest.approx(36.0)
    assert quantities(bill) == {"split_stone": 43.2, "cement": 118, "sand": 18.8}
    assert bill.line("sand").net_kg == pytest.approx(18.72 * 1400)
    assert bill.line("split_stone").net_kg == pytest.approx(43.2 * 1500)
    assert bill.line("cement").net_kg == pytest.approx(5868)


def test_drain_with_waste() -> None:
    # same drain, 10 % waste: stone 43.2 x 1.1 = 47.52 -> 47.6 m³;
    # cement 5868 x 1.1 = 6454.8 kg / 50 = 129.1 -> 130 bags; sand 18.72 x 1.1 = 20.592 -> 20.6
    work = WorkDimensions(
        work_type="drain", length_m=100, width_m=0.4, depth_m=0.5, thickness_m=0.2
    )
    bill = compute_bill_of_materials(work, BOOK, BomOptions(waste_allowance=0.1))
    assert quantities(bill) == {"split_stone": 47.6, "cement": 130, "sand": 20.6}


def test_box_culvert_k225() -> None:
    # barrel 6 m, clear 1.0 x 1.0 m, 0.2 m walls and slabs:
    # section = 1.4 x 1.4 - 1.0 = 0.96 m²; 5.76 m³ of K-225.
    # cement 5.76 x 371 = 2136.96 kg / 50 = 42.7 -> 43 bags; sand 4020.48 / 1400 = 2.872 -> 2.9;
    # gravel 6030.72 / 1800 = 3.350 -> 3.4; water 1238.4 -> 1239 L.
    work = WorkDimensions(
        work_type="culvert", length_m=6, width_m=1.0, depth_m=1.0, thickness_m=0.2
    )
    bill = compute_bill_of_materials(work, BOOK, NO_WASTE)
    assert bill.norm == "K-225"
    assert bill.work_volume_m3 == pytest.approx(5.76)
    assert quantities(bill) == {"cement": 43, "sand": 2.9, "gravel": 3.4, "water": 1239}


def test_grade_spelling_is_normalised() -> None:
    assert normalize_grade(" k 175 ") == "K-175"
    assert normalize_grade("K225") == "K-225"
    bill = compute_bill_of_materials(road(concrete_grade="k225"), BOOK, NO_WASTE)
    assert bill.norm == "K-225"


def test_models_are_frozen() -> None:
    bill = compute_bill_of_materials(road(), BOOK)
    with pytest.raises(ValidationError):
        bill.lines[0].quantity = 1  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# Invalid input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["length_m", "width_m", "thickness_m"])
@pytest.mark.parametrize("value", [0, -1.5, math.nan, math.inf])
def test_non_positive_or_non_finite_dimension_is_rejected(field: str, value: float) -> None:
    data: dict[str, Any] = {
        "work_type": "concrete_road",
        "length_m": 150,
        "width_m": 4,
        "thickness_m": 0.12,
    }
    data[field] = value
    with pytest.raises(ValidationError) as exc:
        WorkDimensions.model_validate(data)
    assert field in str(exc.value)


def test_non_positive_depth_is_rejected() -> None:
    with pytest.raises(ValidationError, match="depth_m"):
        WorkDimensions(work_type="drain", length_m=10, width_m=0.4, depth_m=0, thickness_m=0.2)


def test_depth_required_for_drain_and_culvert() -> None:
    for work_type in ("drain", "culvert"):
        with pytest.raises(ValidationError, match=r"depth_m .* is required"):
            WorkDimensions.model_validate(
                {"work_type": work_type, "length_m": 10, "width_m": 0.4, "thickness_m": 0.2}
            )


def test_depth_not_accepted_for_road() -> None:
    with pytest.raises(ValidationError, match="depth_m does not apply"):
        road(depth_m=0.3)


def test_unknown_work_type_is_rejected() -> None:
    with pytest.raises(ValidationError) as exc:
        WorkDimensions.model_validate(
            {"work_type": "bridge", "length_m": 10, "width_m": 2, "thickness_m": 0.2}
        )
    message = str(exc.value)
    assert "work_type" in message and "concrete_road" in message


def test_unknown_field_is_rejected() -> None:
    with pytest.raises(ValidationError, match="slab_cm"):
        WorkDimensions.model_validate(
            {
                "work_type": "concrete_road",
                "length_m": 10,
                "width_m": 2,
                "thickness_m": 0.12,
                "slab_cm": 12,
            }
        )


def test_unknown_grade_names_the_allowed_ones() -> None:
    with pytest.raises(
        ValueError, match=r"unknown grade 'K-300' for concrete_road; allowed: K-175, K-225"
    ):
        compute_bill_of_materials(road(concrete_grade="K-300"), BOOK)
    with pytest.raises(ValueError, match="allowed: K-225"):
        compute_bill_of_materials(
            WorkDimensions(
                work_type="culvert",
                length_m=6,
                width_m=1,
                depth_m=1,
                thickness_m=0.2,
                concrete_grade="K-175",
            ),
            BOOK,
        )


def test_unavailable_bag_size_is_rejected() -> None:
    with pytest.raises(
        ValueError, match="cement bag of 45 kg is not available; allowed: 50 kg, 40 kg"
    ):
        compute_bill_of_materials(road(), BOOK, BomOptions(cement_bag_kg=45))


@pytest.mark.parametrize("waste", [-0.01, 1.5, math.nan])
def test_invalid_waste_allowance_is_rejected(waste: float) -> None:
    with pytest.raises(ValidationError, match="waste_allowance"):
        BomOptions(waste_allowance=waste)


def test_invalid_density_is_rejected() -> None:
    with pytest.raises(ValidationError, match="sand_density_kg_m3"):
        BomOptions(sand_density_kg_m3=0)


# --------------------------------------------------------------------------------------------
# Invalid norm books
# --------------------------------------------------------------------------------------------


def test_missing_norm_book_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(NormBookError, match=r"cannot read norm book .*nope\.toml"):
        load_norm_book(missing)


def test_norm_book_that_is_not_toml(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[items.cement\nunit = 'bag'\n", encoding="utf-8")
    with pytest.raises(NormBookError, match="is not valid TOML"):
        load_norm_book(bad)


def test_norm_book_with_unknown_item_names_it() -> None:
    data = raw_book()
    data["norms"]["K-175"]["materials"][0]["item"] = "semen"
    with pytest.raises(ValidationError, match="norm 'K-175' uses unknown item 'semen'"):
        NormBook.model_validate(data)


def test_norm_book_without_source_is_rejected() -> None:
    data = raw_book()
    del data["norms"]["K-225"]["source"]
    with pytest.raises(ValidationError, match=r"norms\.K-225\.source"):
        NormBook.model_validate(data)


def test_norm_book_validation_errors_are_wrapped(tmp_path: Path) -> None:
    text = resources.files("services.materials.domain").joinpath("norms.toml").read_text("utf-8")
    broken = tmp_path / "norms.toml"
    broken.write_text(text.replace('default_norm = "K-175"', 'default_norm = "K-500"'), "utf-8")
    with pytest.raises(
        NormBookError, match=r"invalid: .*work type 'concrete_road' uses unknown norm 'K-500'"
    ):
        load_norm_book(broken)


def test_norm_book_rejects_incompatible_units() -> None:
    data = raw_book()
    data["norms"]["K-175"]["materials"][0]["unit"] = "m3"  # cement in m³, shipped in bags
    with pytest.raises(ValidationError, match="cement is given in m3 but shipped in bag"):
        NormBook.model_validate(data)


def test_norm_book_rejects_unknown_keys() -> None:
    data = raw_book()
    data["items"]["sand"]["densty_kg_m3"] = 1400
    with pytest.raises(ValidationError, match="densty_kg_m3"):
        NormBook.model_validate(data)


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

lengths = st.floats(min_value=0.5, max_value=2000, allow_nan=False, allow_infinity=False)
widths = st.floats(min_value=0.05, max_value=12, allow_nan=False, allow_infinity=False)
thicknesses = st.floats(min_value=0.01, max_value=0.6, allow_nan=False, allow_infinity=False)
depths = st.floats(min_value=0.05, max_value=3, allow_nan=False, allow_infinity=False)
wastes = st.floats(min_value=0, max_value=0.3, allow_nan=False, allow_infinity=False)
growth = st.floats(min_value=0, max_value=5, allow_nan=False, allow_infinity=False)
bag_sizes = st.sampled_from([50, 40])


@st.composite
def works(draw: st.DrawFn) -> WorkDimensions:
    work_type = draw(st.sampled_from(WORK_TYPES))
    grade = draw(st.sampled_from([None, *work_rules().grades_for(work_type)]))
    return WorkDimensions(
        work_type=work_type,
        length_m=draw(lengths),
        width_m=draw(widths),
        thickness_m=draw(thicknesses),
        depth_m=None if work_type == "concrete_road" else draw(depths),
        concrete_grade=grade,
    )


def _grow(work: WorkDimensions, field: str, factor: float) -> WorkDimensions:
    value = getattr(work, field)
    if value is None:
        return work
    return work.model_copy(update={field: value * (1 + factor)})


@settings(deadline=None)
@given(works(), wastes, bag_sizes)
def test_quantities_are_never_negative(work: WorkDimensions, waste: float, bag: int) -> None:
    bill = compute_bill_of_materials(
        work, BOOK, BomOptions(waste_allowance=waste, cement_bag_kg=bag)
    )
    assert bill.work_volume_m3 > 0
    for line in bill.lines:
        assert line.quantity > 0
        assert line.net_kg > 0
        assert line.gross_kg >= line.net_kg


@settings(deadline=None)
@given(
    works(),
    st.sampled_from(["length_m", "width_m", "thickness_m", "depth_m"]),
    growth,
    wastes,
)
def test_monotone_in_every_dimension(
    work: WorkDimensions, field: str, factor: float, waste: float
) -> None:
    options = BomOptions(waste_allowance=waste)
    small = compute_bill_of_materials(work, BOOK, options)
    large = compute_bill_of_materials(_grow(work, field, factor), BOOK, options)
    assert large.work_volume_m3 >= small.work_volume_m3
    for before, after in zip(small.lines, large.lines, strict=True):
        assert after.item == before.item
        assert after.quantity >= before.quantity
        assert after.net_kg >= before.net_kg


@settings(deadline=None)
@given(works(), wastes, wastes)
def test_monotone_in_waste_allowance(work: WorkDimensions, w1: float, w2: float) -> None:
    low, high = sorted((w1, w2))
    small = compute_bill_of_materials(work, BOOK, BomOptions(waste_allowance=low))
    large = compute_bill_of_materials(work, BOOK, BomOptions(waste_allowance=high))
    for before, after in zip(small.lines, large.lines, strict=True):
        assert after.quantity >= before.quantity
        assert after.net_kg == before.net_kg  # net is before waste


@settings(deadline=None)
@given(works(), wastes, bag_sizes)
def test_bags_are_rounded_up_to_whole_packs(work: WorkDimensions, waste: float, bag: int) -> None:
    bill = compute_bill_of_materials(
        work, BOOK, BomOptions(waste_allowance=waste, cement_bag_kg=bag)
    )
    cement = bill.line("cement")
    assert isinstance(cement.quantity, int)
    assert cement.pack_kg == bag
    needed = cement.net_kg * (1 + waste)
    assert cement.gross_kg == pytest.approx(needed, rel=1e-12)
    # exact Decimal arithmetic inside; allow only float-representation slack here
    slack = 1e-9 * max(needed, 1.0)
    assert cement.quantity * bag >= needed - slack
    assert (cement.quantity - 1) * bag < needed + slack


@settings(deadline=None)
@given(works(), wastes)
def test_m3_lines_are_rounded_up_to_a_tenth(work: WorkDimensions, waste: float) -> None:
    bill = compute_bill_of_materials(work, BOOK, BomOptions(waste_allowance=waste))
    for line in bill.lines:
        if line.unit != "m3":
            continue
        density = BOOK.items[line.item].density_kg_m3
        assert density is not None
        needed = line.net_kg * (1 + waste) / density
        slack = 1e-9 * max(needed, 1.0)
        tenths = line.quantity * 10
        assert tenths == pytest.approx(round(tenths), abs=1e-6)
        assert line.quantity >= needed - slack
        assert line.quantity - 0.1 < needed + slack
