"""The lower bound: one DuckDB process reads the raw census CSV files and computes the 2012 and 2017 county CVs.

Only `duckdb` is imported (no junheng, no pandas, no polars). Spec: shared/spec/balance-methods.md
§1 (section parts and the weighted split of whole-school facilities), §2 (students-weighted CV, population form),
§3 (2012 scope, eight indicators, composite = mean of the eight), §4.1 (2017 scope, seven indicators).

    python benchmarks/lower_bound.py DATA_DIR [--out cvs.parquet] [--threads N] [--memory-limit 3GB]

Prints one JSON line: rows read, CV rows written, seconds. With --out the per county/year/level/method/indicator
CVs are written to a Parquet file, so the benchmark can compare them with the pipeline's marts.county_indicator_cv.
"""

from __future__ import annotations

import argparse
import json
import time

import duckdb

SQL = r"""
create or replace temp table census as
select
    cast(统计年度 as integer)           as year,
    cast(学校标识码 as varchar)         as school_code,
    cast(县级行政区划代码 as varchar)   as county_code,
    case 办学类型 when '小学' then 'primary' when '小学教学点' then 'teaching_point' when '初级中学' then 'junior'
        when '九年一贯制学校' then 'nine_year' when '完全中学' then 'complete_secondary'
        when '十二年一贯制学校' then 'twelve_year' when '特殊教育学校' then 'special' end as school_type,
    举办者类型 = '公办'                as is_public,
    隶属关系 = '县级'                  as county_run,
    coalesce(小学在校生数, 0)          as a,
    coalesce(初中在校生数, 0)          as b,
    coalesce(高中在校生数, 0)          as c,
    小学专任教师数 as p_teachers, 初中专任教师数 as j_teachers,
    小学高于规定学历专任教师数 as p_degree, 初中高于规定学历专任教师数 as j_degree,
    小学中级及以上职称专任教师数 as p_title, 初中中级及以上职称专任教师数 as j_title,
    小学县级及以上骨干教师数 as p_backbone, 初中县级及以上骨干教师数 as j_backbone,
    小学体育艺术专任教师数 as p_pe_art, 初中体育艺术专任教师数 as j_pe_art,
    "教学及辅助用房面积（平方米）" as area, "体育运动场馆面积（平方米）" as sports,
    "教学仪器设备资产值（万元）" * 10000 as equipment_yuan, "图书（册）" as books,
    "教学用计算机（台）" as computers, "网络多媒体教室（间）" as multimedia
from read_csv({files}, header = true, union_by_name = true,
              types = {{'学校标识码': 'VARCHAR', '县级行政区划代码': 'VARCHAR'}});

create or replace temp table parts as
with p as (
    -- §1: one part per section; whole-school facilities split by weighted student shares
    select year, school_code, county_code, school_type, is_public, county_run, 'primary' as level, a as students,
           case school_type when 'nine_year' then a / nullif(a + 1.1 * b, 0)
                            when 'twelve_year' then a / nullif(a + 1.1 * b + 1.32 * c, 0) else 1 end as share,
           p_teachers as teachers, p_degree as degree, p_title as title, p_backbone as backbone, p_pe_art as pe_art,
           area, sports, equipment_yuan, books, computers, multimedia
    from census where school_type in ('primary', 'teaching_point', 'nine_year', 'twelve_year')
    union all
    select year, school_code, county_code, school_type, is_public, county_run, 'junior', b,
           case school_type when 'nine_year' then 1.1 * b / nullif(a + 1.1 * b, 0)
                            when 'complete_secondary' then b / nullif(b + 1.2 * c, 0)
                            when 'twelve_year' then 1.1 * b / nullif(a + 1.1 * b + 1.32 * c, 0) else 1 end,
           j_teachers, j_degree, j_title, j_backbone, j_pe_art,
           area, sports, equipment_yuan, books, computers, multimedia
    from census where school_type in ('junior', 'nine_year', 'complete_secondary', 'twelve_year')
)
select year, school_code, county_code, level, students,
       -- §3: county-run public schools of the five regular types
       school_type in ('primary', 'junior', 'nine_year', 'complete_secondary', 'twelve_year')
           and is_public and county_run as basic_scope,
       -- §4.1: every school but special schools and teaching points under 50 students
       school_type <> 'teaching_point' or students >= 50 as quality_scope,
       teachers, degree, title, backbone, pe_art,
       area * share as area, sports * share as sports, equipment_yuan * share as equipment,
       books * share as books, computers * share as computers, multimedia * share as multimedia
from p where students > 0;

create or replace temp table values_long as
with long as (
    select * from parts
    unpivot include nulls (resource for resource_name in
        (area, sports, equipment, computers, books, teachers, degree, title, backbone, pe_art, multimedia))
),
indicators(method, indicator, resource_name, scale) as (values
    ('basic', 'B1', 'area', 1), ('basic', 'B2', 'sports', 1), ('basic', 'B3', 'equipment', 1),
    ('basic', 'B4', 'computers', 100), ('basic', 'B5', 'books', 1), ('basic', 'B6', 'teachers', 1),
    ('basic', 'B7', 'degree', 1), ('basic', 'B8', 'title', 1),
    ('quality', 'Q1', 'degree', 100), ('quality', 'Q2', 'backbone', 100), ('quality', 'Q3', 'pe_art', 100),
    ('quality', 'Q4', 'area', 1), ('quality', 'Q5', 'sports', 1), ('quality', 'Q6', 'equipment', 1),
    ('quality', 'Q7', 'multimedia', 100))
select l.year, l.county_code, l.level, l.school_code, i.method, i.indicator, l.resource, l.students,
       cast(i.scale as double) as scale
from long l join indicators i using (resource_name)
where (i.method = 'basic' and l.basic_scope) or (i.method = 'quality' and l.quality_scope);

-- §2: X = sum(R) / sum(P) (x scale); CV = sqrt(sum(P_i / P (x_i - X)^2)) / X; unreported resources left out
create or replace temp table cvs as
with g as (
    select year, county_code, level, method, indicator,
           sum(resource) * any_value(scale) / sum(students) as x, sum(students) as p
    from values_long where resource is not null
    group by all
)
select v.year, v.county_code, v.level, v.method, v.indicator,
       any_value(g.x) as county_value,
       case when any_value(g.x) <> 0
            then sqrt(sum(v.students / g.p * power(v.resource * v.scale / v.students - g.x, 2))) / any_value(g.x) end as cv,
       count(*) as schools
from values_long v join g using (year, county_code, level, method, indicator)
where v.resource is not null
group by all;

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
    files = f"'{args.data_dir.rstrip('/')}/census/*/*.csv'"
    con.execute(SQL.format(files=files))
    rows = con.execute("select count(*) from census").fetchone()[0]
    cv_rows = con.execute("select count(*) from cvs").fetchone()[0]
    composite_rows = con.execute("select count(*) from composite").fetchone()[0]
    if args.out:
        con.execute(f"copy cvs to '{args.out}' (format parquet)")
    seconds = time.perf_counter() - t0
    print(json.dumps({"rows": rows, "cv_rows": cv_rows, "composite_rows": composite_rows, "seconds": round(seconds, 2)}))


if __name__ == "__main__":
    main()
