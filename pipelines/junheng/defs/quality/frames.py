"""Per-school frames the GX suites run on, and the checks (one GX expectation each) derived from rules.yml.

Everything here is plain pandas and data-independent configuration: `build_checks(rules)` says which column of
which frame is expected between which bounds and which rule/field a failing row flags; `build_frames(...)` computes
those columns (per-student values after the weighted section split, sub-count excesses, Hidiroglou–Berthelot
scores, log10 ratios to last year...). GX then does the judging (gx_run.py), and its unexpected row indices become
flags (flags.py).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from junheng.lib.schema import CENSUS_COLUMNS, RETURN_COLUMNS, SECTIONS
from junheng.defs.quality.rules import LEVELS, Rule, rules_of_kind

MEASURES: tuple[str, ...] = tuple(c.name for c in CENSUS_COLUMNS if c.kind == "number")
SECTION_NAMES = ("primary", "junior", "senior")
SECTION_COLUMNS: tuple[str, ...] = tuple(m for m in MEASURES if m.split("_", 1)[0] in SECTION_NAMES)
# Sections whose columns a school type may fill. Special schools report their pupils in the section columns
# they teach (they are counted in totals), so no section column is "foreign" to them.
ALLOWED_SECTIONS = {t: set(s) for t, s in SECTIONS.items()}
ALLOWED_SECTIONS["special"] = set(SECTION_NAMES)
RETURN_NUMBERS: tuple[str, ...] = tuple(c.name for c in RETURN_COLUMNS if c.kind == "number")
RETURN_ITEMS: tuple[str, ...] = tuple(
    c.name for c in RETURN_COLUMNS if c.name not in ("county_code", "county_name", "year")
)
TABLES = ("parts_primary", "parts_junior", "values", "subcounts", "rooms", "yoy", "returns")
ID_COLUMNS = ("school_code", "county_code", "school_type")


@dataclass(frozen=True)
class Check:
    """One GX expectation: `column` of frame `table` must lie in [min_value, max_value] (or be non-null)."""

    table: str
    column: str
    rule_id: str
    severity: str
    field: str | None  # the census/return column a failure flags
    expected: str
    min_value: float | None = None
    max_value: float | None = None
    strict_min: bool = False
    strict_max: bool = False
    kind: str = "between"  # "between" | "not_null"
    level: str | None = None

    @property
    def meta(self) -> dict:
        return {
            "rule_id": self.rule_id,
            "severity": self.severity,
            "field": self.field,
            "expected": self.expected,
            "level": self.level,
        }


def metric_name(rule: Rule) -> str:
    return rule.id.lower().removeprefix("r_range_")


def _rng(lo, hi, unit: str = "") -> str:
    lo_s = "-∞" if lo is None else f"{lo:g}"
    hi_s = "∞" if hi is None else f"{hi:g}"
    return f"{lo_s}–{hi_s}{(' ' + unit) if unit else ''}"


def section_vars(rule: Rule) -> list[tuple[str, str]]:
    """(variable, group-level) pairs of an HB rule: section variables per level, whole-school ones once."""
    out = [(f"{lvl}_{v}", lvl) for v in rule.get("variables", {}).get("section", []) for lvl in LEVELS]
    out += [(v, "") for v in rule.get("variables", {}).get("whole_school", [])]
    return out


def build_checks(rules: dict[str, Rule]) -> list[Check]:
    """One GX expectation per rule × level (× bound). Long frames carry the field per row (`field="@field"`)."""
    checks: list[Check] = []
    for r in rules.values():
        p = r.params
        if r.kind == "range":
            for lvl in LEVELS:
                b = p[lvl]
                checks.append(Check(f"parts_{lvl}", metric_name(r), r.id, r.severity,
                                    r.get("field").format(level=lvl), _rng(b["min"], b["max"], r.get("unit", "")),
                                    b["min"], b["max"], level=lvl))
        elif r.kind == "students_per_class":
            for lvl in LEVELS:
                b = p[lvl]
                exp = _rng(b["min"], b["max"], "students/class")
                checks.append(Check(f"parts_{lvl}", "students_per_class", r.id, r.severity, f"{lvl}_classes",
                                    exp, min_value=b["min"], level=lvl))
                checks.append(Check(f"parts_{lvl}", "students_per_class", r.id, r.severity, f"{lvl}_students",
                                    exp, max_value=b["max"], level=lvl))
        elif r.kind == "classes_for_students":
            for lvl in r.get("levels", LEVELS):
                checks.append(Check(f"parts_{lvl}", "students_without_classes", r.id, r.severity,
                                    f"{lvl}_classes", "classes > 0 when students > 0", 0, 0, level=lvl))
                checks.append(Check(f"parts_{lvl}", "classes_without_students", r.id, r.severity,
                                    f"{lvl}_students", "students > 0 when classes > 0", 0, 0, level=lvl))
        elif r.kind == "subcount":
            checks.append(Check("subcounts", "excess", r.id, r.severity, "@field", "≤ its total (@total_field)",
                                max_value=p["tolerance"]))
        elif r.kind == "room_area":
            checks.append(Check("rooms", "area_per_room", r.id, r.severity, "@field",
                                _rng(p["min"], p["max"], "m²/room"), p["min"], p["max"]))
            checks.append(Check("rooms", "area_without_rooms", r.id, r.severity, "@rooms_field",
                                "rooms > 0 when area > 0", 0, 0))
            checks.append(Check("rooms", "rooms_without_area", r.id, r.severity, "@field",
                                "area > 0 when rooms > 0", 0, 0))
        elif r.kind == "section_mismatch":
            checks.append(Check("values", "offsection_value", r.id, r.severity, "@field",
                                "empty or 0 (section not in the school type)", 0, 0))
        elif r.kind == "negative":
            checks.append(Check("values", "value", r.id, r.severity, "@field", "≥ 0", min_value=p["min"]))
        elif r.kind == "hb":
            info = next(iter(rules_of_kind(rules, "hb_info")), None)
            checks.append(Check("yoy", "hb_z", r.id, r.severity, "@field",
                                f"HB score within ±C={p['C']:g}", -p["C"], p["C"]))
            if info is not None:
                ci = info.params["C_info"]
                checks.append(Check("yoy", "hb_z", info.id, info.severity, "@field",
                                    f"HB score within ±C_info={ci:g}", -ci, ci))
        elif r.kind == "unit_slip":
            k, tol = p["log10_ratio"], p["tolerance"]
            checks.append(Check("yoy", f"slip__{r.id}", r.id, r.severity, "@field",
                                f"|log10(x / last year)| not within {k:g}±{tol:g}", min_value=tol))
        elif r.kind == "return_range":
            b = p["rate"]
            checks.append(Check("returns", "rate_value", r.id, r.severity, "@field", _rng(b["min"], b["max"], "%"),
                                b["min"], b["max"]))
            for col in RETURN_SPECIAL_RANGES:
                if col in p:
                    b = p[col]
                    checks.append(Check("returns", f"{col}__value", r.id, r.severity, col, _rng(b["min"], b["max"]),
                                        b["min"], b["max"]))
        elif r.kind == "return_share":
            checks.append(Check("returns", "share_suspect", r.id, r.severity, "@field",
                                "a percentage (0–100), not a share (0–1)", min_value=p["max_share"],
                                strict_min=True))
        elif r.kind == "return_required":
            checks.append(Check("returns", "required_value", r.id, r.severity, "@field", "reported", kind="not_null"))
    return checks


RETURN_SPECIAL_RANGES = ("teacher_pay_ratio", "monitoring_between_school_rate", "special_school_funding_per_student")


def rules_share_columns(rules: dict[str, Rule]) -> list[str]:
    rr = rules_of_kind(rules, "return_range")
    return list(rr[0].get("rates")) if rr else []


# ---------------------------------------------------------------- frames


def prepare_census(df: pd.DataFrame | None) -> pd.DataFrame:
    """Census rows with every measure as float and codes as text (missing columns = not reported)."""
    if df is None:
        df = pd.DataFrame(columns=["school_code", "county_code", "school_type"])
    df = df.copy()
    for c in MEASURES:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64") if c in df.columns else np.nan
    for c in ("school_code", "county_code", "school_type"):
        df[c] = df[c].astype("object") if c in df.columns else None
    return df.reset_index(drop=True)


SPLIT_WEIGHTS_SEED = Path(__file__).resolve().parents[4] / "dbt_project" / "seeds" / "split_weights.csv"


@lru_cache(maxsize=4)
def split_weights(path: Path = SPLIT_WEIGHTS_SEED) -> tuple[dict, dict]:
    """The section split weights of balance-methods.md §1 from the seed dbt's int_school_parts reads (one definition):
    ({school_type: {section: weight}} of the national '*' rows, {(province_code, school_type): {section: weight}}
    of the provincial overrides)."""
    national: dict[str, dict[str, float]] = {}
    overrides: dict[tuple[str, str], dict[str, float]] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            w = float(row["weight"])
            if row["province_code"] == "*":
                national.setdefault(row["school_type"], {})[row["section"]] = w
            else:
                overrides.setdefault((row["province_code"], row["school_type"]), {})[row["section"]] = w
    return national, overrides


def section_shares(df: pd.DataFrame, level: str) -> pd.Series:
    """Weighted share of the whole-school facilities that goes to `level` (balance-methods.md §1), exactly as
    int_school_parts computes it: weight(level) x students(level) / sum over the type's sections of weight x students,
    with the seed's provincial overrides (province = the first two digits of the county code). Types without seed
    rows (special schools) keep the whole figure."""
    national, overrides = split_weights(SPLIT_WEIGHTS_SEED)
    t = df["school_type"].astype(object)
    province = df["county_code"].astype(str).str[:2]
    key = province + "|" + t.astype(str)
    weighted = pd.Series(0.0, index=df.index)
    level_weight = pd.Series(np.nan, index=df.index)
    for sec in sorted(SECTION_NAMES):  # dbt sums `order by section`: the same order, the same rounding
        w = t.map({typ: ws[sec] for typ, ws in national.items() if sec in ws}).astype("float64")
        ovr = {f"{p}|{typ}": ws[sec] for (p, typ), ws in overrides.items() if sec in ws}
        if ovr:
            w = key.map(ovr).astype("float64").where(lambda o: o.notna() & w.notna(), w)
        weighted = weighted + (w * df[f"{sec}_students"].fillna(0)).fillna(0)
        if sec == level:
            level_weight = w
    with np.errstate(divide="ignore", invalid="ignore"):
        share = (level_weight * df[f"{level}_students"].fillna(0) / weighted).where(weighted > 0)
    return share.where(t.isin(list(national)), 1.0)


def parts_frame(df: pd.DataFrame, level: str, rules: dict[str, Rule]) -> pd.DataFrame:
    has = df["school_type"].map(lambda t: level in SECTIONS.get(t, ()))
    d = df[has.fillna(False).astype(bool)].reset_index(drop=True)
    students = d[f"{level}_students"]
    out = d[list(ID_COLUMNS) + list(MEASURES)].copy()
    out["level"] = level
    out["students"] = students
    share = section_shares(d, level)
    with np.errstate(divide="ignore", invalid="ignore"):
        for r in rules_of_kind(rules, "range"):
            num_col = r.get("numerator").format(level=level)
            num = d[num_col] * share if r.get("split") == "whole_school" else d[num_col]
            ok = students >= r.get("min_students")
            out[metric_name(r)] = (num * float(r.get("scale")) / students).where(ok)
        classes = d[f"{level}_classes"]
        spc_rules = rules_of_kind(rules, "students_per_class")
        min_st = spc_rules[0].get("min_students") if spc_rules else 1  # no rule: the column is not checked
        out["students_per_class"] = (students / classes).where((classes > 0) & (students >= min_st))
        out["students_without_classes"] = ((students > 0) & ~(classes > 0) & classes.notna()).astype(float)
        out["classes_without_students"] = ((classes > 0) & ~(students > 0) & students.notna()).astype(float)
    return _floatify(out)


def values_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Long: one row per school and reported measure; `offsection_value` is the value when the type lacks the section."""
    cols = list(MEASURES)
    vals = df[cols].to_numpy(dtype="float64", na_value=np.nan)
    foreign = np.zeros(vals.shape, dtype=bool)
    stype = df["school_type"].astype(object)
    # An unknown type may fill any section; a known one only its own (a vector test per section, not per cell).
    known = stype.isin(list(ALLOWED_SECTIONS)).to_numpy(bool)
    for j, c in enumerate(cols):
        sec = c.split("_", 1)[0]
        if sec in SECTION_NAMES:
            may_fill = [t for t, a in ALLOWED_SECTIONS.items() if sec in a]
            foreign[:, j] = known & ~stype.isin(may_fill).to_numpy(bool)
    r, k = np.nonzero(~np.isnan(vals))
    v = vals[r, k]

    def repeat(column: pd.Series) -> pd.Categorical:
        # Categorical codes, not strings: a national year is 3.6 M rows, and text columns cost ~1.5 s per build.
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        return pd.Categorical.from_codes(codes[r], categories=uniques)

    return pd.DataFrame({
        "school_code": repeat(df["school_code"]),
        "county_code": repeat(df["county_code"]),
        "school_type": repeat(stype),
        "field": pd.Categorical.from_codes(k, categories=cols),
        "value": v,
        "offsection_value": np.where(foreign[r, k], v, np.nan),
    })


def subcounts_frame(df: pd.DataFrame, rules: dict[str, Rule]) -> pd.DataFrame:
    parts = []
    for r in rules_of_kind(rules, "subcount"):
        for part, total in r.get("pairs"):
            d = df[list(ID_COLUMNS)].copy()
            d["field"], d["total_field"] = part, total
            d["value"], d["total"] = df[part], df[total]
            d["excess"] = df[part] - df[total]
            parts.append(d[d["excess"].notna()])
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(ID_COLUMNS) + ["field", "excess"])
    return _floatify(out.reset_index(drop=True))


def rooms_frame(df: pd.DataFrame, rules: dict[str, Rule]) -> pd.DataFrame:
    parts = []
    for r in rules_of_kind(rules, "room_area"):
        for area, rooms in r.get("rooms"):
            d = df[list(ID_COLUMNS)].copy()
            d["field"], d["rooms_field"] = area, rooms
            d["value"], d["rooms"] = df[area], df[rooms]
            with np.errstate(divide="ignore", invalid="ignore"):
                d["area_per_room"] = (df[area] / df[rooms]).where((df[rooms] > 0) & (df[area] > 0))
            d["area_without_rooms"] = ((df[area] > 0) & (df[rooms] == 0)).astype(float)
            d["rooms_without_area"] = ((df[rooms] > 0) & (df[area] == 0)).astype(float)
            parts.append(d)
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(ID_COLUMNS) + ["field"])
    return _floatify(out.reset_index(drop=True))


def hb_scores(cur: pd.Series, prev: pd.Series, groups: pd.Series, U: float, A: float, min_group: int) -> pd.Series:
    """Standardised Hidiroglou–Berthelot score: (E - E_M)/d_Q3 above the median, (E - E_M)/d_Q1 below.

    A school is an outlier at parameter C when |score| > C. Groups smaller than `min_group` are pooled.
    d is floored at A·|E_M| (the method's own guard) and at A·median(max(x_t, x_{t-1})^U), so a variable that
    most schools leave unchanged (E_M = 0) does not turn every small change into an outlier.
    """
    z = pd.Series(np.nan, index=cur.index)
    valid = (cur > 0) & (prev > 0)
    if not valid.any():
        return z
    g = groups.where(valid)
    counts = g.value_counts()
    small = counts[counts < min_group].index
    g = g.where(~g.isin(small), "__pooled__")
    for key, idx in g[valid].groupby(g[valid]).groups.items():
        if len(idx) < max(min_group, 4):
            continue
        c, p = cur[idx].to_numpy(float), prev[idx].to_numpy(float)
        r = c / p
        rm = np.median(r)
        s = np.where(r < rm, 1 - rm / r, r / rm - 1)
        size = np.maximum(c, p) ** U
        e = s * size
        q1, qm, q3 = np.quantile(e, [0.25, 0.5, 0.75])
        floor = max(A * abs(qm), A * float(np.median(size)), 1e-12)
        d1, d3 = max(qm - q1, floor), max(q3 - qm, floor)
        z[idx] = np.where(e >= qm, (e - qm) / d3, (e - qm) / d1)
    return z


def yoy_frame(
    cur: pd.DataFrame,
    prev: pd.DataFrame,
    prev2: pd.DataFrame | None,
    rules: dict[str, Rule],
    untrusted_prev: set[tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """Long: one row per school (present this year and last) and variable: HB score, log10 ratio, unit-slip distance.

    A last-year value is not compared against when last year's own checks flagged it (`untrusted_prev`), or when
    this year's value is back at the level of two years ago (last year was the slip, this year is the correction).
    """
    untrusted_prev = untrusted_prev or set()
    untrusted_codes: dict[str, set] = {}  # variable -> school codes whose last-year value is not a baseline
    for code, var in untrusted_prev:
        untrusted_codes.setdefault(var, set()).add(code)
    m = cur[list(ID_COLUMNS) + list(MEASURES)].merge(
        prev[["school_code"] + list(MEASURES)], on="school_code", how="inner", suffixes=("", "__prev")
    )
    if prev2 is not None and len(prev2):
        m = m.merge(prev2[["school_code"] + list(MEASURES)].rename(columns={c: f"{c}__prev2" for c in MEASURES}),
                    on="school_code", how="left")
    hb = rules_of_kind(rules, "hb")
    slips = rules_of_kind(rules, "unit_slip")
    variables: dict[str, str] = {}
    for r in hb:
        variables.update(dict(section_vars(r)))
    for r in slips:
        for f in r.get("fields"):
            variables.setdefault(f, "")
    total = m[["primary_students", "junior_students", "senior_students"]].sum(axis=1, min_count=1)
    total_p = m[["primary_students__prev", "junior_students__prev", "senior_students__prev"]].sum(axis=1, min_count=1)
    pieces = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for var, lvl in variables.items():
            d = m[list(ID_COLUMNS)].copy()
            d["field"], d["level"] = var, lvl or None
            c, p = m[var], m[f"{var}__prev"]
            lr = np.log10(c / p).where((c > 0) & (p > 0))
            bad = m["school_code"].isin(untrusted_codes.get(var, ()))
            if f"{var}__prev2" in m and hb:
                p2 = m[f"{var}__prev2"]
                lr2 = np.log10(c / p2).where((c > 0) & (p2 > 0))
                # Last year was the slip when this year is much closer to two years ago than to last year.
                margin = hb[0].params["reversal_log10_margin"]
                bad |= (lr.abs() > margin) & (lr2.abs() < lr.abs() - margin)
            d["value"], d["prev"] = c, p.where(~bad)
            d["log10_ratio"] = lr.where(~bad)
            # Companion: the figure a believable change moves with.
            sec = var.split("_", 1)[0]
            if sec in LEVELS and var.endswith("_students"):
                comp, comp_p = m[f"{sec}_teachers"], m[f"{sec}_teachers__prev"]
            elif sec in LEVELS:
                comp, comp_p = m[f"{sec}_students"], m[f"{sec}_students__prev"]
            else:
                comp, comp_p = total, total_p
            lc = np.log10(comp / comp_p).where((comp > 0) & (comp_p > 0))
            d["companion_gap"] = (d["log10_ratio"] - lc).abs()
            d["hb_z"] = np.nan
            for r in hb:
                if var in dict(section_vars(r)):
                    groups = pd.Series(lvl, index=m.index) if lvl else m["school_type"].astype(str)
                    d["hb_z"] = hb_scores(c, d["prev"], groups, r.params["U"], r.params["A"],
                                          r.params["min_group"])
            for r in slips:
                k = r.params["log10_ratio"]
                dist = np.minimum((d["log10_ratio"] - k).abs(), (d["log10_ratio"] + k).abs())
                d[f"slip__{r.id}"] = dist if var in r.get("fields") else np.nan
            pieces.append(d)
    out = pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame(columns=list(ID_COLUMNS) + ["field"])
    return _floatify(out)


def returns_frame(ret: pd.DataFrame | None, rules: dict[str, Rule]) -> pd.DataFrame:
    """Long: one row per county and return item, with the columns the return rules check."""
    if ret is None or not len(ret):
        return pd.DataFrame({c: pd.Series(dtype="object") for c in ("county_code", "school_code", "field")})
    ret = ret.copy().reset_index(drop=True)
    for c in RETURN_ITEMS:
        if c not in ret.columns:
            ret[c] = np.nan
        if c in RETURN_NUMBERS:
            ret[c] = pd.to_numeric(ret[c], errors="coerce").astype("float64")
        else:  # yes/no items: 1/0, null when not reported
            ret[c] = ret[c].map(lambda v: np.nan if pd.isna(v) else float(bool(v))).astype("float64")
    rr = rules_of_kind(rules, "return_range")
    rates = list(rr[0].get("rates")) if rr else []
    req = rules_of_kind(rules, "return_required")
    required = set(req[0].get("required")) if req else set()
    share = rules_of_kind(rules, "return_share")
    long = ret[["county_code"] + list(RETURN_ITEMS)].melt(id_vars=["county_code"], var_name="field",
                                                          value_name="value")
    long["school_code"] = None
    long["rate_value"] = long["value"].where(long["field"].isin(rates))
    for col in RETURN_SPECIAL_RANGES:
        long[f"{col}__value"] = long["value"].where(long["field"] == col)
    long["required_value"] = long["value"].where(long["field"].isin(required), 0.0)
    long["share_suspect"] = np.nan
    if share and rates:
        mx = share[0].params["max_share"]
        above = (ret[rates] > mx).sum(axis=1)
        above_by_county = dict(zip(ret["county_code"], above))
        v = long["value"]
        others = long["county_code"].map(above_by_county) - (v > mx).astype(int)
        long["share_suspect"] = v.where(long["field"].isin(rates) & (v > 0) & (v <= mx)
                                        & (others >= share[0].params["min_others_above"]))
    return _floatify(long)


def _floatify(df: pd.DataFrame) -> pd.DataFrame:
    for c in df.columns:
        if pd.api.types.is_bool_dtype(df[c]) or (
            pd.api.types.is_numeric_dtype(df[c]) and c not in ID_COLUMNS
        ):
            df[c] = df[c].astype("float64")
    return df


def ensure_columns(df: pd.DataFrame, checks: Iterable[Check], table: str) -> pd.DataFrame:
    for ch in checks:
        if ch.table == table and ch.column not in df.columns:
            df[ch.column] = np.nan
    return df


def failing_index(df: pd.DataFrame, ch: Check) -> list:
    """The rows of `df` that fail `ch`, with GX's semantics (nulls ignored by `between`; strict bounds honoured).

    GX counts the failures and this finds the rows (`gx_run.run_suites` requires the two to agree); last year's
    baseline screening uses it alone. Tests check it against GX's own rows (`result_format="COMPLETE"`).
    """
    if ch.column not in df.columns or not len(df):
        return []
    v = df[ch.column]
    if ch.kind == "not_null":
        return list(df.index[v.isna()])
    bad = pd.Series(False, index=df.index)
    if ch.min_value is not None:
        bad |= (v <= ch.min_value) if ch.strict_min else (v < ch.min_value)
    if ch.max_value is not None:
        bad |= (v >= ch.max_value) if ch.strict_max else (v > ch.max_value)
    return list(df.index[bad.fillna(False) & v.notna()])
