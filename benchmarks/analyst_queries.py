"""The analysts' typical queries on the per-school marts, timed on a warehouse (opened read-only).

    .venv/bin/python benchmarks/analyst_queries.py WAREHOUSE [--reps 3] [--relation marts.school_cv_share=exp.v ...]

Used by run_benchmark.py (scenario `queries`) and to decide which per-school marts are tables and which views
(benchmarks/README.md): a view costs nothing at load time and its computation at every query, so each mart is judged
by these queries on both. `--relation` reads a mart from another relation (e.g. a view built for the comparison).

The parameters are taken from the warehouse itself, deterministically: the last year, the county with the most
school parts that year, its school with a primary part in the most years, that county's 2017 primary indicator with
the largest CV, and that county's province.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

# name -> (what an analyst asks, SQL with {mart} placeholders (marts.<mart>) and named parameters)
QUERIES: dict[str, tuple[str, str]] = {
    "county_school_values": (
        "one county's school values of one year and indicator (both levels)",
        "select school_code, level, value, standard, meets from {school_indicators} "
        "where county_code = $county and year = $year and method = 'quality' and indicator = $indicator "
        "order by level, value"),
    "school_history": (
        "one school's history: every value of every year",
        "select year, level, method, indicator, value, standard from {school_indicators} "
        "where school_code = $school order by year, level, method, indicator"),
    "cv_schools": (
        "the schools behind a county's CV: the ten largest shares of one indicator",
        "select s.school_code, d.school_name, s.value, s.share, s.share_rank from {school_cv_share} s "
        "left join {dim_school_year} d using (school_code, year) "
        "where s.county_code = $county and s.year = $year and s.level = 'primary' and s.method = 'quality' "
        "and s.indicator = $indicator order by s.share_rank limit 10"),
    "cv_share_history": (
        "one school's share of its county's CV over the years (2017 primary, one indicator)",
        "select year, share, share_rank from {school_cv_share} where school_code = $school "
        "and level = 'primary' and method = 'quality' and indicator = $indicator order by year"),
    "province_export_values": (
        "export of one province-year: every school value (fetched whole, as junheng query --xlsx does)",
        "select * from {school_indicators} where left(county_code, 2) = $province and year = $year"),
    "province_export_shares": (
        "export of one province-year: every school's CV share",
        "select * from {school_cv_share} where left(county_code, 2) = $province and year = $year"),
    "province_gaps": (
        "one province-year: what each county misses, summed from the schools (m², yuan, teachers, rooms)",
        "select county_code, level, indicator, sum(gap) as gap, count(*) as schools from "
        "{school_standard_gap} where left(county_code, 2) = $province and year = $year "
        "group by all order by all"),
    "report_county": (
        "the county report's reads of the per-school marts (reports/data.py: school_quality_values, shares, gaps, "
        "schools)",
        "select (select count(*) from {school_indicators} where county_code = $county and year = $year "
        "and method = 'quality'), "
        "(select count(*) from {school_cv_share} where county_code = $county and year = $year "
        "and method = 'quality'), "
        "(select count(*) from {school_standard_gap} where county_code = $county and year = $year "
        "and gap > 0), "
        "(select count(*) from {dim_school_year} where county_code = $county and year = $year)"),
}

MARTS = ("marts.school_indicators", "marts.school_cv_share", "marts.school_standard_gap", "marts.dim_school_year")


def parameters(con) -> dict:
    (year,) = con.execute("select max(year) from marts.county_indicator_cv").fetchone()
    (county,) = con.execute(
        "select county_code from marts.county_indicator_cv where year = ? and method = 'quality' "
        "group by county_code order by max(schools) desc, county_code limit 1", [year]).fetchone()
    (school,) = con.execute(
        "select school_code from marts.school_indicators where level = 'primary' and method = 'quality' "
        "and school_code in (select school_code from marts.dim_school_year where county_code = ? and year = ?) "
        "group by school_code order by count(distinct year) desc, school_code limit 1", [county, year]).fetchone()
    (indicator,) = con.execute(
        "select indicator from marts.county_indicator_cv where county_code = ? and year = ? and method = 'quality' "
        "and level = 'primary' order by cv desc nulls last, indicator limit 1", [county, year]).fetchone()
    return {"year": year, "county": county, "school": school, "indicator": indicator, "province": county[:2]}


def run(warehouse: Path, reps: int = 3, relations: dict[str, str] | None = None) -> dict:
    """{query: {wall_s (median), cpu_s (median, DuckDB's threads included), rows}} and the parameters used."""
    import duckdb

    names = {m: (relations or {}).get(m, m) for m in MARTS}
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        params = parameters(con)
        out: dict = {"parameters": params, "relations": {k: v for k, v in names.items() if k != v}, "queries": {}}
        for name, (_, sql) in QUERIES.items():
            text = sql.format(**{m.split(".", 1)[1]: rel for m, rel in names.items()})
            used = {k: v for k, v in params.items() if f"${k}" in text}
            walls, cpus, rows = [], [], 0
            for _ in range(reps):
                t0, c0 = time.perf_counter(), time.process_time()
                rows = len(con.execute(text, used).fetchall())
                walls.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
            out["queries"][name] = {"wall_s": round(statistics.median(walls), 4),
                                    "cpu_s": round(statistics.median(cpus), 4), "rows": rows}
        return out
    finally:
        con.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("warehouse", type=Path)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--relation", action="append", default=[], help="mart=relation, e.g. marts.school_cv_share=exp.v")
    args = ap.parse_args()
    print(json.dumps(run(args.warehouse, args.reps, dict(r.split("=", 1) for r in args.relation)), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
