"""A plan is true when the official models say so: the census rows of the planned counties, with the additions
applied (and the students of a projected target year), go into a scratch DuckDB file, and the same dbt models that
compute the official figures (stg_census_schools → int_school_parts → school_indicators → school_quality_compliance,
county_indicator_cv → county_balance) are run on it. A county's plan is verified when county_balance says
quality_resource_met for both levels.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb

from junheng.lib.dbt_state import DBT_EXECUTABLE, DBT_PROJECT_DIR, PARTIAL_PARSE, dbt_workdir, workdir_of
from junheng.lib.planner.problem import Additions, CountyProblem
from junheng.lib.warehouse import ensure_raw_schema

# the models a §4.1 verdict depends on (and nothing else: no data tests, no trends)
VERDICT_MODELS = (
    "stg_census_schools", "stg_submission_flags", "int_school_parts", "int_school_indicator_values",
    "school_indicators", "school_quality_compliance", "county_indicator_cv", "county_balance",
)


class VerificationError(RuntimeError):
    pass


@contextmanager
def scratch_database(source: Path, pairs: list[tuple[int, str]]) -> Iterator[Path]:
    """A scratch warehouse holding the census rows of the (year, county) `pairs` and the seeds, as the warehouse file
    `source` has them (attached read-only: the caller holds no read-write connection to it)."""
    tmp = Path(tempfile.mkdtemp(prefix="junheng-plan-"))
    path = tmp / "verify.duckdb"
    try:
        con = duckdb.connect(str(path))
        try:
            ensure_raw_schema(con)
            con.execute(f"ATTACH '{source}' AS source (READ_ONLY)")
            # the values in force: the census with the counties' corrections (issue 15's view, the one place they are
            # applied), written as the scratch file's census, so the plan's additions add to what the marts use
            census = "raw.census_schools"
            if con.execute("SELECT count(*) FROM information_schema.tables WHERE table_catalog = 'source' "
                           "AND table_schema = 'raw' AND table_name = 'census_schools_corrected'").fetchone()[0]:
                census = "raw.census_schools_corrected"
            con.execute(f"""INSERT INTO raw.census_schools BY NAME
                            SELECT * FROM source.{census}
                            WHERE year::VARCHAR || '/' || county_code IN (SELECT unnest(?::VARCHAR[]))""",
                        [[f"{y}/{c}" for y, c in pairs]])
            con.execute("CREATE SCHEMA config")
            for (table,) in con.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'config' "
                    "AND table_catalog = 'source'").fetchall():
                con.execute(f"CREATE TABLE config.{table} AS SELECT * FROM source.config.{table}")
            con.execute("DETACH source")
        finally:
            con.close()
        yield path
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def apply_projection(path: Path, year: int, factors: dict[str, dict[str, float]]) -> None:
    """Scale each school's primary and junior students by its county's factor (whole students)."""
    con = duckdb.connect(str(path))
    try:
        for county, f in factors.items():
            con.execute("""UPDATE raw.census_schools
                           SET primary_students = round(primary_students * ?), junior_students = round(junior_students * ?)
                           WHERE year = ? AND county_code = ?""",
                        [f.get("primary", 1.0), f.get("junior", 1.0), year, county])
    finally:
        con.close()


def census_changes(problem: CountyProblem, additions: Additions,
                   fields: dict[tuple[str, str], str]) -> list[tuple[str, str, float]]:
    """(school_code, census field, amount in the census unit) for every addition; a whole-school field is the same
    for both levels, and the unit conversion is the plan item's (province-resolved in data.plan_items)."""
    out = []
    for (school, level, resource), amount in sorted(additions.items(), key=lambda kv: (kv[0][0], kv[0][1] or "", kv[0][2])):
        out.append((school, fields[(resource, level or "primary")], amount / problem.items[resource].census_unit))
    return out


def census_fields(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], str]:
    """(resource, level) -> census field (seed indicator_inputs)."""
    return {(r, level): f for r, level, f in con.execute("""
        select d.resource, i.level, i.field from config.indicator_inputs i
        join config.indicators d using (method, indicator)
        where i.method = 'quality' and i.role = 'resource'""").fetchall()}


def apply_additions(path: Path, year: int | None, changes: dict) -> None:
    """Add each (school, census field, amount) of `changes` ({county: rows} of `year`, or {(year, county): rows}):
    one UPDATE per census field over a table of the additions (a national year has tens of thousands)."""
    rows = []
    for key, items in changes.items():
        y, county = key if year is None else (year, key)
        rows += [(y, county, school, field, float(amount)) for school, field, amount in items]
    if not rows:
        return
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE TEMP TABLE additions (year INTEGER, county_code VARCHAR, school_code VARCHAR, "
                    "field VARCHAR, amount DOUBLE)")
        con.executemany("INSERT INTO additions VALUES (?, ?, ?, ?, ?)", rows)
        for (field,) in con.execute("SELECT DISTINCT field FROM additions ORDER BY 1").fetchall():
            # one row per school and field (whole-school items once per school, teachers in their part's field)
            con.execute(f"""UPDATE raw.census_schools c SET {field} = c.{field} + a.amount
                            FROM (SELECT year, county_code, school_code, sum(amount) AS amount FROM additions
                                  WHERE field = ? GROUP BY ALL) a
                            WHERE c.year = a.year AND c.county_code = a.county_code AND c.school_code = a.school_code""",
                        [field])
    finally:
        con.close()


def run_verdict_models(path: Path, year: int, log: Path | None = None, last_year: int | None = None) -> None:
    """The official dbt models on the scratch file, years `year`..`last_year` (one invocation for all of them). dbt
    opens it under the name every warehouse has (lib/dbt_state.dbt_workdir) and takes the years from the
    environment, so it starts from the loads' parse state instead of parsing the project again."""
    with dbt_workdir(path) as env:
        target = workdir_of(path) / "target" / "plan-verify"
        target.mkdir(parents=True, exist_ok=True)
        if PARTIAL_PARSE.exists():
            shutil.copyfile(PARTIAL_PARSE, target / "partial_parse.msgpack")
        env = {**os.environ, **env, "JUNHENG_MIN_YEAR": str(year), "JUNHENG_MAX_YEAR": str(last_year or year)}
        args = [DBT_EXECUTABLE, "run", "--quiet", "--no-write-json", "--project-dir", str(DBT_PROJECT_DIR),
                "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target),
                "--log-path", str(target / "logs"), "--select", *VERDICT_MODELS]
        done = subprocess.run(args, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True)
        shutil.rmtree(target.parent, ignore_errors=True)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(done.stdout + done.stderr, encoding="utf-8")
    if done.returncode != 0:
        raise VerificationError(f"dbt 复核失败 / dbt verification run failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")


def verdicts(path: Path, year: int | None = None) -> dict:
    """county -> (passes §4.1, what fails) from county_balance and the marts under it, for `year`; without a year,
    (county, year) -> the same for every year."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("""
            select county_code, year,
                   bool_and(coalesce(quality_resource_met, false)) as passes,
                   string_agg(case when not coalesce(quality_resource_met, false) then
                       level || ': ' || schools_not_compliant || ' 所学校未达标 / schools failing, '
                       || schools_undetermined || ' 所无法判定 / undetermined, 差异系数达标 / CVs met: '
                       || coalesce(quality_cv_met::varchar, 'NULL') end, '; ') as why
            from marts.county_balance where year = coalesce(?, year) group by county_code, year
        """, [year]).fetchall()
    finally:
        con.close()
    if year is not None:
        return {c: (bool(p), w or "") for c, _, p, w in rows}
    return {(c, y): (bool(p), w or "") for c, y, p, w in rows}
