"""compute_flags: every plausibility failure of one year as rows of marts.submission_flags.

Pure (no Dagster): reads raw.census_schools for year, year-1 and year-2 (year-2 only to tell whether last year's
value was itself the slip) and raw.county_returns for year; returns a pandas DataFrame with FLAG_COLUMNS.

A year's prepared census rows and its current-year warnings are kept in memory for the next year's year-over-year
rules (`Baselines`, one per run of the flags asset): a load flags the years of its run in order, so a ten-year build reads each year once
instead of three times and screens it once instead of twice. They are keyed by the rows' load (run id, time, count) and the rules file,
so a reloaded year or a changed rule is read again.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from junheng.defs.quality import frames as F
from junheng.defs.quality.gx_run import Failure, GXOutcome, run_suites
from junheng.defs.quality.rules import Rule, load_rules, rules_of_kind, rules_path
from junheng.lib.verify.store import census_relation, confirmed_fields

FLAG_COLUMNS = ["year", "county_code", "school_code", "rule_id", "severity", "field", "value", "expected", "detail"]
CURRENT_YEAR_TABLES = ("parts_primary", "parts_junior", "values", "subcounts", "rooms")  # current_year_frames()


def empty_flags() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64" if c == "value" else "object") for c in FLAG_COLUMNS}).astype(
        {"year": "int64"})


def _table_exists(conn: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return bool(conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, name]
    ).fetchone()[0])


def read_census(conn: duckdb.DuckDBPyConnection, year: int) -> pd.DataFrame | None:
    if not _table_exists(conn, "raw", "census_schools"):
        return None
    # The values in force: the submitted census with the counties' corrections (issue 15, lib/verify/store.py).
    df = conn.execute(f"SELECT * FROM {census_relation(conn)} WHERE year = ?", [year]).df()
    return df if len(df) else None


def read_returns(conn: duckdb.DuckDBPyConnection, year: int) -> pd.DataFrame | None:
    if not _table_exists(conn, "raw", "county_returns"):
        return None
    df = conn.execute("SELECT * FROM raw.county_returns WHERE year = ?", [year]).df()
    return df if len(df) else None


def compute_flags(
    conn: duckdb.DuckDBPyConnection,
    year: int,
    docs_dir: Path | None = None,
    rules: dict[str, Rule] | None = None,
    baselines: "Baselines | None" = None,
) -> pd.DataFrame:
    """The flags of `year` (empty when the year has no census rows)."""
    flags, _ = compute_flags_with_outcome(conn, year, docs_dir=docs_dir, rules=rules, baselines=baselines)
    return flags


@dataclass(frozen=True)
class Baseline:
    census: pd.DataFrame  # prepare_census() of the year's raw rows
    warnings: frozenset  # (school_code, field) with a current-year warning: not a baseline for next year


class Baselines:
    """The last years flagged in this process: after year Y, Y and Y-1 (year Y+1's prev and prev2; a national
    year's prepared rows are ~130 MB)."""

    def __init__(self, size: int = 2):
        self._size = size
        self._items: OrderedDict[tuple, Baseline] = OrderedDict()

    def get(self, key: tuple | None) -> Baseline | None:
        return self._items.get(key) if key is not None else None

    def put(self, key: tuple | None, value: Baseline) -> None:
        if key is None:
            return
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


def _baseline_key(conn: duckdb.DuckDBPyConnection, year: int) -> tuple | None:
    """What a year's baseline depends on: the database file, the year's load and the rules file."""
    if not _table_exists(conn, "raw", "census_schools"):
        return None
    path = conn.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()[0]
    n, loaded_at, runs = conn.execute(
        "SELECT count(*), max(loaded_at), string_agg(DISTINCT load_run_id, ',' ORDER BY load_run_id) "
        "FROM raw.census_schools WHERE year = ?", [year]).fetchone()
    if not n or not path:  # an in-memory database has no path: nothing to key on
        return None
    rules = rules_path()
    return (path, year, n, str(loaded_at), runs, str(rules), rules.stat().st_mtime_ns)


def compute_flags_with_outcome(
    conn, year, docs_dir=None, rules=None, baselines: Baselines | None = None
) -> tuple[pd.DataFrame, GXOutcome | None]:
    """The flags of `year`. `baselines` carries prepared years from one call to the next (a run flagging several
    years in order); without it every baseline year is read from the warehouse."""
    baselines = baselines if baselines is not None else Baselines()
    cur = read_census(conn, year)
    if cur is None:
        return empty_flags(), None
    # Explicit rules (tests, experiments) are not the rules file the keys name: no reuse then.
    keys = {y: _baseline_key(conn, y) if rules is None else None for y in (year, year - 1, year - 2)}
    prev = baselines.get(keys[year - 1])
    prev2 = baselines.get(keys[year - 2])
    flags, outcome, baseline = _flags_and_baseline(
        year,
        cur,
        prev.census if prev else read_census(conn, year - 1),
        prev2.census if prev2 else read_census(conn, year - 2),
        read_returns(conn, year),
        rules=rules,
        docs_dir=docs_dir,
        prev_warnings=prev.warnings if prev else None,
        confirmed=confirmed_fields(conn, year - 1),
    )
    baselines.put(keys[year], baseline)
    return flags, outcome


def current_year_frames(cur: pd.DataFrame, rules: dict[str, Rule]) -> dict[str, pd.DataFrame]:
    return {
        "parts_primary": F.parts_frame(cur, "primary", rules),
        "parts_junior": F.parts_frame(cur, "junior", rules),
        "values": F.values_frame(cur),
        "subcounts": F.subcounts_frame(cur, rules),
        "rooms": F.rooms_frame(cur, rules),
    }


def flags_from_frames(
    year: int,
    cur: pd.DataFrame,
    prev: pd.DataFrame | None,
    prev2: pd.DataFrame | None,
    returns: pd.DataFrame | None,
    rules: dict[str, Rule] | None = None,
    docs_dir: Path | None = None,
) -> tuple[pd.DataFrame, GXOutcome]:
    flags, outcome, _ = _flags_and_baseline(year, cur, prev, prev2, returns, rules=rules, docs_dir=docs_dir)
    return flags, outcome


def _warnings(outcome: GXOutcome, frames: dict[str, pd.DataFrame], year: int) -> frozenset:
    """(school_code, field) of the current-year warnings (the failures outside the year-over-year frame)."""
    current = GXOutcome([f for f in outcome.failures if f.check.table in CURRENT_YEAR_TABLES], {}, None)
    flags = _failures_to_flags(current, frames, year)
    warn = flags[flags["severity"] == "warning"]
    return frozenset(zip(warn["school_code"], warn["field"]))



def _flags_and_baseline(year, cur, prev, prev2, returns, rules=None, docs_dir=None, prev_warnings=None,
                        confirmed=frozenset()):
    rules = rules or load_rules()
    checks = F.build_checks(rules)
    cur = F.prepare_census(cur)
    prev = F.prepare_census(prev) if prev is not None and len(prev) else None
    prev2 = F.prepare_census(prev2) if prev2 is not None and len(prev2) else None

    frames = current_year_frames(cur, rules)
    if prev is not None:
        # Last year's own current-year warnings: those values are not a baseline to compare with.
        if prev_warnings is None:
            prev_frames = current_year_frames(prev, rules)
            prev_out = GXOutcome(
                [Failure(ch, F.failing_index(prev_frames[ch.table], ch)) for ch in checks if ch.table in prev_frames],
                {}, None)
            prev_warnings = _warnings(prev_out, prev_frames, year - 1)
        # A value the county confirmed (issue 15) is real: a baseline despite its warning.
        frames["yoy"] = F.yoy_frame(cur, prev, prev2, rules, set(prev_warnings) - set(confirmed))
    frames["returns"] = F.returns_frame(returns, rules)
    for t, df in frames.items():
        F.ensure_columns(df, checks, t)

    outcome = run_suites(frames, rules, docs_dir=docs_dir, run_name=str(year), schools=cur)
    baseline = Baseline(cur, _warnings(outcome, frames, year))
    flags = _failures_to_flags(outcome, frames, year)
    flags = _postprocess_yoy(flags, frames.get("yoy"), rules)
    events = _event_flags(year, cur, prev, rules)
    missing = _return_missing(year, cur, returns, rules)
    out = pd.concat([f for f in (flags, events, missing) if len(f)], ignore_index=True) if (
        len(flags) or len(events) or len(missing)) else empty_flags()
    out = out[FLAG_COLUMNS]
    out["year"] = out["year"].astype("int64")
    out["value"] = pd.to_numeric(out["value"], errors="coerce").astype("float64")
    out = out.drop_duplicates(subset=["school_code", "county_code", "rule_id", "field", "severity"])
    return out.sort_values(["county_code", "school_code", "rule_id", "field"], na_position="first",
                           ignore_index=True), outcome, baseline


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "null"
    return f"{v:.4g}"


def _failures_to_flags(outcome: GXOutcome, frames: dict[str, pd.DataFrame], year: int) -> pd.DataFrame:
    rows = []
    for fail in outcome.failures:
        ch = fail.check
        if not fail.index:
            continue
        sub = frames[ch.table].loc[fail.index]
        columns = set(sub.columns)
        for row in sub.to_dict("records"):  # plain dicts: a pandas row lookup per flag cost seconds per year
            field = row[ch.field[1:]] if ch.field and ch.field.startswith("@") else ch.field
            if "value" in columns and (ch.field or "").startswith("@"):
                value = row["value"]
            elif field in columns:
                value = row[field]
            else:
                value = row[ch.column]
            expected = ch.expected
            if "@total_field" in expected:
                expected = expected.replace("@total_field", str(row.get("total_field")))
            detail = f"{ch.column} = {_fmt(row[ch.column])}"
            lvl = ch.level or (row.get("level") if "level" in columns else None)
            if isinstance(lvl, str) and lvl:
                detail += f" ({lvl})"
            if ch.table == "yoy":
                detail += f"; last year {_fmt(row.get('prev'))}, log10 ratio {_fmt(row.get('log10_ratio'))}"
            rows.append({
                "year": year,
                "county_code": row.get("county_code"),
                "school_code": row.get("school_code") if "school_code" in columns else None,
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


def _postprocess_yoy(flags: pd.DataFrame, yoy: pd.DataFrame | None, rules: dict[str, Rule]) -> pd.DataFrame:
    """HB outliers that move with their companion figure become R_YOY_LARGE_CHANGE (info); one flag per field."""
    if yoy is None or not len(flags):
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
        # A unit slip is named as such: drop the HB warning on the same school and field.
        key = flags["school_code"].astype(str) + "|" + flags["field"].astype(str)
        slip_keys = set(key[flags["rule_id"].isin(slips)])
        flags = flags[~((flags["rule_id"] == hb_rule.id) & key.isin(slip_keys))]
        if info:
            key = flags["school_code"].astype(str) + "|" + flags["field"].astype(str)
            warned = set(key[(flags["severity"] == "warning") & (flags["_table"] == "yoy")])
            flags = flags[~((flags["rule_id"] == info[0].id) & (flags["severity"] == "info") & key.isin(warned))]
            # one flag per school (or county return: no school), rule, field and severity
            flags = flags.drop_duplicates(subset=["county_code", "school_code", "rule_id", "field", "severity"])
    return flags.drop(columns=["_table", "_gap"], errors="ignore")


def _event_flags(year: int, cur: pd.DataFrame, prev: pd.DataFrame | None, rules: dict[str, Rule]) -> pd.DataFrame:
    if prev is None or not len(prev):
        return empty_flags()
    rows = []
    by_kind = {r.kind: r for r in rules.values()}
    cur_i = cur.set_index("school_code")
    prev_i = prev.set_index("school_code")
    if "appeared" in by_kind:
        r = by_kind["appeared"]
        for code in cur_i.index.difference(prev_i.index):
            rows.append((year, cur_i.at[code, "county_code"], code, r.id, r.severity, None, None, None,
                         f"new in {year}: {cur_i.at[code, 'school_type']}"))
    if "vanished" in by_kind:
        r = by_kind["vanished"]
        for code in prev_i.index.difference(cur_i.index):
            rows.append((year, prev_i.at[code, "county_code"], code, r.id, r.severity, None, None, None,
                         f"in {year - 1} ({prev_i.at[code, 'school_type']}), not in {year}"))
    both = cur_i.index.intersection(prev_i.index)
    for kind, col in (("type_changed", "school_type"), ("county_changed", "county_code")):
        if kind not in by_kind:
            continue
        r = by_kind[kind]
        a, b = cur_i.loc[both, col], prev_i.loc[both, col]
        for code in both[(a != b).to_numpy()]:
            rows.append((year, cur_i.at[code, "county_code"], code, r.id, r.severity, col, None,
                         str(prev_i.at[code, col]), f"{col}: {prev_i.at[code, col]} → {cur_i.at[code, col]}"))
    if not rows:
        return empty_flags()
    return pd.DataFrame(rows, columns=FLAG_COLUMNS)


def _return_missing(year: int, cur: pd.DataFrame, returns: pd.DataFrame | None, rules) -> pd.DataFrame:
    r = next(iter(rules_of_kind(rules, "return_missing")), None)
    if r is None or returns is None or not len(returns):
        return empty_flags()  # returns are optional: a year without any is not flagged county by county
    missing = sorted(set(cur["county_code"].dropna()) - set(returns["county_code"].astype(str)))
    if not missing:
        return empty_flags()
    return pd.DataFrame([(year, c, None, r.id, r.severity, None, None, "a county return", "no county return")
                         for c in missing], columns=FLAG_COLUMNS)
