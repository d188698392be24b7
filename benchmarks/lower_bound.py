"""The lower bound: one DuckDB process reads the raw census CSV files and computes the 2012 and 2017 county CVs.

Only `duckdb` is imported (no junheng, no pandas, no polars). Spec: shared/spec/balance-methods.md
§1 (section parts and the weighted split of whole-school facilities), §2 (students-weighted CV, population form),
§3 (2012 scope, eight indicators, composite = mean of the eight), §4.1 (2017 scope, seven indicators).

    python benchmarks/lower_bound.py DATA_DIR [--out cvs.parquet] [--threads N] [--memory-limit 3GB]

Prints one JSON line: rows read, CV rows written, seconds. With --out the per county/year/level/method/indicator
CVs are written to a Parquet file, so the benchmark can compare them with the pipeline's marts.county_indicator_cv.

Why it is fast (issue 14; each measured on the national data, see benchmarks/results/2026-11-28-*.md):
- the files are grouped by their header line and each group is read with a plain `read_csv` (one sniff, no
  `union_by_name` reconciliation of 318 files), the groups joined with `union all by name`;
- only the columns the CVs need are read, with their types given (no school code, names or room counts);
- the CVs are computed on one wide row per school part (15 indicators side by side, `filter` clauses for the two
  scopes and unreported values) instead of a long table of 15 rows per part: two grouped passes over ~4 M rows
  instead of a join over ~50 M. The CV stays the two-pass population form of §2 (a one-pass Σx² − X² would turn a
  one-school county's exact 0 into ~1e-8).
- The section split weights are read from the same seed the pipeline reads (`dbt_project/seeds/split_weights.csv`,
  national `*` rows and provincial overrides), so the split is defined once.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import duckdb

SEED = Path(__file__).resolve().parent.parent / "dbt_project" / "seeds" / "split_weights.csv"

# census header -> (column name in SQL, type)
COLUMNS = {
    "统计年度": ("year", "INTEGER"),
    "县级行政区划代码": ("county_code", "VARCHAR"),
    "办学类型": ("type_zh", "VARCHAR"),
    "举办者类型": ("ownership_zh", "VARCHAR"),
    "隶属关系": ("authority_zh", "VARCHAR"),
    "小学在校生数": ("a", "DOUBLE"),
    "初中在校生数": ("b", "DOUBLE"),
    "高中在校生数": ("c", "DOUBLE"),
    "小学专任教师数": ("p_teachers", "DOUBLE"),
    "初中专任教师数": ("j_teachers", "DOUBLE"),
    "小学高于规定学历专任教师数": ("p_degree", "DOUBLE"),
    "初中高于规定学历专任教师数": ("j_degree", "DOUBLE"),
    "小学中级及以上职称专任教师数": ("p_title", "DOUBLE"),
    "初中中级及以上职称专任教师数": ("j_title", "DOUBLE"),
    "小学县级及以上骨干教师数": ("p_backbone", "DOUBLE"),
    "初中县级及以上骨干教师数": ("j_backbone", "DOUBLE"),
    "小学体育艺术专任教师数": ("p_pe_art", "DOUBLE"),
    "初中体育艺术专任教师数": ("j_pe_art", "DOUBLE"),
    "教学及辅助用房面积（平方米）": ("area", "DOUBLE"),
    "体育运动场馆面积（平方米）": ("sports", "DOUBLE"),
    "教学仪器设备资产值（万元）": ("equipment_10k", "DOUBLE"),
    "图书（册）": ("books", "DOUBLE"),
    "教学用计算机（台）": ("computers", "DOUBLE"),
    "网络多媒体教室（间）": ("multimedia", "DOUBLE"),
}

# (method, indicator, resource column of a part, scale)
INDICATORS = (
    ("basic", "B1", "area", 1), ("basic", "B2", "sports", 1), ("basic", "B3", "equipment", 1),
    ("basic", "B4", "computers", 100), ("basic", "B5", "books", 1), ("basic", "B6", "teachers", 1),
    ("basic", "B7", "degree", 1), ("basic", "B8", "title", 1),
    ("quality", "Q1", "degree", 100), ("quality", "Q2", "backbone", 100), ("quality", "Q3", "pe_art", 100),
    ("quality", "Q4", "area", 1), ("quality", "Q5", "sports", 1), ("quality", "Q6", "equipment", 1),
    ("quality", "Q7", "multimedia", 100),
)
SCOPE = {"basic": "basic_scope", "quality": "quality_scope"}


def census_sql(files: list[Path]) -> str:
    """One plain read_csv per group of files sharing a header line, only the needed columns, `union all by name`."""
    groups: dict[str, list[str]] = {}
    for f in files:
        with f.open("rb") as fh:
            header = fh.readline().decode("utf-8-sig").strip()
        groups.setdefault(header, []).append(str(f))
    selects = []
    for header, paths in groups.items():
        names = header.split(",")
        types = {n: COLUMNS[n][1] if n in COLUMNS else "VARCHAR" for n in names}
        cols = ", ".join(
            (f'"{zh}" as {name}' if zh in names else f"cast(null as {typ}) as {name}")
            for zh, (name, typ) in COLUMNS.items()
        )
        file_list = ", ".join(f"'{p}'" for p in paths)
        col_types = ", ".join(f"'{n}': '{t}'" for n, t in types.items())
        selects.append(
            f"select {cols} from read_csv([{file_list}], header = true, auto_detect = false, "
            f"delim = ',', quote = '\"', columns = {{{col_types}}})"
        )
    return "\nunion all by name\n".join(selects)


def sql(files: list[Path]) -> str:
    res = sorted({r for _, _, r, _ in INDICATORS})
    # §2 first pass: X = ΣR / ΣP (scaled) over the parts in scope that report the resource
    first = ",\n       ".join(
        f"sum({r}) filter (where {SCOPE[m]}) * {s}.0 / sum(students) filter (where {SCOPE[m]} and {r} is not null) as x_{i},"
        f" sum(students) filter (where {SCOPE[m]} and {r} is not null) as p_{i},"
        f" count({r}) filter (where {SCOPE[m]}) as n_{i}"
        for m, i, r, s in INDICATORS
    )
    # §2 second pass: CV = sqrt(Σ P_i/P (x_i − X)²) / X
    second = ",\n       ".join(
        f"case when any_value(g.x_{i}) <> 0 then sqrt(sum(v.students / g.p_{i} * power(v.{r} * {s}.0 / v.students - g.x_{i}, 2))"
        f" filter (where v.{SCOPE[m]} and v.{r} is not null)) / any_value(g.x_{i}) end as cv_{i},"
        f" any_value(g.n_{i}) as n_{i}"
        for m, i, r, s in INDICATORS
    )
    unpivot = "\nunion all\n".join(
        f"select year, county_code, level, '{m}' as method, '{i}' as indicator, cv_{i} as cv, n_{i} as schools "
        f"from cvs_wide where n_{i} > 0"
        for m, i, r, s in INDICATORS
    )
    return f"""
create or replace temp table weights as
select province_code, school_type, section, cast(weight as double) as weight
from read_csv('{SEED}', header = true, columns = {{'province_code': 'VARCHAR', 'school_type': 'VARCHAR',
              'section': 'VARCHAR', 'weight': 'DOUBLE'}});

create or replace temp view census as
select year, county_code, left(county_code, 2) as province_code,
    case type_zh when '小学' then 'primary' when '小学教学点' then 'teaching_point' when '初级中学' then 'junior'
        when '九年一贯制学校' then 'nine_year' when '完全中学' then 'complete_secondary'
        when '十二年一贯制学校' then 'twelve_year' when '特殊教育学校' then 'special' end as school_type,
    ownership_zh = '公办' as is_public, authority_zh = '县级' as county_run,
    coalesce(a, 0) as a, coalesce(b, 0) as b, coalesce(c, 0) as c,
    p_teachers, j_teachers, p_degree, j_degree, p_title, j_title, p_backbone, j_backbone, p_pe_art, j_pe_art,
    area, sports, equipment_10k * 10000 as equipment_yuan, books, computers, multimedia
from (
{census_sql(files)}
);

-- §1: the seed's weights per school type and section: national ('*') rows, and provincial overrides per section
create or replace temp table type_weights as
select province_code, school_type,
       max(weight) filter (where section = 'primary') as w_p,
       max(weight) filter (where section = 'junior') as w_j,
       max(weight) filter (where section = 'senior') as w_s
from weights group by all;

create or replace temp table parts as
with s as (
    select *, coalesce(w_p, 0) * a + coalesce(w_j, 0) * b + coalesce(w_s, 0) * c as weighted
    from (
        select c.*, coalesce(o.w_p, n.w_p) as w_p, coalesce(o.w_j, n.w_j) as w_j, coalesce(o.w_s, n.w_s) as w_s,
               n.w_p is not null as has_p, n.w_j is not null as has_j
        from census c
        join type_weights n on n.province_code = '*' and n.school_type = c.school_type
        left join type_weights o on o.province_code = c.province_code and o.school_type = c.school_type
    )
),
p as (
    select year, county_code, school_type, is_public, county_run, a as students, w_p * a / weighted as share,
           p_teachers as teachers, p_degree as degree, p_title as title, p_backbone as backbone, p_pe_art as pe_art,
           area, sports, equipment_yuan, books, computers, multimedia, 'primary' as level
    from s where has_p and a > 0
    union all
    select year, county_code, school_type, is_public, county_run, b, w_j * b / weighted,
           j_teachers, j_degree, j_title, j_backbone, j_pe_art,
           area, sports, equipment_yuan, books, computers, multimedia, 'junior'
    from s where has_j and b > 0
)
select year, county_code, level, students,
       -- §3: county-run public schools of the five regular types
       school_type in ('primary', 'junior', 'nine_year', 'complete_secondary', 'twelve_year')
           and is_public and county_run as basic_scope,
       -- §4.1: every school but special schools and teaching points under 50 students
       school_type <> 'teaching_point' or students >= 50 as quality_scope,
       teachers, degree, title, backbone, pe_art,
       area * share as area, sports * share as sports, equipment_yuan * share as equipment,
       books * share as books, computers * share as computers, multimedia * share as multimedia
from p;

create or replace temp table county_x as
select year, county_code, level,
       {first}
from parts group by all;

create or replace temp table cvs_wide as
select v.year, v.county_code, v.level,
       {second}
from parts v join county_x g using (year, county_code, level)
group by all;

create or replace temp table cvs as
{unpivot};

-- §3: the 2012 composite = mean of the eight CVs
create or replace temp table composite as
select year, county_code, level, avg(cv) as composite_cv, count(cv) as indicators
from cvs where method = 'basic' group by all;
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir")
    ap.add_argument("--out")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--memory-limit")
    args = ap.parse_args()
    t0 = time.perf_counter()
    con = duckdb.connect()
    if args.threads:
        con.execute(f"set threads = {args.threads}")
    if args.memory_limit:
        con.execute(f"set memory_limit = '{args.memory_limit}'")
    files = sorted(Path(args.data_dir).glob("census/*/*.csv"))
    con.execute(sql(files))
    rows = con.execute("select count(*) from parts").fetchone()[0]
    cv_rows = con.execute("select count(*) from cvs").fetchone()[0]
    composite_rows = con.execute("select count(*) from composite").fetchone()[0]
    if args.out:
        con.execute(f"copy cvs to '{args.out}' (format parquet)")
    seconds = time.perf_counter() - t0
    print(json.dumps({"parts": rows, "cv_rows": cv_rows, "composite_rows": composite_rows, "seconds": round(seconds, 2)}))


if __name__ == "__main__":
    main()
