"""The area register of Kota Jambi: which kecamatan, kelurahan and RT exist."""

from __future__ import annotations

import pytest

from shared.contracts.types import Area
from shared.reference.areas import AreaRegister, area_register, parse_register

KOTA_JAMBI_KECAMATAN = {
    "Alam Barajo",
    "Danau Sipin",
    "Danau Teluk",
    "Jambi Selatan",
    "Jambi Timur",
    "Jelutung",
    "Kota Baru",
    "Paal Merah",
    "Pasar Jambi",
    "Pelayangan",
    "Telanaipura",
}


@pytest.fixture(scope="module")
def register() -> AreaRegister:
    return area_register()


def area(
    kecamatan: str = "Telanaipura", kelurahan: str = "Simpang IV Sipin", rt: str = "003"
) -> Area:
    return Area(kecamatan=kecamatan, kelurahan=kelurahan, rt=rt)


def test_all_eleven_kecamatan_of_kota_jambi_are_present(register: AreaRegister) -> None:
    assert set(register.kecamatan) == KOTA_JAMBI_KECAMATAN
    assert register.kecamatan == sorted(KOTA_JAMBI_KECAMATAN)


def test_every_kecamatan_has_kelurahan_with_at_least_one_rt(register: AreaRegister) -> None:
    for kecamatan, kelurahan in register.rt_counts.items():
        assert kelurahan, kecamatan
        assert all(count >= 1 for count in kelurahan.values()), kecamatan


@pytest.mark.parametrize(
    ("kecamatan", "kelurahan", "rt"),
    [
        ("Telanaipura", "Simpang IV Sipin", "003"),
        ("Telanaipura", "Simpang IV Sipin", "001"),
        ("Jambi Timur", "Talang Banjar", "030"),
        ("Danau Teluk", "Olak Kemang", "020"),
        ("Pasar Jambi", "Orang Kayo Hitam", "011"),
    ],
)
def test_a_known_area_has_no_problem(
    register: AreaRegister, kecamatan: str, kelurahan: str, rt: str
) -> None:
    assert register.problem_with(area(kecamatan, kelurahan, rt)) is None


def test_every_first_and_last_rt_of_every_kelurahan_is_known(register: AreaRegister) -> None:
    for kecamatan, kelurahan in register.rt_counts.items():
        for name, count in kelurahan.items():
            assert register.problem_with(area(kecamatan, name, "001")) is None
            assert register.problem_with(area(kecamatan, name, f"{count:03d}")) is None
            assert register.problem_with(area(kecamatan, name, f"{count + 1:03d}")) is not None


def test_an_unknown_kecamatan_is_named(register: AreaRegister) -> None:
    problem = register.problem_with(area(kecamatan="Muara Sabak"))
    assert problem is not None
    assert "unknown kecamatan 'Muara Sabak'" in problem
    assert "Telanaipura" in problem  # the known ones are listed


def test_a_kelurahan_of_another_kecamatan_is_named(register: AreaRegister) -> None:
    problem = register.problem_with(area(kecamatan="Telanaipura", kelurahan="Kasang"))
    assert problem is not None
    assert "'Kasang'" in problem
    assert "Telanaipura" in problem
    assert "Simpang IV Sipin" in problem  # the kelurahan that do lie there


def test_an_unknown_kelurahan_is_named(register: AreaRegister) -> None:
    problem = register.problem_with(area(kelurahan="Simpang Tiga"))
    assert problem is not None
    assert "'Simpang Tiga'" in problem


@pytest.mark.parametrize("rt", ["000", "031", "999"])
def test_an_rt_out_of_range_is_named(register: AreaRegister, rt: str) -> None:
    problem = register.problem_with(area(rt=rt))
    assert problem == f"RT {rt} does not exist in Simpang IV Sipin (RT 001 to 030)"


def test_rt_range_follows_each_kelurahan(register: AreaRegister) -> None:
    problem = register.problem_with(area("Pelayangan", "Tengah", "021"))
    assert problem == "RT 021 does not exist in Tengah (RT 001 to 020)"


def test_parse_register_reads_counts_from_toml_text() -> None:
    text = """
[kecamatan."Satu"]
kelurahan = { "Alpha" = 2, "Beta" = 5 }

[kecamatan."Dua"]
kelurahan = { "Gamma" = 1 }
"""
    register = parse_register(text)
    assert register.rt_counts == {"Satu": {"Alpha": 2, "Beta": 5}, "Dua": {"Gamma": 1}}
    assert register.kecamatan == ["Dua", "Satu"]
    assert register.problem_with(area("Satu", "Beta", "005")) is None
    assert register.problem_with(area("Satu", "Alpha", "003")) is not None
