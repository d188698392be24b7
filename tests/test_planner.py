"""The investment planner (spec §6) on counties small enough to solve by hand."""

from __future__ import annotations

import math

import pytest

from junheng.lib.planner.problem import Part, evaluate
from junheng.lib.planner.solve import solve
from planner_cases import county, primary_school


def test_only_the_school_rule_binds_and_the_plan_is_the_sum_of_the_cheapest_fixes():
    # A: 1 room per 100 students, below 85% of 2.3 (1.955): the cheapest fix is one room (to 2.0, the one it may miss)
    # B: area 4.0 (misses 4.5 but ≥ 85%) and sports 6.0 (below 85% of 7.5): two misses, so one must reach its
    #    standard. Sports to 7.5 costs 150 m² × 400 = 60,000; area to 4.5 and sports to 85% would cost
    #    50 × 3,000 + 37.5 × 400 = 165,000. The CVs stay far below 0.50 either way.
    parts = [primary_school("A", multimedia_classrooms=1), primary_school("B", teaching_aux_area_m2=400, sports_area_m2=600),
             primary_school("C"), primary_school("D")]
    plan = solve(county(parts))
    assert plan.status == "optimal"
    assert plan.additions == {("A", None, "multimedia_classrooms"): 1, ("B", None, "sports_area_m2"): 150}
    assert plan.cost == pytest.approx(60_000 + 60_000)
    assert plan.lower_bound == pytest.approx(plan.cost, abs=1)
    assert plan.gap == pytest.approx(0, abs=1e-6)


def test_only_a_cv_binds_and_the_optimum_is_the_one_derived_by_hand():
    # Two primary schools of 100 students, both above every standard, equipment 1,000,000 and 200,000 yuan
    # (10,000 and 2,000 yuan per student). Raising the poorer one by d: x = (10000, 2000 + d/100), and for two equal
    # schools CV = |x1 − x2| / (x1 + x2), so CV ≤ 0.5 ⇔ 8000 − d/100 ≤ 0.5 (12000 + d/100) ⇔ d/100 ≥ 2000/1.5
    # ⇔ d ≥ 133,333.3 yuan: rounded up to whole 100 yuan, 133,400.
    rich = primary_school("R", equipment_value_yuan=1_000_000)
    poor = primary_school("P", equipment_value_yuan=200_000)
    assert evaluate(county([rich, poor]), {}).noncompliant == []  # both meet the school rule: only the CV binds
    plan = solve(county([rich, poor]))
    assert plan.status == "optimal"
    assert plan.additions == {("P", None, "equipment_value_yuan"): 133_400}
    assert plan.cost == pytest.approx(133_400)
    assert 133_333 <= plan.lower_bound <= 133_400
    cv = evaluate(county([rich, poor]), plan.additions).cvs[("primary", "Q6")]
    assert cv <= 0.5 and cv == pytest.approx(0.5, abs=1e-3)


def test_a_nine_year_school_gets_rooms_once_and_both_parts_receive_their_split_share():
    # A 九年一贯制 school: 166 primary and 210 junior students; shares A/(A+1.1B) = 0.418 and 1.1B/(A+1.1B) = 0.582
    # (spec §1). It has 4 multimedia rooms: primary 1.673 rooms → 1.01 per 100 (< 85% of 2.3), junior 2.327 rooms →
    # 1.11 per 100 (< 85% of 2.4). Whole rooms raise both parts at once: n more rooms give the primary part
    # 0.418(4+n)/166·100 ≥ 1.955 ⇔ n ≥ 3.77 and the junior 0.582(4+n)/210·100 ≥ 2.04 ⇔ n ≥ 3.36: 4 rooms, not 4 + 4.
    a, b = 166, 210
    sp, sj = a / (a + 1.1 * b), 1.1 * b / (a + 1.1 * b)
    whole = {"teaching_aux_area_m2": 3000.0, "sports_area_m2": 5000.0, "equipment_value_yuan": 1_000_000.0,
             "multimedia_classrooms": 4.0}
    prim = Part("N", "primary", a, sp, {**whole, "teachers_above_degree": 8, "backbone_teachers": 2, "pe_art_teachers": 2})
    jun = Part("N", "junior", b, sj, {**whole, "teachers_above_degree": 12, "backbone_teachers": 3, "pe_art_teachers": 2})
    # other schools of the county so that the CVs are not the question
    others = [primary_school(c) for c in "CDE"]
    junior = [Part(f"J{i}", "junior", 100, 1.0, {"teachers_above_degree": 6, "backbone_teachers": 2, "pe_art_teachers": 1,
                                               "teaching_aux_area_m2": 600, "sports_area_m2": 1100,
                                               "equipment_value_yuan": 260_000, "multimedia_classrooms": 3})
              for i in range(3)]
    problem = county([prim, jun, *others, *junior])
    plan = solve(problem)
    assert plan.status == "optimal", plan.reason_zh
    assert plan.additions == {("N", None, "multimedia_classrooms"): 4}
    assert math.ceil((1.955 * a / 100) / sp - 4) == 4 and math.ceil((0.85 * 2.4 * b / 100) / sj - 4) == 4


def test_a_failing_school_the_county_cannot_invest_in_makes_the_county_infeasible_and_is_named():
    # A private school (plan_county_public_only = 1: the county invests only in its own public schools) with no sports
    # ground at all fails the school rule (Q5 at 0% of its standard); nothing the county adds elsewhere changes that.
    private = primary_school("P", students=300, sports_area_m2=0.0)
    private.raisable = False
    plan = solve(county([private, primary_school("A"), primary_school("B")]))
    assert plan.status == "infeasible"
    assert "P" in plan.reason_zh and "公办" in plan.reason_zh
    assert not plan.additions


def test_a_cv_that_schools_the_county_cannot_raise_decide_is_infeasible():
    # The private school meets the school rule (Q5 at 6.4 of 7.5 m²: the one indicator it may miss, ≥ 85%) and holds
    # 90% of the students; the public school is at 80 m² per student. Additions only raise values, and raising the
    # public school moves it further from the private one: the Q5 CV (1.33 today) cannot reach 0.50.
    private = primary_school("P", students=900, sports_area_m2=900 * 6.4)
    private.raisable = False
    public = primary_school("A", students=100, sports_area_m2=100 * 80.0)
    problem = county([private, public])
    assert evaluate(problem, {}).noncompliant == []
    assert evaluate(problem, {}).cvs[("primary", "Q5")] > 0.5
    plan = solve(problem)
    assert plan.status == "infeasible"
    assert "Q5" in plan.reason_zh


def test_a_county_that_already_passes_needs_nothing():
    plan = solve(county([primary_school("A"), primary_school("B")]))
    assert plan.status == "not_needed" and plan.cost == 0 and not plan.additions
