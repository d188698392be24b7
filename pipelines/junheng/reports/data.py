"""What the reports read from the warehouse: one function per section, rows as plain dicts.

Every mart the reports read is named in ``TABLES`` (one place to keep in step with dbt_project/models/marts).
Where an optional mart (trend, share, gap, ranking, overall verdict) is absent, the section is derived from
the core marts of issue 3 with the spec §5 definition, or shown as "no data"; the page says which.
"""

from __future__ import annotations

from typing import Any

import duckdb

TABLES = {
    "cv": "marts.county_indicator_cv",
    "balance": "marts.county_balance",
    "school_ind": "marts.school_indicators",
    "compliance": "marts.school_quality_compliance",
    "scorecard": "marts.quality_scorecard",
    "verdict": "marts.quality_verdict",
    "trend": "marts.indicator_trend",
    "share": "marts.school_cv_share",
    "gap_school": "marts.school_standard_gap",
    "gap_county": "marts.county_standard_gap",
    "rank": "marts.county_progress_rank",
    "theil": "marts.county_theil",
    "theil_group": "marts.county_theil_group",
    "census": "raw.census_schools",
    "returns": "raw.county_returns",
    "thresholds": "config.cv_thresholds",
}

PART_ORDER = {"resource": 0, "government": 1, "quality": 2, "recognition": 3}


class ReportError(Exception):
    """A report cannot be made (no data for the county/year, marts missing): message in Chinese."""


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or [])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def columns(con: duckdb.DuckDBPyConnection, key: str) -> set[str]:
    schema, name = TABLES[key].split(".")
    return {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
            [schema, name],
        ).fetchall()
    }


def has(con: duckdb.DuckDBPyConnection, key: str, *needed: str) -> bool:
    cols = columns(con, key)
    return bool(cols) and all(c in cols for c in needed)


def pick(row: dict[str, Any], *names: str) -> Any:
    for n in names:
        if n in row and row[n] is not None:
            return row[n]
    return None


def verdict(v: Any) -> str:
    """Normalise a verdict (bool or text) to met / not_met / incomplete / no_data."""
    if v is None:
        return "no_data"
    if isinstance(v, bool):
        return "met" if v else "not_met"
    s = str(v).strip().lower()
    if s in ("met", "pass", "passed", "true", "yes", "达标"):
        return "met"
    if s in ("not_met", "fail", "failed", "false", "no", "未达标"):
        return "not_met"
    if s in ("incomplete", "no_data"):
        return s
    return s


# ------------------------------------------------------------------ names


def county_names(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    names: dict[str, str] = {}
    for key in ("returns", "census"):
        if has(con, key, "county_code", "county_name"):
            for r in con.execute(
                f"SELECT county_code, arg_max(county_name, year) FROM {TABLES[key]} "
                "WHERE county_name IS NOT NULL GROUP BY county_code"
            ).fetchall():
                names.setdefault(r[0], r[1])
    return names


def school_names(con: duckdb.DuckDBPyConnection, county_code: str, year: int) -> dict[str, str]:
    if not has(con, "census", "school_code", "school_name", "county_code"):
        return {}
    return dict(
        con.execute(
            f"SELECT school_code, arg_max(school_name, year) FROM {TABLES['census']} "
            "WHERE county_code = ? AND year <= ? GROUP BY school_code",
            [county_code, year],
        ).fetchall()
    )


def school_attrs(con: duckdb.DuckDBPyConnection, county_code: str, year: int) -> dict[str, dict]:
    if not has(con, "census", "school_code", "school_type", "urban_rural"):
        return {}
    return {
        r["school_code"]: r
        for r in rows(
            con,
            f"SELECT school_code, school_type, urban_rural FROM {TABLES['census']} WHERE county_code = ? AND year = ?",
            [county_code, year],
        )
    }


def years(con: duckdb.DuckDBPyConnection) -> list[int]:
    return [r[0] for r in con.execute(f"SELECT DISTINCT year FROM {TABLES['cv']} ORDER BY year").fetchall()]


# ------------------------------------------------------------------ sections


def indicator_cv(con, county_code: str, year: int) -> list[dict]:
    return rows(con, f"SELECT * FROM {TABLES['cv']} WHERE county_code = ? AND year = ?", [county_code, year])


def balance(con, county_code: str, year: int) -> dict[str, dict]:
    if not has(con, "balance", "county_code", "year", "level"):
        return {}
    return {
        r["level"]: r
        for r in rows(con, f"SELECT * FROM {TABLES['balance']} WHERE county_code = ? AND year = ?", [county_code, year])
    }


def composite_thresholds(con, county_code: str) -> dict[str, float]:
    """Basic-method composite thresholds from the seed (province override first), if the seed is there."""
    if not has(con, "thresholds", "province_code", "method", "level", "measure", "threshold"):
        return {}
    out: dict[str, float] = {}
    for r in rows(
        con,
        f"""SELECT level, threshold FROM {TABLES['thresholds']}
            WHERE method = 'basic' AND measure = 'composite' AND province_code IN (?, '*')
            ORDER BY province_code = '*'""",
        [county_code[:2]],
    ):
        out.setdefault(r["level"], r["threshold"])
    return out


def standards(con, county_code: str, year: int) -> dict[tuple[str, str], float]:
    if not has(con, "school_ind", "standard"):
        return {}
    county_filter, params = _school_county_filter(con, "school_ind", county_code)
    return {
        (r["level"], r["indicator"]): r["standard"]
        for r in rows(
            con,
            f"""SELECT level, indicator, any_value(standard) AS standard FROM {TABLES['school_ind']} s
                WHERE method = 'quality' AND year = ? AND {county_filter} GROUP BY ALL""",
            [year, *params],
        )
    }


def _school_county_filter(con, key: str, county_code: str) -> tuple[str, list]:
    if "county_code" in columns(con, key):
        return "s.county_code = ?", [county_code]
    return (
        f"s.school_code IN (SELECT school_code FROM {TABLES['census']} WHERE county_code = ?)",
        [county_code],
    )


def compliance(con, county_code: str, year: int) -> list[dict]:
    if not has(con, "compliance", "school_code", "compliant"):
        return []
    county_filter, params = _school_county_filter(con, "compliance", county_code)
    return rows(
        con,
        f"SELECT * FROM {TABLES['compliance']} s WHERE year = ? AND {county_filter} ORDER BY level, school_code",
        [year, *params],
    )


def school_quality_values(con, county_code: str, year: int) -> list[dict]:
    county_filter, params = _school_county_filter(con, "school_ind", county_code)
    return rows(
        con,
        f"""SELECT * FROM {TABLES['school_ind']} s
            WHERE method = 'quality' AND year = ? AND {county_filter}""",
        [year, *params],
    )


def scorecard(con, county_code: str, year: int) -> list[dict]:
    if not has(con, "scorecard", "item", "status"):
        return []
    out = rows(con, f"SELECT * FROM {TABLES['scorecard']} WHERE county_code = ? AND year = ?", [county_code, year])
    level_order = {"primary": 0, "junior": 1, None: 2}
    out.sort(key=lambda r: (PART_ORDER.get(r.get("part"), 9), r["item"], level_order.get(r.get("level"), 3)))
    return out


def overall_verdict(con, county_code: str, year: int, card: list[dict]) -> tuple[str, bool]:
    """(verdict, from_mart). Without the verdict mart: not_met if an item fails, else incomplete if one has
    no data, else met."""
    if has(con, "verdict", "county_code", "year"):
        r = rows(con, f"SELECT * FROM {TABLES['verdict']} WHERE county_code = ? AND year = ?", [county_code, year])
        if r:
            return verdict(pick(r[0], "verdict", "overall_verdict", "status")), True
    if not card:
        return "no_data", False
    statuses = {verdict(r["status"]) for r in card}
    if "not_met" in statuses:
        return "not_met", False
    if "no_data" in statuses:
        return "incomplete", False
    return "met", False


def trend(con, county_code: str, year: int) -> tuple[list[dict], bool]:
    """Rows (level, method, indicator, year, county_value, cv, cv_change_per_year, cv_threshold,
    projected_year) up to ``year``; from the trend mart, else the CVs by year (no change or projection)."""
    if has(con, "trend", "county_code", "year", "indicator", "cv"):
        return (
            rows(
                con,
                f"SELECT * FROM {TABLES['trend']} WHERE county_code = ? AND year <= ? ORDER BY year",
                [county_code, year],
            ),
            True,
        )
    out = rows(
        con,
        f"""SELECT level, method, indicator, year, county_value, cv, cv_threshold
            FROM {TABLES['cv']} WHERE county_code = ? AND year <= ? ORDER BY year""",
        [county_code, year],
    )
    thr = composite_thresholds(con, county_code)
    for lvl_year, lst in _group(out, ("level", "year"), method="basic").items():
        cvs = [r["cv"] for r in lst if r["cv"] is not None]
        if len(cvs) == 8:
            out.append({"level": lvl_year[0], "method": "basic", "indicator": "composite", "year": lvl_year[1],
                        "county_value": None, "cv": sum(cvs) / 8, "cv_threshold": thr.get(lvl_year[0])})
    out.sort(key=lambda r: r["year"])
    return out, False


def _group(items: list[dict], keys: tuple[str, ...], **where: Any) -> dict[tuple, list[dict]]:
    g: dict[tuple, list[dict]] = {}
    for r in items:
        if all(r.get(k) == v for k, v in where.items()):
            g.setdefault(tuple(r[k] for k in keys), []).append(r)
    return g


def shares(con, county_code: str, year: int) -> list[dict] | None:
    if not has(con, "share", "school_code", "share"):
        return None
    county_filter, params = _school_county_filter(con, "share", county_code)
    return rows(
        con,
        f"""SELECT * FROM {TABLES['share']} s WHERE year = ? AND method = 'quality' AND {county_filter}
            ORDER BY level, indicator, share DESC NULLS LAST""",
        [year, *params],
    )


def gaps(con, county_code: str, year: int, school_values: list[dict]) -> tuple[list[dict], list[dict], bool]:
    """(county totals, per-school gaps, from_mart). Gap = (standard - value) x students (/100 per hundred)."""
    if has(con, "gap_school", "school_code", "gap") and has(con, "gap_county", "county_code", "gap"):
        county_filter, params = _school_county_filter(con, "gap_school", county_code)
        per_school = rows(
            con,
            f"SELECT * FROM {TABLES['gap_school']} s WHERE year = ? AND {county_filter} AND gap > 0",
            [year, *params],
        )
        totals = rows(
            con, f"SELECT * FROM {TABLES['gap_county']} WHERE county_code = ? AND year = ?", [county_code, year]
        )
        return totals, per_school, True
    per_school = []
    for r in school_values:
        if r.get("meets") is False and r.get("standard") is not None and r.get("value") is not None \
                and r.get("students"):
            per_hundred = r["indicator"] in ("Q1", "Q2", "Q3", "Q7")
            gap = (r["standard"] - r["value"]) * r["students"] / (100 if per_hundred else 1)
            per_school.append({**r, "gap": gap})
    totals_g = _group(per_school, ("level", "indicator"))
    totals = [{"level": k[0], "indicator": k[1], "schools_below": len(v), "gap": sum(x["gap"] for x in v)}
              for k, v in totals_g.items()]
    return totals, per_school, False


def ranking(con, year: int, province: str | None) -> tuple[list[dict], bool]:
    """Counties of a year ranked by progress (spec §5): items met desc, mean CV/threshold asc."""
    prov = f"AND left(county_code, 2) = '{province}'" if province else ""
    if has(con, "rank", "county_code", "year"):
        got = rows(con, f"SELECT * FROM {TABLES['rank']} WHERE year = ? {prov}", [year])
        if got:
            return got, True
    got = rows(
        con,
        f"""WITH items AS (
                SELECT county_code, count(*) FILTER (WHERE status = 'met') AS items_met, count(*) AS items_total
                FROM {TABLES['scorecard']} WHERE year = ? {prov} GROUP BY county_code),
            ratio AS (
                SELECT county_code, avg(cv / cv_threshold) AS mean_cv_ratio
                FROM {TABLES['cv']} WHERE year = ? AND method = 'quality' AND cv_threshold > 0 {prov}
                GROUP BY county_code)
            SELECT county_code, year, coalesce(items_met, 0) AS items_met, items_total, mean_cv_ratio
            FROM (SELECT DISTINCT county_code, year FROM {TABLES['cv']} WHERE year = ? {prov})
            LEFT JOIN items USING (county_code) LEFT JOIN ratio USING (county_code)""",
        [year, year, year],
    ) if has(con, "scorecard", "status") else []
    got.sort(key=lambda r: (-(r["items_met"] or 0), r["mean_cv_ratio"] if r["mean_cv_ratio"] is not None else 9e9))
    for k, r in enumerate(got, start=1):
        r["progress_rank"] = k
    return got, False


def theil(con, county_code: str, year: int) -> tuple[list[dict], list[dict]] | None:
    """(Theil-T per level and 2017 indicator, its urban/town/rural group rows), or None without the marts."""
    if not (has(con, "theil", "theil_t") and has(con, "theil_group", "urban_rural")):
        return None
    where = "county_code = ? AND year = ? AND method = 'quality'"
    return (
        rows(con, f"SELECT * FROM {TABLES['theil']} WHERE {where}", [county_code, year]),
        rows(con, f"SELECT * FROM {TABLES['theil_group']} WHERE {where}", [county_code, year]),
    )


def clean_cv_series(con, county_code: str, year: int) -> dict[tuple[str, str, str], list[tuple[int, float]]]:
    """CV by year without the school parts whose inputs carry a warning flag (issue 4), for the series where
    that differs from the official CV in some year: {(level, method, indicator): [(year, cv_clean)]}."""
    out: dict[tuple[str, str, str], list[tuple[int, float]]] = {}
    if has(con, "cv", "cv_clean"):
        for r in rows(con, f"""SELECT level, method, indicator, year, cv, cv_clean FROM {TABLES['cv']}
                                WHERE county_code = ? AND year <= ? ORDER BY year""", [county_code, year]):
            out.setdefault((r["level"], r["method"], r["indicator"]), []).append((r["year"], r["cv"], r["cv_clean"]))
    if has(con, "balance", "composite_cv_clean"):
        for r in rows(con, f"""SELECT level, year, composite_cv AS cv, composite_cv_clean AS cv_clean
                                FROM {TABLES['balance']} WHERE county_code = ? AND year <= ? ORDER BY year""",
                      [county_code, year]):
            out.setdefault((r["level"], "basic", "composite"), []).append((r["year"], r["cv"], r["cv_clean"]))
    return {
        k: [(y, c) for y, _, c in v]
        for k, v in out.items()
        if any(c is not None and (o is None or abs(o - c) > 1e-9) for _, o, c in v)
    }


def overall_verdicts(con, year: int, province: str | None) -> dict[str, str]:
    """Overall 2017 verdict of every county of a year in one query (the verdict mart, else derived from the
    scorecard as overall_verdict does)."""
    prov = f"AND left(county_code, 2) = '{province}'" if province else ""
    if has(con, "verdict", "county_code", "year", "verdict"):
        got = dict(con.execute(
            f"SELECT county_code, verdict FROM {TABLES['verdict']} WHERE year = ? {prov}", [year]).fetchall())
        if got:
            return {k: verdict(v) for k, v in got.items()}
    if not has(con, "scorecard", "status"):
        return {}
    return dict(con.execute(
        f"""SELECT county_code,
                   CASE WHEN bool_or(status = 'not_met') THEN 'not_met'
                        WHEN bool_or(status = 'no_data') THEN 'incomplete' ELSE 'met' END
            FROM {TABLES['scorecard']} WHERE year = ? {prov} GROUP BY county_code""", [year]).fetchall())
