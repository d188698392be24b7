"""Plans for a year: read the problems, solve each county, verify every plan by the official dbt models, retry a plan
the models reject on a floating-point tie with tightened acceptance, and write the outcome (`planner.*` tables,
read by the dbt marts investment_plan and investment_plan_summary)."""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import duckdb

from junheng.lib.planner import verify as vf
from junheng.lib.planner.data import load_problems, student_factors
from junheng.lib.planner.problem import CountyProblem
from junheng.lib.planner.solve import TIME_LIMIT, PlanResult, solve


def counties_to_plan(con: duckdb.DuckDBPyConnection, year: int) -> list[str]:
    """Counties of `year` that do not meet §4.1 (county_balance.quality_resource_met not true at some level)."""
    return [c for (c,) in con.execute("""
        select county_code from marts.county_balance where year = ?
        group by county_code having not bool_and(coalesce(quality_resource_met, false)) order by 1""", [year]).fetchall()]


def _verify(source: Path, problems: list[CountyProblem], results: list[PlanResult], factors, log_dir):
    """Recompute every plan with additions by the official dbt models, all years in one invocation."""
    todo = [(p, r) for p, r in zip(problems, results) if r.additions]
    if not todo:
        return
    years = sorted({p.year for p, _ in todo})
    with vf.scratch_database(source, [(p.year, p.county_code) for p, _ in todo]) as path:
        if factors:
            vf.apply_projection(path, years[0], factors)
        scon = duckdb.connect(str(path), read_only=True)
        try:
            fields = vf.census_fields(scon)
        finally:
            scon.close()
        vf.apply_additions(path, None, {(p.year, p.county_code): vf.census_changes(p, r.additions, fields)
                                        for p, r in todo})
        log = (log_dir / f"plan-verify-{years[0]}-{years[-1]}-{int(time.time())}.log") if log_dir else None
        vf.run_verdict_models(path, years[0], log, last_year=years[-1])
        got = vf.verdicts(path)
    for p, r in todo:
        ok, why = got.get((p.county_code, p.year), (False, "复核结果缺失 / no verdict"))
        r.verified = ok
        r.verification_zh = ("复核通过：以方案投入后的数据由官方指标模型重新计算，达到资源配置要求 / recomputed by the "
                             "official dbt models: passes §4.1") if ok else f"复核未通过 / recomputation fails: {why}"


def plan_workers() -> int:
    """Processes solving counties at once: JUNHENG_PLAN_WORKERS, else one per core."""
    return max(1, int(os.environ.get("JUNHENG_PLAN_WORKERS") or os.cpu_count() or 1))


def solve_all(problems: list[CountyProblem], time_limit: float, strict: bool = False,
              workers: int | None = None, progress=None) -> list[PlanResult]:
    """Every county's plan, in `problems`' order. Counties are independent problems: with more than one worker they
    are solved in a pool of processes (spawned, not forked: the caller holds DuckDB connections and Dagster's
    threads), the largest first so that the pool stays busy to the end. `progress(done, total)` is called as
    counties finish."""
    workers = min(workers or plan_workers(), len(problems))
    if workers <= 1:
        out = []
        for p in problems:
            out.append(solve(p, time_limit=time_limit, strict=strict))
            if progress:
                progress(len(out), len(problems))
        return out
    results: list[PlanResult | None] = [None] * len(problems)
    order = sorted(range(len(problems)), key=lambda i: -len(problems[i].parts))
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(solve, problems[i], time_limit, strict): i for i in order}
        for n, done in enumerate(as_completed(futures), start=1):
            i = futures[done]
            try:
                results[i] = done.result()
            except Exception as error:  # noqa: BLE001 - a worker that died: that county has no plan, the rest go on
                p = problems[i]
                results[i] = PlanResult(p.county_code, p.year, p.target_year, status="no_solution",
                                        reason_zh=f"求解进程出错 / the solving process failed: {error!r}")
            if progress:
                progress(n, len(problems))
    return results  # type: ignore[return-value]


def make_plans(
    source: Path,
    requests: dict[int, list[str]],
    costs: dict[str, float] | None = None,
    target_year: int | None = None,
    time_limit: float = TIME_LIMIT,
    log_dir: Path | None = None,
    progress=None,
) -> tuple[list[CountyProblem], list[PlanResult]]:
    """Plans for the counties of each year in `requests` ({year: counties}) from the warehouse file `source` (opened
    read-only; the caller holds no read-write connection to it while this runs). `target_year` (one data year only):
    plan for the students projected to that year."""
    requests = {y: c for y, c in requests.items() if c}
    if target_year is not None and len(requests) != 1:
        raise ValueError("a target year needs exactly one data year")
    factors: dict = {}
    problems: list[CountyProblem] = []
    con = duckdb.connect(str(source), read_only=True)
    try:
        for year, counties in sorted(requests.items()):
            if target_year is not None and target_year != year:
                factors = student_factors(con, year, target_year, counties)
            else:
                problems += load_problems(con, year, counties, costs)
    finally:
        con.close()
    if factors:
        # the target year's school parts (split shares change with the students) come from the official models
        (year, counties), = requests.items()
        with vf.scratch_database(source, [(year, c) for c in counties]) as base:
            vf.apply_projection(base, year, factors)
            vf.run_verdict_models(base, year)
            scon = duckdb.connect(str(base), read_only=True)
            try:
                problems = load_problems(scon, year, counties, costs, target_year, factors)
            finally:
                scon.close()
    results = solve_all(problems, time_limit, progress=progress)
    _verify(source, problems, results, factors, log_dir)
    retry = [i for i, r in enumerate(results) if r.verified is False]
    if retry:
        for i, r in zip(retry, solve_all([problems[i] for i in retry], time_limit, strict=True)):
            results[i] = r
        _verify(source, [problems[i] for i in retry], [results[i] for i in retry], factors, log_dir)
    for r in results:
        if r.verified is False:
            r.status = "rejected"
    return problems, results


def write_plans(con: duckdb.DuckDBPyConnection, year: int, problems, results, costs_source: str = "seed") -> None:
    """Replace the plans of `year` (one transaction; the tables come with the raw schema, lib/warehouse.py)."""
    counties, additions = [], []
    for p, r in zip(problems, results):
        counties.append((r.county_code, r.year, r.target_year, r.status, r.verified, r.reason_zh, r.verification_zh,
                         r.cost, r.lower_bound, r.gap, r.solver, r.seconds, r.nodes,
                         p.student_factor.get("primary"), p.student_factor.get("junior"), costs_source))
        if r.status not in ("optimal", "feasible"):
            continue  # an unverified plan is not published
        for (school, level, resource), amount in sorted(r.additions.items(),
                                                        key=lambda kv: (kv[0][0], kv[0][1] or "", kv[0][2])):
            unit = p.items[resource].cost
            additions.append((r.county_code, r.year, r.target_year, school, level or "whole_school", resource, amount,
                              unit, unit * amount))
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM planner.plan_counties WHERE year = ?", [year])
        con.execute("DELETE FROM planner.plan_additions WHERE year = ?", [year])
        # one INSERT … SELECT per table from a frame: a national year has thousands of plans and tens of thousands of
        # additions (row-by-row inserts took about a minute)
        _insert(con, "planner.plan_counties", counties, extra="now()::TIMESTAMP")
        _insert(con, "planner.plan_additions", additions)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple], extra: str | None = None) -> None:
    if not rows:
        return
    import pandas as pd

    names = [c for (c,) in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema || '.' || table_name = ? "
        "ORDER BY ordinal_position", [table]).fetchall()]
    given = names[:len(rows[0])]
    con.register("_plan_rows", pd.DataFrame(rows, columns=given))
    try:
        con.execute(f"INSERT INTO {table} ({', '.join(names[:len(given) + (1 if extra else 0)])}) "
                    f"SELECT *{', ' + extra if extra else ''} FROM _plan_rows")
    finally:
        con.unregister("_plan_rows")
