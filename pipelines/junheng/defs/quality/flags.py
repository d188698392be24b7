"""compute_flags: every plausibility failure of one year as rows of marts.submission_flags.

Pure (no Dagster). For year Y:
1. values_sql.py's relations (the values the rules judge, from the dbt views `staging.stg_census_schools` and
   `intermediate.int_school_parts` of Y, Y-1, Y-2, `raw.county_returns` of Y, and the stored warnings of Y-1 in
   `marts.submission_flags`) become temporary tables of the connection;
2. GX validates each one (only its judged columns and `row_id`, fetched as pandas) and returns the failing row ids
   of every expectation (gx_run.py): GX is the only evaluator of the rules;
3. the failing rows alone are read back from DuckDB and written as flags; the Hidiroglou–Berthelot interpretation
   (a believable change is info; a unit slip is named instead of the HB outlier) works on those rows only.

Year-over-year rules compare Y with last year's values where last year's own verdicts trust them: a value with a
stored warning of Y-1 (a rule on the year's own values) is no baseline, unless a county confirmed it (issue 15). A
load flags the years of its run in order, so Y-1's verdicts are those of the same run or of an earlier load.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from junheng.defs.quality import data_docs
from junheng.defs.quality import values_sql as V
from junheng.defs.quality.checks import TABLES, Check, build_checks
from junheng.defs.quality.gx_run import GXOutcome, run_suites
from junheng.defs.quality.rules import Rule, load_rules, rules_of_kind

EVENT_TABLES = ("events", "counties")
FLAG_COLUMNS = ["year", "county_code", "school_code", "rule_id", "severity", "field", "value", "expected", "detail"]


def empty_flags() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64" if c == "value" else "object") for c in FLAG_COLUMNS}).astype(
        {"year": "int64"})


def _relation_exists(conn: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return bool(conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, name]
    ).fetchone()[0])


def compute_flags(conn: duckdb.DuckDBPyConnection, year: int, docs_dir: Path | None = None,
                  rules: dict[str, Rule] | None = None) -> pd.DataFrame:
    """The flags of `year` (empty when the year has no census rows)."""
    flags, _ = compute_flags_with_outcome(conn, year, docs_dir=docs_dir, rules=rules)
    return flags


def compute_flags_with_outcome(conn, year: int, docs_dir: Path | None = None, rules: dict[str, Rule] | None = None,
                               timings: dict | None = None) -> tuple[pd.DataFrame, GXOutcome | None]:
    """The flags of `year` and GX's outcome. `timings` (optional) receives the seconds of each stage."""
    rules = rules or load_rules()
    timings = timings if timings is not None else {}
    for schema, name in (("staging", "stg_census_schools"), ("intermediate", "int_school_parts")):
        if not _relation_exists(conn, schema, name):
            raise RuntimeError(f"{schema}.{name} is missing: the flags read the dbt views that the load's first dbt "
                               "step (dbt_config) creates")
    if not conn.execute(f"SELECT count(*) FROM {V.CENSUS} WHERE year = ?", [year]).fetchone()[0]:
        return empty_flags(), None
    checks = build_checks(rules)
    t = time.perf_counter()
    tables = _create_relations(conn, year, rules, checks)
    timings["sql_s"] = time.perf_counter() - t
    try:
        t = time.perf_counter()
        frames = {table: _gx_frame(conn, table, checks) for table in TABLES if table in tables}
        timings["fetch_s"] = time.perf_counter() - t
        cache: dict[str, pd.DataFrame] = {}
        names: tuple[dict, dict] | None = None

        def rows_for(failing: list[tuple[Check, list]]) -> list[list[dict]]:
            # one table's failing checks: their rows read in one pass over the relation, the schools named in one
            # query; the docs list each check's first rows by county, school and field (row ids carry no order)
            nonlocal names
            (table,) = {ch.table for ch, _ in failing}
            _failing_rows(conn, table, sorted({int(i) for _, index in failing for i in index}), cache)
            subs = []
            for _, index in failing:
                sub = _failing_rows(conn, table, index, cache)
                subs.append(sub.sort_values([c for c in ("county_code", "school_code", "field") if c in sub.columns],
                                            na_position="first", kind="stable").iloc[:data_docs.ROWS_PER_CHECK])
            names = _names(conn, pd.concat(subs), names)
            return [data_docs.failing_rows(sub, ch, list(sub.index), names) for (ch, _), sub in zip(failing, subs)]

        outcome = run_suites(frames, rules, docs_dir=docs_dir, run_name=str(year),
                             rows_for=rows_for if docs_dir is not None else None)
        del frames
        timings["gx_s"] = outcome.seconds
        t = time.perf_counter()
        failing = {table: _failing_rows(conn, table, sorted({i for f in outcome.failures if f.check.table == table
                                                            for i in f.index}), cache)
                   for table in {f.check.table for f in outcome.failures}}
        flags = _failures_to_flags(outcome, failing, year)
        # events and missing returns are flags as GX found them; the HB interpretation reads the other rules' rows
        event = flags["_table"].isin(EVENT_TABLES)
        flags = pd.concat([_postprocess_yoy(flags[~event].copy(), rules),
                           flags[event].drop(columns=["_table", "_gap"])], ignore_index=True)
        timings["flags_s"] = time.perf_counter() - t
    finally:
        for table in tables:
            conn.execute(f"DROP VIEW IF EXISTS {V.rows_name(table)}")
            conn.execute(f"DROP TABLE IF EXISTS {V.temp_name(table)}")
        for name in TEMP_TABLES:
            conn.execute(f"DROP TABLE IF EXISTS {name}")
    if not len(flags):
        return empty_flags(), outcome
    out = flags[FLAG_COLUMNS].copy()
    out["year"] = out["year"].astype("int64")
    out["value"] = pd.to_numeric(out["value"], errors="coerce").astype("float64")
    out = out.drop_duplicates(subset=["school_code", "county_code", "rule_id", "field", "severity"])
    return out.sort_values(["county_code", "school_code", "rule_id", "field"], na_position="first",
                           ignore_index=True), outcome


TEMP_TABLES = (V.temp_name("untrusted"), V.CUR, V.PREV, V.PREV2, V.CUR_PARTS)


def _create_relations(conn, year: int, rules: dict[str, Rule], checks: list[Check]) -> list[str]:
    """The year's census and each relation as temporary tables (`quality_<table>`, and `quality_<table>_rows`
    naming a long relation's rows); returns the relations created."""
    confirmations = _relation_exists(conn, "raw", "flag_confirmations_in_force")
    conn.execute(f"CREATE OR REPLACE TEMP TABLE {V.temp_name('untrusted')} AS "
                 f"{V.untrusted_sql(year, checks, confirmations)}")
    for name, sql in V.census_sql(year, rules):
        conn.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
    created = []
    for rel in V.relations(year, rules, checks):
        mine = [ch for ch in checks if ch.table == rel.table]
        where = ""
        if all(ch.ignores_nulls for ch in mine):
            # a row whose judged columns are all null cannot fail (GX skips nulls): it is not kept
            where = " WHERE " + " OR ".join(f'"{c}" IS NOT NULL' for c in _judged(mine))
        conn.execute(f"CREATE OR REPLACE TEMP TABLE {V.temp_name(rel.table)} AS SELECT * FROM ({rel.sql}){where}")
        conn.execute(f"CREATE OR REPLACE TEMP VIEW {V.rows_name(rel.table)} AS "
                     f"{rel.rows_sql or 'SELECT * FROM ' + V.temp_name(rel.table)}")
        created.append(rel.table)
    return created


def _judged(checks: list[Check]) -> list[str]:
    return sorted({c for ch in checks for c in ch.judged_columns})


def _gx_frame(conn, table: str, checks: list[Check]) -> pd.DataFrame:
    """What GX sees of a relation: `row_id` (the index) and the judged columns."""
    cols = ", ".join(f'"{c}"' for c in _judged([ch for ch in checks if ch.table == table]))
    return conn.execute(f"SELECT row_id, {cols} FROM {V.temp_name(table)}").df().set_index("row_id")


def _failing_rows(conn, table: str, index: list, cache: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every column of the failing rows of one relation, indexed by row_id, cached per table and year: only rows
    not read yet are fetched (the Data Docs read a table's rows first, the flags then find them all cached)."""
    have = cache.get(table)
    missing = sorted(set(int(i) for i in index) - (set(have.index) if have is not None else set()))
    if have is None or missing:
        df = conn.execute(f"SELECT * FROM {V.rows_name(table)} WHERE row_id IN (SELECT unnest(?::BIGINT[]))",
                          [missing]).df().set_index("row_id", drop=False)
        cache[table] = have = df if have is None else pd.concat([have, df])
    return have.loc[[int(i) for i in index]] if index else have.iloc[0:0]


def _names(conn, rows: pd.DataFrame, known: tuple[dict, dict] | None) -> tuple[dict, dict]:
    """School and county names for the Data Docs, as this year's census (or last year's, for a school that is gone)
    gives them: every county's on the first call, then the schools of `rows` not yet known."""
    if known is None:
        counties = conn.execute(
            f"SELECT county_code, any_value(county_name ORDER BY o) FROM (SELECT county_code, county_name, 0 AS o "
            f"FROM {V.CUR} UNION ALL SELECT county_code, county_name, 1 FROM {V.PREV}) "
            "WHERE county_name IS NOT NULL GROUP BY county_code").fetchall()
        known = ({}, {str(c): str(n) for c, n in counties})
    schools, county_names = known
    want = [str(c) for c in rows["school_code"].dropna().unique() if str(c) not in schools] if (
        "school_code" in rows.columns) else []
    if want:
        found = conn.execute(
            f"SELECT school_code, any_value(school_name ORDER BY o) FROM (SELECT school_code, school_name, 0 AS o "
            f"FROM {V.CUR} UNION ALL SELECT school_code, school_name, 1 FROM {V.PREV}) "
            "WHERE school_code IN (SELECT unnest(?::VARCHAR[])) AND school_name IS NOT NULL GROUP BY school_code",
            [want]).fetchall()
        schools.update({str(c): str(n) for c, n in found})
    return schools, county_names


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "null"
    return f"{v:.4g}"


_AT = re.compile(r"@(\w+)")


def _plain(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v


def _failures_to_flags(outcome: GXOutcome, failing: dict[str, pd.DataFrame], year: int) -> pd.DataFrame:
    """One flag per failing row of every expectation, in check order (the first flag of a school, rule and field
    is the one kept)."""
    rows = []
    for fail in outcome.failures:
        ch = fail.check
        if not fail.index:
            continue
        sub = failing[ch.table].loc[fail.index]
        for row in sub.to_dict("records"):  # plain dicts: a pandas row lookup per flag cost seconds per year
            field = row[ch.field[1:]] if ch.field and ch.field.startswith("@") else ch.field
            value = row.get(ch.value_column) if ch.value_column else None
            expected = ch.expected
            if expected and "@" in expected:
                expected = _AT.sub(lambda m: str(row.get(m.group(1))), expected)
            if ch.detail:
                detail = ch.detail.format(year=year, last_year=year - 1, **{k: _plain(v) for k, v in row.items()})
            else:
                detail = f"{ch.column} = {_fmt(row[ch.column])}"
                lvl = ch.level or row.get("level")
                if isinstance(lvl, str) and lvl:
                    detail += f" ({lvl})"
                if ch.table == "yoy":
                    detail += f"; last year {_fmt(row.get('prev'))}, log10 ratio {_fmt(row.get('log10_ratio'))}"
            rows.append({
                "year": year,
                "county_code": row.get("county_code"),
                "school_code": _plain(row.get("school_code")),
                "rule_id": ch.rule_id,
                "severity": ch.severity,
                "field": field,
                "value": value,
                "expected": expected,
                "detail": detail,
                "_table": ch.table,
                "_gap": row.get("companion_gap") if ch.table == "yoy" else np.nan,
            })
    if not rows:
        return pd.DataFrame(columns=FLAG_COLUMNS + ["_table", "_gap"])
    return pd.DataFrame(rows)


def _postprocess_yoy(flags: pd.DataFrame, rules: dict[str, Rule]) -> pd.DataFrame:
    """Interpretation of GX's year-over-year verdicts, on the failing rows only: an HB outlier that moves with its
    companion figure becomes R_YOY_LARGE_CHANGE (info); a unit slip is named instead of the HB outlier on the same
    school and field; an info change is not repeated beside a year-over-year warning of the same field."""
    if not len(flags):
        return flags.drop(columns=["_table", "_gap"], errors="ignore")
    hb = rules_of_kind(rules, "hb")
    info = rules_of_kind(rules, "hb_info")
    slips = {r.id for r in rules_of_kind(rules, "unit_slip")}
    if hb:
        hb_rule = hb[0]
        gap_min = hb_rule.params["companion_log10_min"]
        gaps = pd.to_numeric(flags["_gap"], errors="coerce")
        # Believable: the companion figure moved the same way (a known gap below the minimum).
        believable = (flags["rule_id"] == hb_rule.id) & gaps.notna() & (gaps < gap_min)
        if info and believable.any():
            note = gaps[believable].map(lambda g: f"; moves with its companion figure (|log10 gap| {g:.2f})")
            flags.loc[believable, "rule_id"] = info[0].id
            flags.loc[believable, "severity"] = info[0].severity
            flags.loc[believable, "detail"] = flags.loc[believable, "detail"].astype(str) + note.astype(str)
        elif believable.any():
            flags = flags[~believable]
        key = flags["school_code"].astype(str) + "|" + flags["field"].astype(str)
        slip_keys = set(key[flags["rule_id"].isin(slips)])
        flags = flags[~((flags["rule_id"] == hb_rule.id) & key.isin(slip_keys))]
        if info:
            key = flags["school_code"].astype(str) + "|" + flags["field"].astype(str)
            warned = set(key[(flags["severity"] == "warning") & (flags["_table"] == "yoy")])
            flags = flags[~((flags["rule_id"] == info[0].id) & (flags["severity"] == "info") & key.isin(warned))]
            # one flag per school (or county return), rule, field and severity
            flags = flags.drop_duplicates(subset=["county_code", "school_code", "rule_id", "field", "severity"])
    return flags.drop(columns=["_table", "_gap"], errors="ignore")
