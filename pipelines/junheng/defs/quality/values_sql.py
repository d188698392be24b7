"""The values the plausibility rules judge, computed once in DuckDB SQL rendered from rules.yml.

Each relation of checks.TABLES becomes a temporary table `quality_<table>` of the year (row_id first), read by GX
(only the judged columns and row_id, as pandas) and, for the failing rows only, by the flag writer. The inputs are
the dbt views the indicators use: `staging.stg_census_schools` (the values in force, corrections applied) and
`intermediate.int_school_parts` (the §1 section parts with the split_weights seed's shares, provincial overrides
included); the county returns come from `raw.county_returns`; last year's stored verdicts from
`marts.submission_flags`.

Nothing here judges a value: every comparison with a rules.yml bound is a GX expectation (checks.py). What SQL
computes is the value itself (a per-student value after the split, a sub-count's excess over its total, the area
per room, the Hidiroglou–Berthelot score, the distance of a log ratio from a unit factor) and which rows a rule
applies to (the section columns a school type lacks; the rates of a return whose other rates are percentages).
Parameters of those computations (scale, min_students, U, A, min_group, reversal margin, unit factors) are read
from rules.yml and rendered into the SQL; none is written here.
"""

from __future__ import annotations

from dataclasses import dataclass

from junheng.defs.quality.checks import (RETURN_SPECIAL_RANGES, Check, current_year_rule_ids, metric_name,
                                         section_vars)
from junheng.defs.quality.rules import LEVELS, Rule, rules_of_kind
from junheng.lib.schema import CENSUS_COLUMNS, RETURN_COLUMNS, SECTIONS

CENSUS = "staging.stg_census_schools"  # dbt view: the census values in force
PARTS = "intermediate.int_school_parts"  # dbt view: one row per school part (spec §1)
FLAGS = "marts.submission_flags"
CONFIRMATIONS = "raw.flag_confirmations_in_force"  # issue 15: values a county confirmed

MEASURES: tuple[str, ...] = tuple(c.name for c in CENSUS_COLUMNS if c.kind == "number")
SECTION_NAMES = ("primary", "junior", "senior")
# Sections whose columns a school type may fill. Special schools report their pupils in the section columns they
# teach (they are counted in totals), so no section column is "foreign" to them.
ALLOWED_SECTIONS = {t: set(s) for t, s in SECTIONS.items()}
ALLOWED_SECTIONS["special"] = set(SECTION_NAMES)
RETURN_ITEMS: tuple[str, ...] = tuple(c.name for c in RETURN_COLUMNS if c.name not in ("county_code", "county_name",
                                                                                        "year"))
HB_QUARTILES = (0.25, 0.75)  # E_Q1 and E_Q3 of the HB method (E_M: the median); linear, as numpy's default
HB_MIN_GROUP_FLOOR = 4  # a quartile needs at least four scores
HB_D_FLOOR = 1e-12  # keeps d > 0 when every score of a group is 0


def lit(v) -> str:
    """A SQL literal of a configuration value (float repr round-trips exactly)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, float)):
        return repr(float(v)) if isinstance(v, float) else str(int(v))
    return "'" + str(v).replace("'", "''") + "'"


def _in(values) -> str:
    return "(" + ", ".join(lit(v) for v in values) + ")" if values else "(NULL)"


def temp_name(table: str) -> str:
    return f"quality_{table}"


@dataclass(frozen=True)
class Relation:
    table: str
    sql: str  # SELECT … (row_id first) of the year


# ---------------------------------------------------------------------------------------------------- census years


def _census(year: int, alias: str) -> str:
    return f"{alias} AS (SELECT * FROM {CENSUS} WHERE year = {int(year)})"


# ---------------------------------------------------------------------------------------------------- parts


def parts_sql(year: int, level: str, rules: dict[str, Rule], checks: list[Check]) -> str:
    """One row per school part of `level` (int_school_parts: its split share), with the section's values as
    submitted (stg_census_schools) and the per-student values of the range rules."""
    table = f"parts_{level}"
    students = f"s.{level}_students"
    classes = f"s.{level}_classes"
    cols = [f"s.{c}" for c in sorted({ch.value_column for ch in checks if ch.table == table and ch.value_column})]
    metrics = []
    for r in rules_of_kind(rules, "range"):
        num = f"s.{r.get('numerator').format(level=level)}"
        if r.get("split") == "whole_school":
            num = f"({num} * p.split_share)"
        metrics.append(f"CASE WHEN {students} >= {lit(r.get('min_students'))} "
                       f"THEN {num} * {lit(float(r.get('scale')))} / {students} END AS {metric_name(r)}")
    for r in rules_of_kind(rules, "students_per_class"):
        metrics.append(f"CASE WHEN {classes} > 0 AND {students} >= {lit(r.get('min_students'))} "
                       f"THEN {students} / {classes} END AS students_per_class")
    # the figure a section with students (with classes) must have: its classes (its students)
    metrics.append(f"CASE WHEN {students} > 0 THEN {classes} END AS classes_when_students")
    metrics.append(f"CASE WHEN {classes} > 0 THEN {students} END AS students_when_classes")
    return f"""
        SELECT row_number() OVER () AS row_id,
               p.school_code, p.county_code, p.school_type, p.level, {students} AS students,
               {', '.join(cols + metrics)}
        FROM {PARTS} p
        JOIN {CENSUS} s ON s.year = p.year AND s.school_code = p.school_code
        WHERE p.year = {int(year)} AND p.level = {lit(level)}"""


# ---------------------------------------------------------------------------------------------------- values


def _foreign_condition() -> str:
    """The section columns a known school type does not have (an unknown type may fill any)."""
    known = sorted(ALLOWED_SECTIONS)
    parts = []
    for sec in SECTION_NAMES:
        cols = [m for m in MEASURES if m.split("_", 1)[0] == sec]
        may_fill = sorted(t for t, a in ALLOWED_SECTIONS.items() if sec in a)
        parts.append(f"(field IN {_in(cols)} AND school_type NOT IN {_in(may_fill)})")
    return f"school_type IN {_in(known)} AND ({' OR '.join(parts)})"


def values_sql(year: int) -> str:
    """Long: one row per school and reported measure; `offsection_value` is the value where the type lacks the
    section (every other row: NULL)."""
    return f"""
        WITH {_census(year, 'cur')},
        long AS (
            UNPIVOT (SELECT school_code, county_code, school_type, {', '.join(MEASURES)} FROM cur)
            ON {', '.join(MEASURES)} INTO NAME field VALUE value
        )
        SELECT row_number() OVER () AS row_id, school_code, county_code, school_type, field, value,
               CASE WHEN {_foreign_condition()} THEN value END AS offsection_value
        FROM long"""


# ---------------------------------------------------------------------------------------------------- sub-counts, rooms


def subcounts_sql(year: int, rules: dict[str, Rule]) -> str | None:
    pairs = [pair for r in rules_of_kind(rules, "subcount") for pair in r.get("pairs")]
    if not pairs:
        return None
    union = " UNION ALL ".join(
        f"SELECT school_code, county_code, school_type, {i} AS pair_ord, {lit(part)} AS field, "
        f"{lit(total)} AS total_field, {part} AS value, {total} AS total FROM cur"
        for i, (part, total) in enumerate(pairs))
    return f"""
        WITH {_census(year, 'cur')}, pairs AS ({union})
        SELECT row_number() OVER () AS row_id,
               school_code, county_code, school_type, field, total_field, value, total, value - total AS excess
        FROM pairs
        WHERE value - total IS NOT NULL"""


def rooms_sql(year: int, rules: dict[str, Rule]) -> str | None:
    rooms = [pair for r in rules_of_kind(rules, "room_area") for pair in r.get("rooms")]
    if not rooms:
        return None
    union = " UNION ALL ".join(
        f"SELECT school_code, county_code, school_type, {i} AS pair_ord, {lit(area)} AS field, "
        f"{lit(n)} AS rooms_field, {area} AS value, {n} AS rooms FROM cur"
        for i, (area, n) in enumerate(rooms))
    return f"""
        WITH {_census(year, 'cur')}, pairs AS ({union})
        SELECT row_number() OVER () AS row_id,
               school_code, county_code, school_type, field, rooms_field, value, rooms,
               CASE WHEN rooms > 0 AND value > 0 THEN value / rooms END AS area_per_room,
               CASE WHEN value > 0 THEN rooms END AS rooms_when_area,
               CASE WHEN rooms > 0 THEN value END AS area_when_rooms
        FROM pairs"""


# ---------------------------------------------------------------------------------------------------- year over year


def untrusted_sql(year: int, checks: list[Check], confirmations: bool) -> str:
    """(school_code, field) of last year whose value is not a baseline: last year's stored warnings of a rule on the
    year's own values (not its year-over-year rules), less the values a county confirmed (issue 15)."""
    rules = sorted(current_year_rule_ids(checks))
    confirmed = (f"EXCEPT SELECT school_code, field FROM {CONFIRMATIONS} WHERE year = {int(year) - 1}"
                 if confirmations else "")
    return f"""
        SELECT DISTINCT school_code, field FROM {FLAGS}
        WHERE year = {int(year) - 1} AND severity = 'warning' AND school_code IS NOT NULL AND field IS NOT NULL
          AND rule_id IN {_in(rules)}
        {confirmed}"""


def _companion(var: str) -> tuple[str, str]:
    """The figure a believable change of `var` moves with: teachers for students, students for a section's other
    figures, the school's total students for whole-school figures."""
    sec = var.split("_", 1)[0]
    if sec in LEVELS and var.endswith("_students"):
        return f"c.{sec}_teachers", f"p.{sec}_teachers"
    if sec in LEVELS:
        return f"c.{sec}_students", f"p.{sec}_students"
    total = ("CASE WHEN {a}.primary_students IS NULL AND {a}.junior_students IS NULL AND {a}.senior_students IS NULL "
             "THEN NULL ELSE coalesce({a}.primary_students, 0) + coalesce({a}.junior_students, 0) "
             "+ coalesce({a}.senior_students, 0) END")
    return total.format(a="c"), total.format(a="p")


def yoy_sql(year: int, rules: dict[str, Rule]) -> str | None:
    """Long: one row per school present this year and last, and variable: the value, last year's value where it is
    a baseline, the log10 ratio, the gap to the companion figure's log10 ratio, the HB score (per variable and
    group: the level for section variables, the school type for whole-school ones; small groups pooled) and the
    distance of the log ratio from each unit-slip factor."""
    hb = rules_of_kind(rules, "hb")
    slips = rules_of_kind(rules, "unit_slip")
    if len(hb) > 1:
        raise ValueError("rules.yml: one HB rule (kind: hb) at most")
    variables: dict[str, str] = {}
    for r in hb:
        variables.update(dict(section_vars(r)))
    for r in slips:
        for f in r.get("fields"):
            variables.setdefault(f, "")
    if not variables:
        return None
    hb_vars = set(dict(section_vars(hb[0]))) if hb else set()
    branches = []
    for i, (var, lvl) in enumerate(variables.items()):
        comp, comp_p = _companion(var)
        branches.append(
            f"SELECT c.school_code, c.county_code, c.school_type, {lit(var)} AS field, {lit(lvl or None)} AS level, "
            f"{i} AS var_ord, c.{var} AS value, p.{var} AS prev_raw, p2.{var} AS prev2, "
            f"{comp} AS comp, {comp_p} AS comp_prev, {lit(var in hb_vars)} AS hb_var "
            f"FROM cur c JOIN prev p USING (school_code) LEFT JOIN prev2 p2 USING (school_code)")
    if hb:
        margin = lit(float(hb[0].params["reversal_log10_margin"]))
        # last year was the slip when this year is much closer to two years ago than to last year
        reversal = f"coalesce(abs(lr_raw) > {margin} AND abs(lr2) < abs(lr_raw) - {margin}, FALSE)"
    else:
        reversal = "FALSE"
    slip_cols = []
    for r in slips:
        k = lit(float(r.params["log10_ratio"]))
        slip_cols.append(f"CASE WHEN b.field IN {_in(r.get('fields'))} THEN "
                         f"least(abs(b.log10_ratio - {k}), abs(b.log10_ratio + {k})) END AS \"slip__{r.id}\"")
    if hb:
        p = hb[0].params
        min_group, a = lit(p["min_group"]), lit(float(p["A"]))
        hb_ctes = f""",
        v0 AS (SELECT school_code, field, value, prev, coalesce(level, school_type) AS grp0
               FROM b WHERE hb_var AND value > 0 AND prev > 0),
        n0 AS (SELECT field, grp0, CASE WHEN count(*) < {min_group} THEN '__pooled__' ELSE grp0 END AS grp
               FROM v0 GROUP BY field, grp0),
        v1 AS (SELECT v0.*, n0.grp FROM v0 JOIN n0 USING (field, grp0)),
        n1 AS (SELECT field, grp FROM v1 GROUP BY field, grp
               HAVING count(*) >= greatest({min_group}, {HB_MIN_GROUP_FLOOR})),
        v3 AS (SELECT v1.*, value / prev AS ratio, pow(greatest(value, prev), {lit(float(p['U']))}) AS size
               FROM v1 JOIN n1 USING (field, grp)),
        med AS (SELECT field, grp, median(ratio) AS rm, median(size) AS size_m FROM v3 GROUP BY field, grp),
        sc AS (SELECT v3.school_code, v3.field, v3.grp,
                      (CASE WHEN ratio < rm THEN 1 - rm / ratio ELSE ratio / rm - 1 END) * size AS e
               FROM v3 JOIN med USING (field, grp)),
        qs AS (SELECT sc.field, sc.grp, quantile_cont(sc.e, {lit(HB_QUARTILES[0])}) AS q1, median(sc.e) AS qm,
                      quantile_cont(sc.e, {lit(HB_QUARTILES[1])}) AS q3, any_value(med.size_m) AS size_m
               FROM sc JOIN med USING (field, grp) GROUP BY sc.field, sc.grp),
        d AS (SELECT field, grp, q1, qm, q3, greatest({a} * abs(qm), {a} * size_m, {lit(HB_D_FLOOR)}) AS fl FROM qs),
        z AS (SELECT sc.school_code, sc.field,
                     CASE WHEN sc.e >= d.qm THEN (sc.e - d.qm) / greatest(d.q3 - d.qm, d.fl)
                          ELSE (sc.e - d.qm) / greatest(d.qm - d.q1, d.fl) END AS hb_z
              FROM sc JOIN d USING (field, grp))"""
        hb_join, hb_col = "LEFT JOIN z USING (school_code, field)", "z.hb_z"
    else:
        hb_ctes, hb_join, hb_col = "", "", "CAST(NULL AS DOUBLE) AS hb_z"
    return f"""
        WITH {_census(year, 'cur')}, {_census(year - 1, 'prev')}, {_census(year - 2, 'prev2')},
        long AS ({' UNION ALL '.join(branches)}),
        s AS (SELECT l.*,
                     CASE WHEN value > 0 AND prev_raw > 0 THEN log10(value / prev_raw) END AS lr_raw,
                     CASE WHEN value > 0 AND prev2 > 0 THEN log10(value / prev2) END AS lr2,
                     CASE WHEN comp > 0 AND comp_prev > 0 THEN log10(comp / comp_prev) END AS lc,
                     u.school_code IS NOT NULL AS untrusted
              FROM long l LEFT JOIN {temp_name('untrusted')} u USING (school_code, field)),
        b AS (SELECT *, CASE WHEN NOT (untrusted OR {reversal}) THEN prev_raw END AS prev,
                        CASE WHEN NOT (untrusted OR {reversal}) THEN lr_raw END AS log10_ratio
              FROM s){hb_ctes}
        SELECT row_number() OVER () AS row_id,
               b.school_code, b.county_code, b.school_type, b.field, b.level, b.value, b.prev, b.log10_ratio,
               abs(b.log10_ratio - b.lc) AS companion_gap, {hb_col}{''.join(', ' + c for c in slip_cols)}
        FROM b {hb_join}"""


# ---------------------------------------------------------------------------------------------------- events


def events_sql(year: int) -> str:
    """One row per school of this year or last (none when last year has no census): this and last year's type and
    county. `county_code` is the flag's county: this year's, or last year's for a school that is gone."""
    return f"""
        WITH {_census(year, 'cur')}, {_census(year - 1, 'prev')}
        SELECT row_number() OVER () AS row_id, school_code,
               coalesce(c.county_code, p.county_code) AS county_code,
               c.county_code AS this_year_county_code, p.county_code AS last_year_county_code,
               c.school_type, p.school_type AS last_year_school_type
        FROM cur c FULL OUTER JOIN prev p USING (school_code)
        WHERE EXISTS (SELECT 1 FROM prev)"""


# ---------------------------------------------------------------------------------------------------- county returns


def returns_sql(year: int, rules: dict[str, Rule]) -> str:
    """Long: one row per county return and item (yes/no items as 1/0), with the columns the return rules judge."""
    rr = rules_of_kind(rules, "return_range")
    rates = list(rr[0].get("rates")) if rr else []
    req = rules_of_kind(rules, "return_required")
    required = list(req[0].get("required")) if req else []
    cols = [f"CAST({c} AS DOUBLE) AS {c}" for c in RETURN_ITEMS]
    special = [f"CASE WHEN field = {lit(c)} THEN value END AS {c}__value" for c in RETURN_SPECIAL_RANGES]
    share = rules_of_kind(rules, "return_share")
    if share and rates:
        mx = lit(float(share[0].params["max_share"]))
        above = " + ".join(f"coalesce(CAST({c} > {mx} AS INTEGER), 0)" for c in rates)
        # the return's other rates above a share's range (so the return is in percent)
        percent_rate = (f"CASE WHEN field IN {_in(rates)} AND value > 0 AND n_above - CAST(value > {mx} AS INTEGER) "
                        f">= {lit(share[0].params['min_others_above'])} THEN value END")
    else:
        above, percent_rate = "0", "CAST(NULL AS DOUBLE)"
    return f"""
        WITH r AS (SELECT county_code, {', '.join(cols)} FROM raw.county_returns WHERE year = {int(year)}),
        n AS (SELECT county_code, {above} AS n_above FROM r),
        long AS (SELECT * FROM r UNPIVOT INCLUDE NULLS (value FOR field IN ({', '.join(RETURN_ITEMS)})))
        SELECT row_number() OVER () AS row_id,
               long.county_code, CAST(NULL AS VARCHAR) AS school_code, field, value,
               CASE WHEN field IN {_in(rates)} THEN value END AS rate_value,
               {', '.join(special)},
               CASE WHEN field IN {_in(required)} THEN value ELSE 0.0 END AS required_value,
               {percent_rate} AS rate_in_percent_return
        FROM long JOIN n USING (county_code)"""


def counties_sql(year: int) -> str:
    """The counties of the year's census, each with its return's county code (NULL: no return); none when the year
    has no return at all (returns are optional)."""
    return f"""
        WITH {_census(year, 'cur')},
        ret AS (SELECT DISTINCT county_code FROM raw.county_returns WHERE year = {int(year)})
        SELECT row_number() OVER () AS row_id, c.county_code,
               ret.county_code AS return_county_code
        FROM (SELECT DISTINCT county_code FROM cur WHERE county_code IS NOT NULL) c
        LEFT JOIN ret USING (county_code)
        WHERE EXISTS (SELECT 1 FROM ret)"""


# ---------------------------------------------------------------------------------------------------- all of a year


def relations(year: int, rules: dict[str, Rule], checks: list[Check]) -> list[Relation]:
    """The year's relations that some check reads, in checks.TABLES order."""
    used = {ch.table for ch in checks}
    sql = {f"parts_{lvl}": parts_sql(year, lvl, rules, checks) for lvl in LEVELS}
    sql.update(values=values_sql(year), subcounts=subcounts_sql(year, rules), rooms=rooms_sql(year, rules),
               yoy=yoy_sql(year, rules), events=events_sql(year), returns=returns_sql(year, rules),
               counties=counties_sql(year))
    return [Relation(t, s) for t, s in sql.items() if t in used and s is not None]
