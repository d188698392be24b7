"""What the reports read from the warehouse: the marts only, each with the columns named here, rows as plain dicts.

Every figure a page shows is a mart column (dbt_project/models/marts, the contracts in its YAML): the reports select
and lay out, they do not compute verdicts, composites, gaps, trends or rankings. ``READS`` names every mart and column
the reports read; tests/test_report_contract.py fails when one of them is not in the dbt contract, and the test
fixture (tests/report_fixture.py) builds its tables from the same contract. A warehouse whose marts lack a column
(built before the marts changed) gives a ReportError that says which, not a guess.
"""

from __future__ import annotations

from typing import Any, Sequence

import duckdb

# mart -> the columns the reports read from it
READS: dict[str, tuple[str, ...]] = {
    "marts.dim_county": (
        "county_code", "county_name", "province_code", "province_name", "prefecture_code", "prefecture_name",
    ),
    "marts.dim_county_year": ("county_code", "year", "county_name"),
    "marts.dim_school_year": ("school_code", "year", "school_name", "county_code", "school_type", "urban_rural"),
    "marts.county_indicator_cv": (
        "county_code", "year", "level", "method", "indicator", "county_value", "cv", "schools", "students",
        "cv_threshold", "meets_cv", "total_schools", "total_students", "flagged_schools", "county_value_clean",
        "cv_clean", "provisional",
    ),
    "marts.county_balance": (
        "county_code", "year", "level", "basic_schools", "basic_students", "composite_cv", "composite_threshold",
        "basic_met", "composite_cv_clean", "basic_provisional", "quality_cv_met", "quality_composite_cv",
        "schools_total", "schools_compliant", "schools_not_compliant", "schools_undetermined", "quality_resource_met",
        "quality_provisional",
    ),
    "marts.school_indicators": ("school_code", "year", "level", "method", "indicator", "county_code", "value",
                                "standard", "meets"),
    "marts.school_quality_compliance": (
        "school_code", "year", "level", "county_code", "urban_rural", "students", "indicators_met",
        "lowest_share_missed", "compliant", "warning_flagged",
    ),
    "marts.quality_scorecard": (
        "county_code", "year", "part", "item", "level", "name_zh", "value", "value_2", "field_1", "field_2",
        "cv_threshold", "county_value", "standard", "schools_failing", "schools_checked", "schools_unknown",
        "requirement_zh", "status", "provisional",
    ),
    "marts.quality_verdict": (
        "county_code", "year", "verdict", "resource_part", "government_part", "quality_part", "recognition_part",
        "items_met", "items_total", "items_not_met", "items_no_data", "verdict_clean", "provisional",
    ),
    "marts.indicator_trend": (
        "county_code", "level", "method", "indicator", "year", "cv", "cv_clean", "flagged_schools",
        "cv_last_change", "cv_clean_last_change", "cv_threshold", "trend_points", "trend_first_year", "trend_slope",
        "projected_year", "projection_status",
    ),
    "marts.school_cv_share": ("county_code", "year", "level", "method", "indicator", "school_code", "value",
                              "county_value", "share", "share_rank"),
    "marts.school_standard_gap": ("county_code", "school_code", "year", "level", "indicator", "value", "standard",
                                  "students", "gap", "unit"),
    "marts.county_standard_gap": ("county_code", "year", "level", "indicator", "schools_below", "gap", "unit"),
    "marts.county_progress_rank": (
        "county_code", "year", "province_code", "verdict", "items_met", "items_total", "mean_cv_ratio",
        "progress_rank", "province_rank",
    ),
    "marts.county_theil": ("county_code", "year", "level", "method", "indicator", "theil_t", "theil_between",
                           "theil_within"),
    "marts.county_theil_group": ("county_code", "year", "level", "method", "indicator", "urban_rural",
                                 "resource_share", "student_share"),
    "marts.school_item_failures": ("county_code", "year", "item", "level", "school_code", "status",
                                   "indicators_met", "lowest_share_missed", "warning_flagged"),
    "marts.flagged_school_impact": (
        "county_code", "year", "school_code", "level", "method", "indicator", "rule_id", "field",
        "submitted_value", "expected", "part_value", "cv", "cv_clean", "cv_threshold", "provisional",
    ),
    "marts.investment_plan_summary": (
        "county_code", "year", "target_year", "status", "status_zh", "verified", "explanation_zh", "cost_total",
        "cost_capital", "cost_annual", "lower_bound", "gap", "teachers_above_degree_added", "backbone_teachers_added",
        "pe_art_teachers_added", "teachers_cost", "teaching_aux_area_m2_added", "teaching_aux_area_cost",
        "sports_area_m2_added", "sports_area_cost", "equipment_yuan_added", "multimedia_classrooms_added",
        "multimedia_classrooms_cost", "schools_with_additions", "flagged_parts", "solver", "planned_at",
    ),
    "marts.investment_plan": (
        "county_code", "year", "target_year", "school_code", "school_name", "level", "resource", "item_name_zh",
        "unit_zh", "amount", "unit_cost", "cost", "cost_kind", "item_order",
    ),
    "marts.flag_status": ("county_code", "year", "open_flags", "confirmed_flags", "corrected_flags", "schools_open",
                          "oldest_open_since", "days_open", "settled"),
}

# Built by plan_job after a load (defs/orchestration), not by the load: a warehouse loaded with --no-plans, or whose
# plans have not run yet, has none of them; its report says the plan is still to be computed. When present, their
# columns are checked like every other mart's.
PLAN_MARTS = ("marts.investment_plan_summary", "marts.investment_plan")

PART_ORDER = {"resource": 0, "government": 1, "quality": 2, "recognition": 3}
LEVEL_ORDER = {"primary": 0, "junior": 1, None: 2}


class ReportError(Exception):
    """A report cannot be made (no data for the county/year, marts missing): message in Chinese."""


def check_marts(con: duckdb.DuckDBPyConnection) -> None:
    """Every mart and column in READS exists, or a ReportError naming what is missing."""
    have: dict[str, set[str]] = {}
    for schema, table, column in con.execute(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns WHERE table_schema = 'marts'"
    ).fetchall():
        have.setdefault(f"{schema}.{table}", set()).add(column)
    missing = []
    for table, cols in READS.items():
        if table not in have:
            if table not in PLAN_MARTS:
                missing.append(table)
        else:
            missing += [f"{table}.{c}" for c in cols if c not in have[table]]
    if missing:
        raise ReportError(
            "数据仓库中缺少报告所需的数据表或列（请用当前版本重新运行 junheng run；表结构有变化时需 --full-refresh）/ "
            "the warehouse lacks marts or columns the reports read (rebuild it with this version): "
            + ", ".join(missing[:12]) + (" …" if len(missing) > 12 else "")
        )


def select(con: duckdb.DuckDBPyConnection, table: str, where: str = "true", params: Sequence[Any] = (),
           order: str | None = None) -> list[dict[str, Any]]:
    """The READS columns of ``table`` for the rows matching ``where``."""
    cols = READS[table]
    sql = f"SELECT {', '.join(cols)} FROM {table} WHERE {where}" + (f" ORDER BY {order}" if order else "")
    return [dict(zip(cols, r)) for r in con.execute(sql, list(params)).fetchall()]


def years(con: duckdb.DuckDBPyConnection) -> list[int]:
    return [r[0] for r in con.execute("SELECT DISTINCT year FROM marts.county_indicator_cv ORDER BY year").fetchall()]


# ------------------------------------------------------------------ names


def counties(con) -> dict[str, dict]:
    return {r["county_code"]: r for r in select(con, "marts.dim_county")}


def county_name(con, county_code: str, year: int) -> str | None:
    """The county's name as of ``year`` (dim_county_year), else its current one (dim_county)."""
    got = select(con, "marts.dim_county_year", "county_code = ? AND year = ?", [county_code, year])
    if got and got[0]["county_name"]:
        return got[0]["county_name"]
    c = counties(con).get(county_code)
    return c["county_name"] if c else None


def schools(con, county_code: str, year: int) -> dict[str, dict]:
    """The county's schools of ``year`` by code (name, type, urban/rural as the census gives them that year)."""
    return {r["school_code"]: r for r in select(con, "marts.dim_school_year", "county_code = ? AND year = ?",
                                                  [county_code, year])}


def school_names(con, county_code: str, up_to_year: int) -> dict[str, str]:
    """Each school's name as of its latest year up to ``up_to_year`` (for lists that span years)."""
    out: dict[str, str] = {}
    for r in select(con, "marts.dim_school_year", "county_code = ? AND year <= ?", [county_code, up_to_year],
                    order="year"):
        if r["school_name"]:
            out[r["school_code"]] = r["school_name"]
    return out


# ------------------------------------------------------------------ sections (county and year)


def _cy(con, table: str, county_code: str, year: int, extra: str = "", order: str | None = None) -> list[dict]:
    return select(con, table, "county_code = ? AND year = ?" + (f" AND {extra}" if extra else ""),
                  [county_code, year], order)


def indicator_cv(con, county_code: str, year: int) -> list[dict]:
    return _cy(con, "marts.county_indicator_cv", county_code, year)


def balance(con, county_code: str, year: int) -> dict[str, dict]:
    return {r["level"]: r for r in _cy(con, "marts.county_balance", county_code, year)}


def standards(con, county_code: str, year: int) -> dict[tuple[str, str], float]:
    return {(r["level"], r["item"]): r["standard"]
            for r in _cy(con, "marts.quality_scorecard", county_code, year, "part = 'resource' AND item <> 'QS'")}


def compliance(con, county_code: str, year: int) -> list[dict]:
    return _cy(con, "marts.school_quality_compliance", county_code, year, order="level DESC, school_code")


def school_quality_values(con, county_code: str, year: int) -> list[dict]:
    return _cy(con, "marts.school_indicators", county_code, year, "method = 'quality'")


def plan(con, county_code: str, year: int) -> tuple[dict | None, list[dict]]:
    """The load's investment plan for the data year's students (spec §6): its summary row (None when the county
    meets §4.1 and was not planned, or plan_job has not run on this warehouse) and every addition, largest cost
    first."""
    if con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema || '.' || table_name IN "
                   "(?, ?)", list(PLAN_MARTS)).fetchone()[0] != len(PLAN_MARTS):
        return None, []
    summary = _cy(con, "marts.investment_plan_summary", county_code, year, "target_year = year")
    additions = _cy(con, "marts.investment_plan", county_code, year, "target_year = year",
                    order="cost DESC, school_code, item_order")
    return (summary[0] if summary else None), additions


def scorecard(con, county_code: str, year: int) -> list[dict]:
    out = _cy(con, "marts.quality_scorecard", county_code, year)
    out.sort(key=lambda r: (PART_ORDER.get(r["part"], 9), _item_order(r["item"]), LEVEL_ORDER.get(r["level"], 3)))
    return out


def _item_order(item: str) -> tuple:
    # Q1..Q7 then QS; G01.. by number
    return (item[0], 99 if item == "QS" else int(item[1:]) if item[1:].isdigit() else 98)


def verdict(con, county_code: str, year: int) -> dict | None:
    got = _cy(con, "marts.quality_verdict", county_code, year)
    return got[0] if got else None


def trend(con, county_code: str, year: int) -> list[dict]:
    return select(con, "marts.indicator_trend", "county_code = ? AND year <= ?", [county_code, year], order="year")


def shares(con, county_code: str, year: int) -> list[dict]:
    return _cy(con, "marts.school_cv_share", county_code, year, "method = 'quality'",
               order="level DESC, indicator, share_rank")


def gaps(con, county_code: str, year: int) -> tuple[list[dict], list[dict]]:
    """(county totals, per-school gaps)."""
    return (_cy(con, "marts.county_standard_gap", county_code, year),
            _cy(con, "marts.school_standard_gap", county_code, year, "gap > 0",
                order="level DESC, indicator, gap DESC, school_code"))


def theil(con, county_code: str, year: int) -> tuple[list[dict], list[dict]]:
    return (_cy(con, "marts.county_theil", county_code, year, "method = 'quality'"),
            _cy(con, "marts.county_theil_group", county_code, year, "method = 'quality'"))


def item_failures(con, county_code: str, year: int) -> list[dict]:
    return _cy(con, "marts.school_item_failures", county_code, year, order="item, level DESC, school_code")


def flagged_impact(con, county_code: str, up_to_year: int) -> list[dict]:
    """Every flag that changes a figure, in the years up to ``up_to_year`` (the trend charts span them)."""
    return select(con, "marts.flagged_school_impact", "county_code = ? AND year <= ?", [county_code, up_to_year],
                  order="year DESC, school_code, rule_id, field, level DESC, method DESC, indicator")


# ------------------------------------------------------------------ province


def flag_status(con, county_code: str, year: int) -> dict | None:
    """The county's verification status of the year (issue 15): open, confirmed and corrected questions."""
    rows = _cy(con, "marts.flag_status", county_code, year)
    return rows[0] if rows else None


def flag_statuses(con, year: int) -> dict[str, dict]:
    return {r["county_code"]: r for r in select(con, "marts.flag_status", "year = ?", [year])}


def ranking(con, year: int, province: str | None) -> list[dict]:
    where, params = "year = ?", [year]
    if province:
        where, params = where + " AND province_code = ?", [year, province]
    return select(con, "marts.county_progress_rank", where, params, order="progress_rank, county_code")


def balances(con, year: int) -> dict[tuple[str, str], dict]:
    return {(r["county_code"], r["level"]): r for r in select(con, "marts.county_balance", "year = ?", [year])}


def shortfalls(con, year: int) -> list[dict]:
    """Scorecard items not met or without data, every county of the year."""
    out = select(con, "marts.quality_scorecard", "year = ? AND status <> 'met'", [year])
    out.sort(key=lambda r: (r["county_code"], PART_ORDER.get(r["part"], 9), _item_order(r["item"]),
                            LEVEL_ORDER.get(r["level"], 3)))
    return out


def failures(con, year: int) -> list[dict]:
    return select(con, "marts.school_item_failures", "year = ?", [year], order="county_code, item, school_code")


def all_school_names(con, year: int) -> dict[str, str]:
    return {r["school_code"]: r["school_name"] for r in select(con, "marts.dim_school_year", "year = ?", [year])}
