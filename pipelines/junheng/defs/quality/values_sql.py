"""The values the plausibility rules judge, computed once in DuckDB SQL rendered from rules.yml.

For year Y, `census_sql` keeps the census values in force of Y, Y-1 and Y-2 (the dbt view
`staging.stg_census_schools`, corrections applied) as temporary tables, each school of Y numbered (`sid`). Each
relation of checks.TABLES then becomes a temporary table `quality_<table>` with a `row_id`, read by GX (only the
judged columns and row_id, as pandas) and, for the failing rows only, through `quality_<table>_rows` (the row's
school, county, field and level) by the flag writer. The long relations (one row per school and measure, pair or
variable: millions of rows a national year) hold numbers only: `row_id = sid · 64 + k`, k the measure, pair or
variable, named again only for the failing rows. The school parts come from the dbt view
`intermediate.int_school_parts` (the §1 split shares of the split_weights seed, provincial overrides included: the
parts the indicators use); the county returns from `raw.county_returns`; last year's stored verdicts from
`marts.submission_flags`.

Nothing here judges a value: every comparison with a rules.yml bound is a GX expectation (checks.py). What SQL
computes is the value itself (a per-student value after the split, a sub-count's excess over its total, the area
per room, the Hidiroglou–Berthelot score, the distance of a log ratio from a unit factor) and which rows a rule
applies to (the section columns a school type lacks; the rates of a return whose other rates are percentages).
Parameters of those computations (scale, min_students, U, A, min_group, reversal margin, unit factors) are read
from rules.yml and rendered into the SQL; none is written here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from junheng.defs.quality.checks import (RETURN_SPECIAL_RANGES, Check, current_year_rule_ids, metric_name,
                                         section_vars)
from junheng.defs.quality.rules import LEVELS, Rule, rules_of_kind
from junheng.lib.schema import CENSUS_COLUMNS, ENUMS, RETURN_COLUMNS, SECTIONS

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
SCHOOL_TYPES = tuple(sorted(set(ENUMS["school_type"].values())))
RETURN_ITEMS: tuple[str, ...] = tuple(c.name for c in RETURN_COLUMNS if c.name not in ("county_code", "county_name",
                                                                                        "year"))
KEY = 64  # row_id = sid * KEY + k: k < KEY numbers the measures, pairs and variables of one school
HB_QUARTILES = (0.25, 0.75)  # E_Q1 and E_Q3 of the HB method (E_M: the median); linear, as numpy's default
HB_MIN_GROUP_FLOOR = 4  # a quartile needs at least four scores
HB_D_FLOOR = 1e-12  # keeps d > 0 when every score of a group is 0
CUR, PREV, PREV2 = "quality_cur", "quality_prev", "quality_prev2"  # the census of Y (numbered), Y-1, Y-2
CUR_PARTS = "quality_cur_parts"  # int_school_parts of Y, computed once for every level's relation


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


def _name_of(expr: str, names) -> str:
    """CASE expr WHEN 0 THEN names[0] …: a number back to its name."""
    return f"CASE {expr} " + " ".join(f"WHEN {i} THEN {lit(n)}" for i, n in enumerate(names)) + " END"


def temp_name(table: str) -> str:
    return f"quality_{table}"


def rows_name(table: str) -> str:
    return f"quality_{table}_rows"


@dataclass(frozen=True)
class Relation:
    table: str
    sql: str  # SELECT … (row_id first) of the year
    rows_sql: str | None = None  # SELECT over the relation's table naming each row (school, county, field…)


# ---------------------------------------------------------------------------------------------------- census years


def census_sql(year: int, rules: dict[str, Rule]) -> list[tuple[str, str]]:
    """(temporary table, SELECT) of the census in force of Y (each school numbered: sid), of Y-1 and Y-2 the
    columns the year-over-year rules and the events read, and the school parts of Y (the view evaluated once, not
    once per level: ~0.3 s a national year)."""
    variables = list(yoy_variables(rules))
    prev = sorted({"school_code", "school_name", "county_code", "county_name", "school_type", *variables,
                   *(c.split(".", 1)[1] for v in variables for c in _companion_columns(v))})
    return [(CUR, f"SELECT row_number() OVER () AS sid, * FROM {CENSUS} WHERE year = {int(year)}"),
            (PREV, f"SELECT {', '.join(prev)} FROM {CENSUS} WHERE year = {int(year) - 1}"),
            (PREV2, f"SELECT {', '.join(['school_code', *variables])} FROM {CENSUS} WHERE year = {int(year) - 2}"),
            (CUR_PARTS, f"SELECT school_code, county_code, school_type, level, split_share FROM {PARTS} "
                        f"WHERE year = {int(year)} AND level IN {_in(LEVELS)}")]


def _companion_columns(var: str) -> list[str]:
    """The census columns (p.<col>) of last year that `var`'s companion figure reads."""
    return sorted(set(re.findall(r"\bp\.\w+", _companion(var)[1])))


def _long_rows(table: str, names, extra: dict[str, tuple] | None = None) -> str:
    """The failing-row view of a long relation: its row's school (sid = row_id // KEY) and the name of k."""
    cols = [f"{_name_of(f't.row_id % {KEY}', names)} AS field"]
    for col, values in (extra or {}).items():
        cols.append(f"{_name_of(f't.row_id % {KEY}', values)} AS {col}")
    return (f"SELECT t.*, c.school_code, c.county_code, c.school_type, {', '.join(cols)} "
            f"FROM {temp_name(table)} t JOIN {CUR} c ON c.sid = t.row_id // {KEY}")


# ---------------------------------------------------------------------------------------------------- parts


def parts_sql(level: str, rules: dict[str, Rule], checks: list[Check]) -> str:
    """One row per school part of `level` (int_school_parts of Y, in CUR_PARTS: its split share), with the
    section's values as submitted (the census in force) and the per-student values of the range rules."""
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
        SELECT s.sid AS row_id, p.school_code, p.county_code, p.school_type, p.level, {students} AS students,
               {', '.join(cols + metrics)}
        FROM {CUR_PARTS} p
        JOIN {CUR} s ON s.school_code = p.school_code
        WHERE p.level = {lit(level)}"""


# ---------------------------------------------------------------------------------------------------- values


def _foreign(measure: str) -> str:
    """True where a known school type lacks the section of `measure` (an unknown type may fill any)."""
    sec = measure.split("_", 1)[0]
    if sec not in SECTION_NAMES:
        return "FALSE"
    may_fill = sorted(t for t, a in ALLOWED_SECTIONS.items() if sec in a)
    return f"(school_type IN {_in(sorted(ALLOWED_SECTIONS))} AND school_type NOT IN {_in(may_fill)})"


def values_sql() -> str:
    """Long: one row per school and reported measure; `offsection_value` is the value where the type lacks the
    section (every other row: NULL)."""
    return " UNION ALL ".join(
        f"SELECT sid * {KEY} + {k} AS row_id, {m} AS value, CASE WHEN {_foreign(m)} THEN {m} END AS offsection_value "
        f"FROM {CUR} WHERE {m} IS NOT NULL" for k, m in enumerate(MEASURES))


# ---------------------------------------------------------------------------------------------------- sub-counts, rooms


def _pairs(rules: dict[str, Rule], kind: str, key: str) -> list:
    return [pair for r in rules_of_kind(rules, kind) for pair in r.get(key)]


def subcounts_sql(rules: dict[str, Rule]) -> str | None:
    pairs = _pairs(rules, "subcount", "pairs")
    if not pairs:
        return None
    return " UNION ALL ".join(
        f"SELECT sid * {KEY} + {i} AS row_id, {part} AS value, {total} AS total, {part} - {total} AS excess "
        f"FROM {CUR} WHERE {part} - {total} IS NOT NULL" for i, (part, total) in enumerate(pairs))


def rooms_sql(rules: dict[str, Rule]) -> str | None:
    rooms = _pairs(rules, "room_area", "rooms")
    if not rooms:
        return None
    return " UNION ALL ".join(
        f"SELECT sid * {KEY} + {i} AS row_id, {area} AS value, {n} AS rooms, "
        f"CASE WHEN {n} > 0 AND {area} > 0 THEN {area} / {n} END AS area_per_room, "
        f"CASE WHEN {area} > 0 THEN {n} END AS rooms_when_area, "
        f"CASE WHEN {n} > 0 THEN {area} END AS area_when_rooms FROM {CUR}" for i, (area, n) in enumerate(rooms))


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
    """The figure a believable change of `var` moves with (c this year, p last year): teachers for students,
    students for a section's other figures, the school's total students for whole-school figures."""
    sec = var.split("_", 1)[0]
    if sec in LEVELS and var.endswith("_students"):
        return f"c.{sec}_teachers", f"p.{sec}_teachers"
    if sec in LEVELS:
        return f"c.{sec}_students", f"p.{sec}_students"
    total = ("CASE WHEN {a}.primary_students IS NULL AND {a}.junior_students IS NULL AND {a}.senior_students IS NULL "
             "THEN NULL ELSE coalesce({a}.primary_students, 0) + coalesce({a}.junior_students, 0) "
             "+ coalesce({a}.senior_students, 0) END")
    return total.format(a="c"), total.format(a="p")


def yoy_variables(rules: dict[str, Rule]) -> dict[str, str]:
    """variable -> its level ('' for a whole-school figure), in row order (k of row_id)."""
    variables: dict[str, str] = {}
    for r in rules_of_kind(rules, "hb"):
        variables.update(dict(section_vars(r)))
    for r in rules_of_kind(rules, "unit_slip"):
        for f in r.get("fields"):
            variables.setdefault(f, "")
    return variables


def yoy_sql(rules: dict[str, Rule]) -> str | None:
    """Long: one row per school present this year and last, and variable: the value, last year's value where it is
    a baseline, the log10 ratio, the gap to the companion figure's log10 ratio, the HB score (per variable and
    group: the level for section variables, the school type for whole-school ones; small groups pooled) and the
    distance of the log ratio from each unit-slip factor.

    The HB statistics of each group (median ratio, quartiles of the scores, the floor of d) are small tables joined
    back by (variable, group): each score is computed by the same expression as the scores the quartiles were
    taken over."""
    hb = rules_of_kind(rules, "hb")
    slips = rules_of_kind(rules, "unit_slip")
    if len(hb) > 1:
        raise ValueError("rules.yml: one HB rule (kind: hb) at most")
    variables = yoy_variables(rules)
    if not variables:
        return None
    hb_vars = set(dict(section_vars(hb[0]))) if hb else set()
    # the HB group: the level of a section variable (negative numbers), the school type of a whole-school one
    type_group = ("CASE c.school_type " + " ".join(f"WHEN {lit(t)} THEN {i}" for i, t in enumerate(SCHOOL_TYPES))
                  + f" ELSE {len(SCHOOL_TYPES)} END")
    branches = []
    for k, (var, lvl) in enumerate(variables.items()):
        comp, comp_p = _companion(var)
        group = str(-1 - LEVELS.index(lvl)) if lvl else type_group
        branches.append(
            f"SELECT c.sid, {k} AS k, {group} AS grp0, c.{var} AS value, p.{var} AS prev_raw, p2.{var} AS prev2, "
            f"{comp} AS comp, {comp_p} AS comp_prev, {lit(var in hb_vars)} AS hb_var "
            f"FROM {CUR} c JOIN {PREV} p USING (school_code) LEFT JOIN {PREV2} p2 USING (school_code)")
    untrusted = (f"SELECT c.sid, CASE u.field " + " ".join(f"WHEN {lit(v)} THEN {k}" for k, v in enumerate(variables))
                 + f" END AS k FROM {temp_name('untrusted')} u JOIN {CUR} c USING (school_code)")
    if hb:
        margin = lit(float(hb[0].params["reversal_log10_margin"]))
        # last year was the slip when this year is much closer to two years ago than to last year
        reversal = f"coalesce(abs(lr_raw) > {margin} AND abs(lr2) < abs(lr_raw) - {margin}, FALSE)"
    else:
        reversal = "FALSE"
    slip_cols = []
    for r in slips:
        ks = [k for k, v in enumerate(variables) if v in r.get("fields")]
        f = lit(float(r.params["log10_ratio"]))
        slip_cols.append(f"CASE WHEN b.k IN {_in(ks)} THEN "
                         f"least(abs(b.log10_ratio - {f}), abs(b.log10_ratio + {f})) END AS \"slip__{r.id}\"")
    if hb:
        p = hb[0].params
        min_group, a, u = lit(p["min_group"]), lit(float(p["A"])), lit(float(p["U"]))
        pooled = len(SCHOOL_TYPES) + 1
        valid = "b.hb_var AND b.value > 0 AND b.prev > 0"
        ratio, size = "(b.value / b.prev)", f"pow(greatest(b.value, b.prev), {u})"
        score = f"(CASE WHEN {ratio} < st.rm THEN 1 - st.rm / {ratio} ELSE {ratio} / st.rm - 1 END) * {size}"
        hb_ctes = f""",
        g AS (SELECT k, grp0, CASE WHEN count(*) < {min_group} THEN {pooled} ELSE grp0 END AS grp, count(*) AS n
              FROM b WHERE {valid} GROUP BY k, grp0),
        groups AS (SELECT k, grp0, grp FROM g
                   WHERE (k, grp) IN (SELECT (k, grp) FROM g GROUP BY k, grp
                                      HAVING sum(n) >= greatest({min_group}, {HB_MIN_GROUP_FLOOR}))),
        v AS (SELECT b.*, gr.grp FROM b JOIN groups gr USING (k, grp0) WHERE {valid}),
        med AS (SELECT k, grp, median(value / prev) AS rm, median(pow(greatest(value, prev), {u})) AS size_m
                FROM v GROUP BY k, grp),
        sc AS (SELECT b.k, b.grp, {score.replace("st.rm", "med.rm")} AS e FROM v b JOIN med USING (k, grp)),
        qs AS (SELECT k, grp, quantile_cont(e, {lit(HB_QUARTILES[0])}) AS q1, median(e) AS qm,
                      quantile_cont(e, {lit(HB_QUARTILES[1])}) AS q3 FROM sc GROUP BY k, grp),
        st AS (SELECT gr.k, gr.grp0, med.rm, qs.q1, qs.qm, qs.q3,
                      greatest({a} * abs(qs.qm), {a} * med.size_m, {lit(HB_D_FLOOR)}) AS fl
               FROM groups gr JOIN med USING (k, grp) JOIN qs USING (k, grp))"""
        hb_join = "LEFT JOIN st USING (k, grp0)"
        hb_col = (f"CASE WHEN {valid} AND st.k IS NOT NULL THEN "
                  f"CASE WHEN {score} >= st.qm THEN ({score} - st.qm) / greatest(st.q3 - st.qm, st.fl) "
                  f"ELSE ({score} - st.qm) / greatest(st.qm - st.q1, st.fl) END END AS hb_z")
    else:
        hb_ctes, hb_join, hb_col = "", "", "CAST(NULL AS DOUBLE) AS hb_z"
    return f"""
        WITH long AS ({' UNION ALL '.join(branches)}),
        s AS (SELECT l.*,
                     CASE WHEN value > 0 AND prev_raw > 0 THEN log10(value / prev_raw) END AS lr_raw,
                     CASE WHEN value > 0 AND prev2 > 0 THEN log10(value / prev2) END AS lr2,
                     CASE WHEN comp > 0 AND comp_prev > 0 THEN log10(comp / comp_prev) END AS lc,
                     u.sid IS NOT NULL AS untrusted
              FROM long l LEFT JOIN ({untrusted}) u USING (sid, k)),
        b AS MATERIALIZED (SELECT sid, k, grp0, hb_var, value, lc,
                                  CASE WHEN NOT (untrusted OR {reversal}) THEN prev_raw END AS prev,
                                  CASE WHEN NOT (untrusted OR {reversal}) THEN lr_raw END AS log10_ratio
                           FROM s){hb_ctes}
        SELECT b.sid * {KEY} + b.k AS row_id, b.value, b.prev, b.log10_ratio,
               abs(b.log10_ratio - b.lc) AS companion_gap, {hb_col}{''.join(', ' + c for c in slip_cols)}
        FROM b {hb_join}"""


# ---------------------------------------------------------------------------------------------------- events


def events_sql() -> str:
    """One row per school of this year or last (none when last year has no census): this and last year's type and
    county. `county_code` is the flag's county: this year's, or last year's for a school that is gone."""
    return f"""
        SELECT row_number() OVER () AS row_id, school_code,
               coalesce(c.county_code, p.county_code) AS county_code,
               c.county_code AS this_year_county_code, p.county_code AS last_year_county_code,
               c.school_type, p.school_type AS last_year_school_type
        FROM {CUR} c FULL OUTER JOIN {PREV} p USING (school_code)
        WHERE EXISTS (SELECT 1 FROM {PREV})"""


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
        WITH ret AS (SELECT DISTINCT county_code FROM raw.county_returns WHERE year = {int(year)})
        SELECT row_number() OVER () AS row_id, c.county_code, ret.county_code AS return_county_code
        FROM (SELECT DISTINCT county_code FROM {CUR} WHERE county_code IS NOT NULL) c
        LEFT JOIN ret USING (county_code)
        WHERE EXISTS (SELECT 1 FROM ret)"""


# ---------------------------------------------------------------------------------------------------- all of a year


def relations(year: int, rules: dict[str, Rule], checks: list[Check]) -> list[Relation]:
    """The year's relations that some check reads, in checks.TABLES order (they read census_sql's tables)."""
    used = {ch.table for ch in checks}
    variables = yoy_variables(rules)
    subcounts, rooms = _pairs(rules, "subcount", "pairs"), _pairs(rules, "room_area", "rooms")
    if max(len(MEASURES), len(variables), len(subcounts), len(rooms)) > KEY:
        raise ValueError(f"more than {KEY} measures, variables or pairs: raise values_sql.KEY")
    out = [Relation(f"parts_{lvl}", parts_sql(lvl, rules, checks)) for lvl in LEVELS]
    out += [
        Relation("values", values_sql(), _long_rows("values", MEASURES)),
        Relation("subcounts", subcounts_sql(rules), _long_rows(
            "subcounts", [p for p, _ in subcounts], {"total_field": [t for _, t in subcounts]})),
        Relation("rooms", rooms_sql(rules), _long_rows(
            "rooms", [a for a, _ in rooms], {"rooms_field": [n for _, n in rooms]})),
        Relation("yoy", yoy_sql(rules), _long_rows(
            "yoy", list(variables), {"level": [lvl or None for lvl in variables.values()]})),
        Relation("events", events_sql()),
        Relation("returns", returns_sql(year, rules)),
        Relation("counties", counties_sql(year)),
    ]
    return [r for r in out if r.table in used and r.sql is not None]
