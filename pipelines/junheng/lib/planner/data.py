"""The planning problems of a year, read from a warehouse (or a verification scratch database) built by dbt:
school parts from `intermediate.int_school_parts` and the whole-school census figures from
`staging.stg_census_schools`, standards, thresholds, constants, plan items and unit costs from the seeds (province
override, else national default). Nothing here restates a threshold or a split: the seeds and the dbt models hold them.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import duckdb

from junheng.lib.planner.problem import CountyProblem, Indicator, Item, Part


class PlanInputError(ValueError):
    pass


def _cfg(con, seed: str, province: str, value: str, where: str = "true") -> list[tuple]:
    """Rows of a province-resolved seed: the province's rows where it has them, else the national ones (the
    cfg_join rule of macros/per_year.sql)."""
    return con.execute(f"""
        select * exclude (province_code, _rank) from (
            select *, dense_rank() over (partition by {value} order by province_code = '*') as _rank
            from config.{seed} where province_code in ('*', ?) and {where}
        ) where _rank = 1
    """, [province]).fetchall()


def read_costs_file(path: Path) -> dict[str, float]:
    """`--costs FILE`: a CSV with columns resource, yuan_per_unit (UTF-8 or GB18030); every problem at once."""
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise PlanInputError(f"{path}: 无法识别的编码 / neither UTF-8 nor GB18030")
    rows = list(csv.DictReader(text.splitlines()))
    problems, out = [], {}
    if not rows or not {"resource", "yuan_per_unit"} <= set(rows[0]):
        raise PlanInputError(f"{path}: 需要列 resource, yuan_per_unit / needs columns resource, yuan_per_unit")
    for i, row in enumerate(rows, start=2):
        try:
            v = float(row["yuan_per_unit"])
            if not v >= 0 or v == float("inf"):
                raise ValueError
            out[row["resource"].strip()] = v
        except (TypeError, ValueError):
            problems.append(f"{path}:{i} 列 yuan_per_unit：{row['yuan_per_unit']!r} 不是非负数 / not a non-negative number")
    if problems:
        raise PlanInputError("\n".join(problems))
    return out


def plan_items(con, province: str, costs: dict[str, float] | None = None) -> dict[str, Item]:
    items = {}
    cost_rows = {r[0]: r[1] for r in con.execute(
        "select resource, yuan_per_unit from config.unit_costs where province_code = '*'").fetchall()}
    cost_rows.update({r[0]: r[1] for r in con.execute(
        "select resource, yuan_per_unit from config.unit_costs where province_code = ?", [province]).fetchall()})
    unknown = set(costs or {}) - set(cost_rows)
    if unknown:
        raise PlanInputError(f"--costs: 未知的投入项目 / unknown plan items: {', '.join(sorted(unknown))} "
                             f"(known: {', '.join(sorted(cost_rows))})")
    cost_rows.update(costs or {})
    for resource, scope, step, integral, name_zh, unit_zh, unit_constant in con.execute(
            "select resource, scope, step, integral, name_zh, unit_zh, census_unit_constant from config.plan_items "
            "order by sort_order").fetchall():
        items[resource] = Item(resource, scope, float(step), bool(integral), float(cost_rows[resource]), name_zh,
                               unit_zh, constant(con, unit_constant, province) if unit_constant else 1.0)
    return items


def constant(con, name: str, province: str) -> float:
    rows = _cfg(con, "method_constants", province, "constant", f"constant = '{name}'")
    return float(rows[0][1])


@dataclass(frozen=True)
class ProvinceConfig:
    """What the seeds say for one province (override, else national default)."""

    items: dict[str, Item]
    yuan: float  # yuan per 万元
    public_only: bool
    indicators: list[Indicator]
    thresholds: dict[str, float]
    min_met: int
    min_share: float


def province_config(con, province: str, costs: dict[str, float] | None = None) -> ProvinceConfig:
    std: dict[str, dict[str, float]] = {}
    for indicator, level, standard in _cfg(con, "indicator_standards", province, "indicator, level"):
        std.setdefault(indicator, {})[level] = float(standard)
    indicators = [Indicator(code, resource, float(scale), std[code]) for code, resource, scale in con.execute(
        "select indicator, resource, scale from config.indicators where method = 'quality' order by sort_order"
    ).fetchall()]
    thresholds = {level: float(t) for _, level, _, t in _cfg(
        con, "cv_thresholds", province, "method, level, measure", "method = 'quality' and measure = 'indicator'")}
    return ProvinceConfig(
        items=plan_items(con, province, costs), yuan=constant(con, "yuan_per_10k_yuan", province),
        public_only=constant(con, "plan_county_public_only", province) == 1, indicators=indicators,
        thresholds=thresholds, min_met=int(constant(con, "school_min_indicators_met", province)),
        min_share=constant(con, "school_min_share_of_standard", province))


def load_problems(
    con: duckdb.DuckDBPyConnection,
    year: int,
    counties: list[str] | None = None,
    costs: dict[str, float] | None = None,
    target_year: int | None = None,
    student_factor: dict[str, dict[str, float]] | None = None,
) -> list[CountyProblem]:
    """One problem per county of `year` (or of `counties`) with school parts in the 2017 scope."""
    where = "and p.county_code in (select unnest(?::varchar[]))" if counties else ""
    args = [year, counties] if counties else [year]
    rows = con.execute(f"""
        select p.county_code, p.province_code, p.school_code, p.school_name, p.level, p.students, p.split_share,
               p.ownership, p.authority,
               p.teachers_above_degree, p.backbone_teachers, p.pe_art_teachers,
               s.teaching_aux_area_m2, s.sports_area_m2, s.equipment_value_10k_yuan, s.multimedia_classrooms
        from intermediate.int_school_parts p
        join staging.stg_census_schools s using (year, school_code)
        where p.year = ? and p.in_quality_scope and p.students > 0 {where}
        order by p.county_code, p.school_code, p.level
    """, args).fetchall()
    by_county: dict[str, list[tuple]] = {}
    for r in rows:
        by_county.setdefault(r[0], []).append(r)
    problems = []
    config: dict[str, ProvinceConfig] = {}  # the seeds resolved once per province, not per county
    for county, crow in by_county.items():
        province = crow[0][1]
        if province not in config:
            config[province] = province_config(con, province, costs)
        cfg = config[province]
        items, yuan, public_only, indicators, thresholds = (cfg.items, cfg.yuan, cfg.public_only, cfg.indicators,
                                                           cfg.thresholds)
        parts = []
        for (_, _, school, name, level, students, share, ownership, authority, t1, t2, t3,
             area, sports, equip_10k, rooms) in crow:
            parts.append(Part(
                school_code=school, level=level, students=float(students), share=float(share or 0.0),
                resources={
                    "teachers_above_degree": t1, "backbone_teachers": t2, "pe_art_teachers": t3,
                    # whole-school figures: split by the share when valued, (R + Δ)·share, as int_school_parts does
                    "teaching_aux_area_m2": area, "sports_area_m2": sports,
                    "equipment_value_yuan": None if equip_10k is None else equip_10k * yuan,
                    "multimedia_classrooms": rooms,
                },
                raisable=(not public_only) or (ownership == "public" and authority == "county"),
                school_name=name or "",
                census={} if equip_10k is None else {"equipment_value_yuan": float(equip_10k)},
            ))
        for p in parts:
            p.resources = {k: (None if v is None else float(v)) for k, v in p.resources.items()}
        problems.append(CountyProblem(
            county_code=county, year=year, target_year=target_year or year, province_code=province, parts=parts,
            indicators=indicators, cv_threshold=thresholds,
            min_met=cfg.min_met, min_share=cfg.min_share,
            items=items, student_factor=(student_factor or {}).get(county, {}),
        ))
    return problems


def student_factors(con, year: int, target_year: int, counties: list[str]) -> dict[str, dict[str, float]]:
    """Each county's students per level projected to `target_year` by the Theil–Sen slope of its yearly totals up to
    `year` (the median of the slopes between every two years; robust to one odd year), as a factor on this year's
    students. One year of history: factor 1."""
    rows = con.execute("""
        with t as (
            select county_code, year, 'primary' as level, sum(primary_students) as n from staging.stg_census_schools
            where year <= ? and county_code in (select unnest(?::varchar[])) group by all
            union all
            select county_code, year, 'junior', sum(junior_students) from staging.stg_census_schools
            where year <= ? and county_code in (select unnest(?::varchar[])) group by all
        ),
        slopes as (
            select a.county_code, a.level, median((b.n - a.n) / (b.year - a.year)) as slope
            from t a join t b on a.county_code = b.county_code and a.level = b.level and a.year < b.year
            group by all
        )
        select t.county_code, t.level, t.n, coalesce(s.slope, 0)
        from t left join slopes s using (county_code, level)
        where t.year = ?
    """, [year, counties, year, counties, year]).fetchall()
    out: dict[str, dict[str, float]] = {}
    for county, level, n, slope in rows:
        projected = max(0.0, float(n) + float(slope) * (target_year - year))
        out.setdefault(county, {})[level] = projected / float(n) if n else 1.0
    return out
