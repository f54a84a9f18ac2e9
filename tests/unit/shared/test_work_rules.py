"""The one statement of what each work type may be built of, and the norm book it binds."""

from __future__ import annotations

from services.materials.domain.bill_of_materials import load_norm_book
from shared.contracts.types import WORK_TYPES
from shared.reference.work_rules import work_rules


def test_the_rules_name_the_allowed_grades_in_their_refusal() -> None:
    rules = work_rules()
    assert rules.grade_problem("culvert", "K-225") is None
    assert rules.grade_problem("culvert", None) is None
    assert rules.grade_problem("culvert", "K-175") == (
        "unknown grade 'K-175' for culvert; allowed: K-225"
    )
    assert rules.grade_problem("drain", "K-175") == (
        "a drain takes no concrete grade; allowed: none (leave it out)"
    )


def test_the_norm_book_has_a_norm_for_every_allowed_grade_and_defaults_within_them() -> None:
    book, rules = load_norm_book(), work_rules()
    for work_type in WORK_TYPES:
        grades = rules.grades_for(work_type)
        assert all(grade in book.norms for grade in grades), work_type
        if grades:
            assert book.work_types[work_type].default_norm in grades, work_type
