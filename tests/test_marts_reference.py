"""The plain-Python reference (tests/marts_reference.py) against the spec's worked numbers."""

import pytest

from marts_reference import (composite, compute, county_cv, in_quality_scope, school_compliance, split_parts)


def _school(code, stype, **kw):
    base = {"school_code": code, "county_code": "340103", "year": 2024, "school_type": stype,
            "ownership": "public", "authority": "county", "urban_rural": "urban",
            "primary_students": 0, "junior_students": 0, "senior_students": None}
    base.update(kw)
    return base


def test_split_nine_year_books():
    parts = split_parts(_school("3401030001", "nine_year", primary_students=166, junior_students=210, books=23226))
    books = {p["level"]: p["books"] for p in parts}
    assert round(books["primary"], 1) == 9711.6
    assert round(books["junior"], 1) == 13514.4
    assert books["primary"] + books["junior"] == pytest.approx(23226)


def test_split_complete_secondary_and_twelve_year():
    (junior,) = split_parts(_school("1", "complete_secondary", junior_students=300, senior_students=250, books=12000))
    assert junior["books"] == pytest.approx(12000 * 300 / (300 + 1.2 * 250))
    parts = {p["level"]: p for p in split_parts(_school("2", "twelve_year", primary_students=100,
                                                             junior_students=100, senior_students=100, books=3420))}
    assert parts["primary"]["books"] == pytest.approx(1000)
    assert parts["junior"]["books"] == pytest.approx(1100)
    assert split_parts(_school("3", "special", primary_students=20)) == []


def test_five_school_cv():
    pairs = list(zip([279, 137, 935, 160, 402], [45, 37, 89, 76, 55]))
    x, cv = county_cv(pairs)
    assert round(x, 3) == 6.334
    assert round(cv, 5) == 0.51526
    # not reported (None) leaves the school out of that indicator only; X = 0 gives no CV
    assert county_cv(pairs + [(None, 60)]) == (x, cv)
    assert county_cv([(0, 10), (0, 20)]) == (0, None)


def test_composite_is_mean_of_eight():
    cvs = [0.5, 0.6, 0.7, 0.55, 0.65, 0.6, 0.5, 0.636]
    assert composite(cvs) == pytest.approx(0.592)
    assert composite(cvs[:7]) is None
    assert composite(cvs[:7] + [None]) is None


def test_school_rule():
    prim = {"Q1": 4.0, "Q2": 1.2, "Q3": 1.0, "Q4": 5.0, "Q5": 8.0, "Q6": 2100, "Q7": 2.5}
    assert school_compliance(prim, "primary").compliant is True
    assert school_compliance({**prim, "Q1": 3.5}, "primary").compliant is False  # 83% < 85%
    assert school_compliance({**prim, "Q2": 0.9}, "primary").compliant is False  # two missed
    assert school_compliance({**prim, "Q1": 4.2, "Q7": None}, "primary").compliant is None


def test_scopes_and_units():
    tp = split_parts(_school("4", "teaching_point", primary_students=49))[0]
    assert not in_quality_scope(tp)
    schools = [
        _school("5", "primary", primary_students=100, primary_teachers=5.9, computers=12,
                equipment_value_10k_yuan=25, books=None),
        _school("6", "primary", primary_students=100, ownership="private", primary_teachers=6, computers=10,
                equipment_value_10k_yuan=20),
    ]
    ref = compute(schools)
    assert ref.school_values[("5", 2024, "primary", "basic", "B6")] == pytest.approx(0.059)
    assert ref.school_values[("5", 2024, "primary", "basic", "B4")] == pytest.approx(12)
    assert ref.school_values[("5", 2024, "primary", "basic", "B3")] == pytest.approx(2500)
    assert ("6", 2024, "primary", "basic", "B6") not in ref.school_values  # private: not in the 2012 scope
    assert ref.cv[("340103", 2024, "primary", "quality", "Q6")].students == 200
    assert ref.cv[("340103", 2024, "primary", "basic", "B5")].schools == 0


def test_trend_helpers():
    """The series of dbt_project/models/marts/trends/_unit_tests.yml, with the same expected values."""
    from marts_reference import change_per_year, projected_year, projection, theil_sen_slope
    assert change_per_year([(2017, 10.0), (2019, 16.0), (2020, 17.0)]) == {2017: None, 2019: 3.0, 2020: 1.0}
    clean = [(2017, .75), (2019, .6875), (2020, .625), (2021, .59375), (2022, .5625), (2023, .53125)]
    official = dict(clean) | {2021: 9.0}  # a flagged slip: the official series only
    assert change_per_year(list(official.items()))[2021] == 8.375
    assert change_per_year(clean)[2021] == -0.03125
    expected = {2017: (None, ("too_few_years", None)), 2019: (None, ("too_few_years", None)),
                2020: (-0.041666666666666664, ("projected", 2024)), 2021: (-0.04036458333333333, ("projected", 2024)),
                2022: (-0.03828125, ("projected", 2024)), 2023: (-0.03125, ("projected", 2024))}
    for year, (slope, proj) in expected.items():
        upto = [p for p in clean if p[0] <= year]
        assert theil_sen_slope(upto) == slope, year
        assert projection(upto, 0.5, year, official[year]) == proj, year
    rising = [(2020, .5), (2021, .5625), (2022, .625)]
    assert projection(rising, 0.45, 2022, .625) == ("not_descending", None)
    assert projection([(2022, .4375)], 0.5, 2022, .4375) == ("met", None)
    assert projection([(2020, .5625), (2021, .53125), (2022, .46875)], 0.5, 2022, .515625) == ("met_clean", None)
    assert projection(clean, None, 2023, .53125) == ("no_threshold", None)
    assert projected_year(clean[:3], 0.5) == 2024
    # one unflagged slip does not drive the trend (a least-squares slope over these points is +0.215625)
    slip = [(2018, .625), (2019, .59375), (2020, .5625), (2021, 3.0), (2022, .5)]
    assert theil_sen_slope(slip) == -0.03125
    assert projection(slip, 0.45, 2022, .5) == ("projected", 2025)


def test_progress_key_orders_verdict_first():
    from marts_reference import progress_key
    rows = [("not_met", 40, 0.2), ("met", 41, 0.8), ("incomplete", 15, 0.4), ("not_met", 40, 0.6), ("not_met", 27, 0.1)]
    assert sorted(rows, key=lambda r: progress_key(*r)) == [
        ("met", 41, 0.8), ("incomplete", 15, 0.4), ("not_met", 40, 0.2), ("not_met", 40, 0.6), ("not_met", 27, 0.1)]


def test_shares_gap_theil():
    from marts_reference import cv_shares, standard_gap, theil
    pairs = list(zip([279, 137, 935, 160, 402], [45, 37, 89, 76, 55]))
    shares = cv_shares(pairs)
    assert sum(shares) == pytest.approx(1.0)
    assert max(range(5), key=lambda i: shares[i]) == 2  # 10.5 books per student is furthest from 6.33
    assert standard_gap(1.754386, 2.3, 57, 100) == pytest.approx((2.3 - 1.754386) * 0.57)
    rows = [(279, 45, "urban"), (137, 37, "rural"), (935, 89, "urban"), (160, 76, "town"), (0, 55, "rural")]
    t, b, w = theil(rows)
    assert t == pytest.approx(b + w)
    assert theil([(10, 5, "urban"), (20, 10, "rural")]) == pytest.approx((0.0, 0.0, 0.0))
