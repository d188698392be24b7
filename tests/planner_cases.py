"""Small planning problems built by hand (tests/test_planner.py): the 2017 indicators, standards and thresholds of
spec §4.1, and round unit costs, so the optimum can be checked on paper."""

from __future__ import annotations

from junheng.lib.planner.problem import CountyProblem, Indicator, Item, Part

INDICATORS = [
    Indicator("Q1", "teachers_above_degree", 100, {"primary": 4.2, "junior": 5.3}),
    Indicator("Q2", "backbone_teachers", 100, {"primary": 1.0, "junior": 1.0}),
    Indicator("Q3", "pe_art_teachers", 100, {"primary": 0.9, "junior": 0.9}),
    Indicator("Q4", "teaching_aux_area_m2", 1, {"primary": 4.5, "junior": 5.8}),
    Indicator("Q5", "sports_area_m2", 1, {"primary": 7.5, "junior": 10.2}),
    Indicator("Q6", "equipment_value_yuan", 1, {"primary": 2000, "junior": 2500}),
    Indicator("Q7", "multimedia_classrooms", 100, {"primary": 2.3, "junior": 2.4}),
]

ITEMS = {
    "teaching_aux_area_m2": Item("teaching_aux_area_m2", "school", 1, False, 3000.0),
    "sports_area_m2": Item("sports_area_m2", "school", 1, False, 400.0),
    "equipment_value_yuan": Item("equipment_value_yuan", "school", 100, False, 1.0),
    "multimedia_classrooms": Item("multimedia_classrooms", "school", 1, True, 60000.0),
    "teachers_above_degree": Item("teachers_above_degree", "part", 1, True, 100000.0),
    "backbone_teachers": Item("backbone_teachers", "part", 1, True, 100000.0),
    "pe_art_teachers": Item("pe_art_teachers", "part", 1, True, 100000.0),
}


def primary_school(code: str, students: float = 100, **overrides) -> Part:
    """A primary school of `students` that meets every standard with a little room (per 100 students: 5 teachers
    above degree, 2 backbone, 1 PE/art, 5 m² and 8 m² per student, 2,500 yuan, 3 rooms), values scaled to size."""
    k = students / 100
    res = {
        "teachers_above_degree": 5 * k, "backbone_teachers": 2 * k, "pe_art_teachers": 1 * k,
        "teaching_aux_area_m2": 500 * k, "sports_area_m2": 800 * k, "equipment_value_yuan": 250_000 * k,
        "multimedia_classrooms": 3 * k,
    }
    res.update(overrides)
    return Part(code, "primary", students, 1.0, res)


def county(parts: list[Part], code: str = "341099") -> CountyProblem:
    return CountyProblem(
        county_code=code, year=2024, target_year=2024, province_code=code[:2], parts=parts, indicators=INDICATORS,
        cv_threshold={"primary": 0.50, "junior": 0.45}, min_met=6, min_share=0.85, items=ITEMS,
    )
