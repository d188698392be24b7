"""National-scale benchmark: the pipeline (`junheng run`) side by side with its lower bound (one DuckDB process).

    .venv/bin/python benchmarks/run_benchmark.py --label before            # everything (long: tens of minutes)
    .venv/bin/python benchmarks/run_benchmark.py --label x --only lower,county   # a subset of the scenarios

Scenarios (see benchmarks/README.md):
  full         all ten years through `junheng run` into a fresh warehouse
  incremental  one new year (the last) into a warehouse that holds the nine years before it; the nine-year build is
               timed too ("existing") but is not part of the comparison
  lower        one python process using only duckdb: read the same CSV files, compute the 2012 and 2017 county CVs
  county       one county, one year into a new warehouse, from command to published warehouse
  fixed        the stack's fixed costs: python + dagster/dbt/GX imports, a dbt parse, an empty `dbt seed`
  scale        the scaling curve: whole provinces making up 1/8, 1/4 and 1/2 of the national rows, each rebuilt
               (ten years) by `junheng run` beside the lower bound on the same files, in the same run
  queries      the analysts' typical queries (benchmarks/analyst_queries.py) on the full warehouse (or
               --queries-warehouse), as built and with its per-school views written as tables, beside what writing
               them costs: the views-or-tables decision, measured

Each command runs as a subprocess; a sampler thread walks its process tree with psutil every 0.2 s (the dbt
subprocesses included) and keeps the largest single process's RSS (the "peak" figure) and the largest sum over the
tree. CPU seconds are the children's rusage (user + sys), which is less sensitive to other load on the machine
than wall time. The pipeline's per-step seconds come from the load's Dagster run (junheng.runner.read_runs).

Results: benchmarks/results/<date>-<label>.md and .json. Warehouses and logs go under --work (default /tmp).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DATA = BENCH / "national_data"
RESULTS = BENCH / "results"
PY = Path(sys.executable)
JUNHENG = [str(PY), "-m", "junheng.cli"]
YEARS = list(range(2015, 2025))
ALL = ("lower", "full", "incremental", "county", "fixed", "scale", "queries", "plan")
SCALES = ((1, 8), (1, 4), (1, 2))  # the scaling curve: these fractions of the national rows, then the full rebuild

# Lines of `junheng run` that open a stage; the sampler attributes memory to the open stage. The load is one
# Dagster run now: per-step seconds come from the instance (RunReport.steps), memory is attributed to the load.
STAGE_MARKERS = (("入库 / loading", "load"), ("已发布仓库", "publish"))


def log(msg: str) -> None:
    print(f"[{dt.datetime.now(dt.timezone.utc):%H:%M:%S}] {msg}", flush=True)


def measure(cmd: list[str], out: Path, env: dict | None = None, cwd: Path = REPO) -> dict:
    """Run `cmd`, sample its process tree's memory; wall, CPU, peak RSS (largest process, whole tree), per stage."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd, text=True,
                            bufsize=1)
    # series: (epoch s, largest process RSS, its pid, tree RSS) every sample, to attribute the peaks to Dagster steps
    state = {"stage": "start", "peak": 0, "peak_tree": 0, "peak_cmd": "", "stage_peak": {}, "lines": [], "series": []}
    done = threading.Event()

    def sample() -> None:
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                break
            total = largest = largest_pid = 0
            for p in procs:
                try:
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                total += rss
                if rss > largest:
                    largest, largest_pid = rss, p.pid
                if rss > state["peak"]:
                    state["peak"] = rss
                    try:
                        state["peak_cmd"] = " ".join(p.cmdline()[:4])[:160]
                    except psutil.Error:
                        pass
                st = state["stage"]
                state["stage_peak"][st] = max(state["stage_peak"].get(st, 0), rss)
            state["peak_tree"] = max(state["peak_tree"], total)
            state["series"].append((time.time(), largest, largest_pid, total))
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with out.open("w", encoding="utf-8") as fh:
        for line in proc.stdout:
            fh.write(line)
            state["lines"].append(line.rstrip("\n"))
            for marker, stage in STAGE_MARKERS:
                if marker in line:
                    state["stage"] = stage
    code = proc.wait()
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "cmd": " ".join(cmd),
        "exit_code": code,
        "wall_s": round(wall, 2),
        "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 2),
        "peak_rss_mb": round(state["peak"] / 2**20),
        "peak_rss_process": state["peak_cmd"],
        "peak_tree_mb": round(state["peak_tree"] / 2**20),
        "stage_peak_rss_mb": {k: round(v / 2**20) for k, v in state["stage_peak"].items()},
        "output_tail": state["lines"][-12:],
        "series": state["series"],
        "load_avg_after": [round(x, 1) for x in os.getloadavg()],
    }


def last_run_record(warehouse: Path) -> dict:
    """The last load of `warehouse` as its Dagster instance recorded it (junheng.runner.read_runs)."""
    from dataclasses import asdict

    from junheng.runner import read_runs

    runs = read_runs(warehouse, last=1)
    return asdict(runs[-1]) if runs else {}


def junheng_run(data: Path, warehouse: Path, years: list[int] | None, work: Path, name: str,
                extra: tuple[str, ...] = ("--no-plans",)) -> dict:
    """`junheng run` from command to published warehouse. The load's figures are published by load_job; plans are
    a job of their own (plan_job) and are timed in the `plan` scenario, so loads run with --no-plans."""
    cmd = [*JUNHENG, "run", "--data-dir", str(data), "--warehouse", str(warehouse), *extra]
    for y in years or []:
        cmd += ["--year", str(y)]
    # PYTHONPATH: the code of this checkout (a worktree of an older commit benchmarks that commit), not the
    # editable install's.
    env = {**os.environ, "PYTHONPATH": str(REPO / "pipelines")}
    log(f"{name}: {' '.join(cmd[2:])}")
    m = measure(cmd, work / f"{name}.out", env=env)
    rec = last_run_record(warehouse)
    m["seconds"] = rec.get("seconds", {})
    m["steps"] = rec.get("steps", {})
    m["loaded"] = rec.get("loaded", [])
    m["published"] = rec.get("published")
    m["failed"] = rec.get("failed", {})
    m["step_peaks_mb"] = step_peaks(warehouse, m.pop("series"))
    log(f"{name}: exit {m['exit_code']}, {m['wall_s']} s, peak {m['peak_rss_mb']} MB ({m['peak_rss_process']}), "
        f"stages {m['seconds']}")
    return m


def step_peaks(warehouse: Path, series: list[tuple]) -> dict[str, dict]:
    """Per Dagster step of the warehouse's last run: the peak RSS of the largest process and of the whole tree
    sampled while the step ran (the step's start and end as the instance recorded them)."""
    from junheng.lib.instance import instance_for

    instance = instance_for(warehouse)
    runs = instance.get_runs(limit=1)
    if not runs:
        return {}
    out = {}
    for st in instance.get_run_step_stats(runs[0].run_id):
        inside = [x for x in series if st.start_time and st.end_time and st.start_time <= x[0] <= st.end_time]
        if inside:
            top = max(inside, key=lambda x: x[1])
            out[st.step_key] = {"largest": round(top[1] / 2**20), "tree": round(max(x[3] for x in inside) / 2**20)}
    return out


def derive_existing(full: Path, existing: Path, year: int) -> None:
    """The warehouse as it was before `year` arrived: the full one with that year's rows deleted from every table
    that has a year column (raw, flags, per-year marts). Trend tables keep stale rows; the run rebuilds them whole."""
    import duckdb

    shutil.copyfile(full, existing)
    con = duckdb.connect(str(existing))
    tables = con.execute(
        "select t.table_schema, t.table_name from information_schema.tables t join information_schema.columns c "
        "using (table_catalog, table_schema, table_name) where t.table_type = 'BASE TABLE' and c.column_name = 'year'"
    ).fetchall()
    for schema, table in tables:
        con.execute(f'delete from "{schema}"."{table}" where year = ?', [year])
    con.execute("checkpoint")
    con.close()


def plan_summary(warehouse: Path) -> dict:
    """What plan_job made of the year: counties by status, the gap distribution, solver seconds (the planner's
    table), and the plan run's steps (its Dagster record)."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        by_status = dict(con.execute("select status, count(*) from planner.plan_counties group by 1").fetchall())
        row = con.execute("""
            select count(*), sum(solve_seconds), median(solve_seconds), quantile_cont(solve_seconds, 0.9),
                   max(solve_seconds), max(gap) filter (where cost > 0), quantile_cont(gap, 0.9) filter (where cost > 0),
                   count(*) filter (where verified), sum(cost) filter (where status in ('optimal', 'feasible'))
            from planner.plan_counties""").fetchone()
    finally:
        con.close()
    keys = ("counties", "solve_seconds_sum", "solve_seconds_median", "solve_seconds_p90", "solve_seconds_max",
            "gap_max", "gap_p90", "verified", "cost_total_yuan")
    return {"by_status": by_status, **dict(zip(keys, row)), "steps": last_run_record(warehouse).get("steps", {})}


def census_rows(data: Path, years: list[int]) -> int:
    n = 0
    for y in years:
        for f in sorted((data / "census" / str(y)).glob("*.csv")):
            with f.open("rb") as fh:
                n += sum(1 for _ in fh) - 1
    return n


def one_county(data: Path, out: Path, year: int = 2024) -> tuple[str, int]:
    """A data directory with one county's census rows and county return of one year (same header, same bytes)."""
    shutil.rmtree(out, ignore_errors=True)
    src = sorted((data / "census" / str(year)).glob("*.csv"))[0]
    with src.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    col = header.index("县级行政区划代码")
    county = body[0][col]
    (out / "census" / str(year)).mkdir(parents=True)
    with (out / "census" / str(year) / src.name).open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        kept = [r for r in body if r[col] == county]
        w.writerows(kept)
    ret = data / "county_returns" / str(year) / "county_returns.csv"
    if ret.exists():
        with ret.open(encoding="utf-8", newline="") as fh:
            rrows = list(csv.reader(fh))
        (out / "county_returns" / str(year)).mkdir(parents=True)
        with (out / "county_returns" / str(year) / ret.name).open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(rrows[0])
            w.writerows(r for r in rrows[1:] if r[0] == county)
    return county, len(kept)


def province_subset(data: Path, out: Path, num: int, den: int) -> tuple[list[str], int]:
    """A data directory with whole provinces (in code order) holding about num/den of the census rows of every year:
    their census files copied (not linked: the loader follows no symlink out of the data folder) and their counties'
    rows of each county return."""
    shutil.rmtree(out, ignore_errors=True)
    sizes: dict[str, int] = {}
    for f in (data / "census").glob("*/*.csv"):
        with f.open("rb") as fh:
            sizes[f.stem] = sizes.get(f.stem, 0) + sum(1 for _ in fh) - 1
    total, picked, acc = sum(sizes.values()), [], 0
    for prov in sorted(sizes):
        if acc >= total * num / den:
            break
        picked.append(prov)
        acc += sizes[prov]
    for y in YEARS:
        (out / "census" / str(y)).mkdir(parents=True)
        for prov in picked:
            src = data / "census" / str(y) / f"{prov}.csv"
            if src.exists():
                shutil.copyfile(src, out / "census" / str(y) / src.name)
        ret = data / "county_returns" / str(y) / "county_returns.csv"
        if ret.exists():
            (out / "county_returns" / str(y)).mkdir(parents=True)
            with ret.open(encoding="utf-8", newline="") as fh, \
                    (out / "county_returns" / str(y) / ret.name).open("w", encoding="utf-8", newline="") as oh:
                r, w = csv.reader(fh), csv.writer(oh)
                w.writerow(next(r))
                w.writerows(row for row in r if row[0][:2] in picked)
    return picked, acc


def lower_bound(data: Path, work: Path, name: str) -> dict:
    m = measure([str(PY), str(BENCH / "lower_bound.py"), str(data), "--out", str(work / f"{name}_cvs.parquet")],
                work / f"{name}.out")
    m.pop("series")
    m["result"] = json.loads(m["output_tail"][-1]) if m["exit_code"] == 0 else None
    log(f"{name}: {m['wall_s']} s wall, {m['cpu_s']} s CPU, peak {m['peak_rss_mb']} MB")
    return m


def compare_cvs(warehouse: Path, lb_parquet: Path) -> dict:
    """The pipeline's official CVs against the lower bound's: rows on both sides and the largest difference."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    q = f"""
        with p as (select year, county_code, level, method, indicator, cv from marts.county_indicator_cv
                   where schools > 0),
             l as (select * from read_parquet('{lb_parquet}'))
        select (select count(*) from p), (select count(*) from l),
               count(*) filter (where p.cv is not null or l.cv is not null),
               max(abs(p.cv - l.cv)), count(*) filter (where (p.cv is null) <> (l.cv is null))
        from p full join l using (year, county_code, level, method, indicator)
    """
    a, b, both, maxdiff, null_mismatch = con.execute(q).fetchone()
    con.close()
    return {"pipeline_rows": a, "lower_bound_rows": b, "compared": both, "max_abs_cv_diff": maxdiff,
            "null_mismatch": null_mismatch}


def fixed_costs(work: Path) -> dict:
    """Start-up and framework costs that a one-county load pays whatever its size."""
    out: dict = {}
    probes = {
        "python_start": "pass",
        "import_duckdb_polars": "import duckdb, polars",
        "import_dagster": "import dagster",
        "import_dbt": "import dbt.cli.main",
        "import_great_expectations": "import great_expectations",
        "import_junheng_definitions": "import junheng.definitions",
    }
    for name, code in probes.items():
        t0 = time.perf_counter()
        subprocess.run([str(PY), "-c", code], check=True, capture_output=True, cwd=REPO)
        out[name] = round(time.perf_counter() - t0, 2)
    dbt = PY.parent / "dbt"
    wh = work / "fixed.duckdb"
    env = {**os.environ, "JUNHENG_DBT_DATABASE": str(wh), "DBT_TARGET_PATH": str(work / "fixed_target")}
    t0 = time.perf_counter()
    subprocess.run([str(dbt), "parse", "--no-partial-parse", "--project-dir", "dbt_project", "--profiles-dir",
                    "dbt_project"], cwd=REPO, env=env, capture_output=True, check=False)
    out["dbt_parse_full"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    subprocess.run([str(dbt), "seed", "--project-dir", "dbt_project", "--profiles-dir", "dbt_project"],
                   cwd=REPO, env=env, capture_output=True, check=False)
    out["dbt_seed_invocation"] = round(time.perf_counter() - t0, 2)
    shutil.rmtree(work / "fixed_target", ignore_errors=True)
    return out


def analyst_queries(warehouse: Path, work: Path, reps: int = 3) -> dict:
    """The analysts' queries on `warehouse` as built, then on a copy in which every per-school mart that is a view is
    written as a table (seconds to write it and checkpoint, beside): what each view costs a query and saves a load."""
    import duckdb

    sys.path.insert(0, str(BENCH))
    import analyst_queries as aq

    log(f"queries: {warehouse} as built …")
    out = {"warehouse": str(warehouse), "as_built": aq.run(warehouse, reps)}
    con = duckdb.connect(str(warehouse), read_only=True)
    kinds = dict(con.execute(
        "select schema_name || '.' || table_name, 'table' from duckdb_tables() where schema_name = 'marts' union all "
        "select schema_name || '.' || view_name, 'view' from duckdb_views() where schema_name = 'marts'").fetchall())
    con.close()
    out["kinds"] = {m: kinds.get(m) for m in aq.MARTS}
    views = [m for m in aq.MARTS if kinds.get(m) == "view"]
    if views:
        copy = work / "queries_tables.duckdb"
        shutil.copyfile(warehouse, copy)
        con = duckdb.connect(str(copy))
        con.execute("set memory_limit = '2500MB'")
        con.execute("create schema if not exists as_tables")
        out["write_as_table"] = {}
        for m in views:
            t0, c0 = time.perf_counter(), time.process_time()
            con.execute(f"create table as_tables.{m.split('.')[1]} as select * from {m}")
            con.execute("checkpoint")
            out["write_as_table"][m] = {"wall_s": round(time.perf_counter() - t0, 2),
                                        "cpu_s": round(time.process_time() - c0, 2),
                                        "rows": con.execute(f"select count(*) from {m}").fetchone()[0]}
        con.close()
        log(f"queries: the views {', '.join(views)} as tables …")
        out["as_tables"] = aq.run(copy, reps, {m: f"as_tables.{m.split('.')[1]}" for m in views})
        copy.unlink()
    out["descriptions"] = {k: d for k, (d, _) in aq.QUERIES.items()}
    return out


def fmt_rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds else "–"


def write_results(res: dict, label: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"{res['date']}-{label}"
    stem.with_suffix(".json").write_text(json.dumps(res, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    s = res["scenarios"]
    lb = s.get("lower_beside_full") or s.get("lower")
    lines = [f"# Benchmark `{label}` — {res['started']}", "",
             f"git `{res['git']}`; {res['machine']}; data {res['data']} ({res['rows_total']:,} census rows, "
             f"{len(YEARS)} years); load average at start {res['load_avg_start']}."]
    if s:
        lines += ["", "| scenario | wall s | CPU s | peak RSS MB (largest process) | peak tree MB | rows | rows/s | "
                      "÷ lower bound (wall / CPU) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name in ("lower", "lower_beside_full", "full", "existing", "incremental", "county", "plan"):
        m = s.get(name)
        if not m:
            continue
        ratio = (f"{m['wall_s'] / lb['wall_s']:.1f}x / {m['cpu_s'] / lb['cpu_s']:.1f}x"
                 if lb and name in ("full", "incremental") else "")
        lines.append(f"| {name} | {m['wall_s']} | {m['cpu_s']} | {m['peak_rss_mb']:,} | {m['peak_tree_mb']:,} | "
                     f"{m.get('rows', 0):,} | {fmt_rate(m.get('rows', 0), m['wall_s'])} | {ratio} |")
    if "full" in s and "incremental" in s:
        lines += ["", f"Incremental / full rebuild: {s['incremental']['wall_s'] / s['full']['wall_s']:.2f} "
                      f"wall, {s['incremental']['cpu_s'] / s['full']['cpu_s']:.2f} CPU (target ≤ 0.2)."]
    curve = list(res.get("scale", []))
    if "full" in s and lb:
        curve.append({"fraction": "1/1", "rows": res["rows_total"], "lower": lb, "pipeline": s["full"],
                      "cv_check": res.get("cv_check", {})})
    if curve:
        lines += ["", "## Scaling curve (ten-year rebuild; lower bound on the same files, same run)", "",
                  "| fraction | census rows | pipeline wall / CPU s | lower bound wall / CPU s | ratio wall / CPU | "
                  "pipeline peak MB process / tree | pipeline s per 100k rows | largest abs ΔCV, null mismatches |",
                  "|---|---:|---:|---:|---:|---:|---:|---|"]
        for c in curve:
            p, l, chk = c["pipeline"], c["lower"], c.get("cv_check") or {}
            lines.append(f"| {c['fraction']} | {c['rows']:,} | {p['wall_s']} / {p['cpu_s']} | {l['wall_s']} / "
                         f"{l['cpu_s']} | {p['wall_s'] / l['wall_s']:.1f}x / {p['cpu_s'] / l['cpu_s']:.1f}x | "
                         f"{p['peak_rss_mb']:,} / {p['peak_tree_mb']:,} | {p['wall_s'] / c['rows'] * 1e5:.1f} | "
                         f"{chk.get('max_abs_cv_diff')}, {chk.get('null_mismatch')} |")
    for name in ("full", "incremental", "county"):
        m = s.get(name)
        if not m or not m.get("seconds"):
            continue
        lines += ["", f"## {name}: per stage", "", "| stage | seconds | rows/s | peak RSS MB |", "|---|---:|---:|---:|"]
        for st, sec in m["seconds"].items():
            peak = m["stage_peak_rss_mb"].get(st, "")
            lines.append(f"| {st} | {sec} | {fmt_rate(m.get('rows', 0), sec)} | {peak} |")
        if m.get("steps"):
            lines += ["", "Dagster steps (seconds, summed over the years): " + ", ".join(
                f"`{k}` {v}" for k, v in sorted(m["steps"].items(), key=lambda kv: -kv[1]))]
        if m.get("step_peaks_mb"):
            lines += ["", "Peak RSS MB while each step ran (largest process / whole tree): " + ", ".join(
                f"`{k}` {v['largest']:,} / {v['tree']:,}" for k, v in
                sorted(m["step_peaks_mb"].items(), key=lambda kv: -kv[1]["largest"]) if v["largest"] >= 500)]
        lines += ["", f"Largest process: `{m['peak_rss_process']}`."]
    if res.get("cv_check"):
        c = res["cv_check"]
        lines += ["", "## Same answer?", "",
                  f"Pipeline `marts.county_indicator_cv` (official CVs) vs lower bound: {c['pipeline_rows']:,} / "
                  f"{c['lower_bound_rows']:,} rows, largest |ΔCV| {c['max_abs_cv_diff']}, null mismatches "
                  f"{c['null_mismatch']}."]
    if res.get("fixed"):
        lines += ["", "## Fixed costs (seconds)", "", "| probe | seconds |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in res["fixed"].items()]
    if s.get("plan"):
        p = s["plan"]["plans"]
        lines += ["", f"## Plans of one national year ({YEARS[-1]}: plan_job alone, `junheng run --plans-only`)", "",
                  f"{p['counties']} counties planned in {s['plan']['wall_s']} s wall / {s['plan']['cpu_s']} s CPU "
                  f"(peak {s['plan']['peak_rss_mb']:,} MB process, {s['plan']['peak_tree_mb']:,} MB tree): "
                  f"{p['by_status']}; verified {p['verified']}; solver seconds sum {p['solve_seconds_sum']:.0f}, "
                  f"median {p['solve_seconds_median']:.2f}, p90 {p['solve_seconds_p90']:.2f}, max "
                  f"{p['solve_seconds_max']:.1f}; gap p90 {p['gap_p90']:.4f}, max {p['gap_max']:.4f}.",
                  "", "Dagster steps: " + ", ".join(f"`{k}` {v}" for k, v in p["steps"].items())]
    if res.get("queries"):
        q = res["queries"]
        lines += ["", "## Analysts' queries (benchmarks/analyst_queries.py; median of 3, seconds)", "",
                  f"Warehouse `{q.get('warehouse')}`. Marts: "
                  + ", ".join(f"`{m}` {k}" for m, k in q["kinds"].items()) + f"; parameters "
                  f"{q['as_built']['parameters']}.", "",
                  "| query | rows | as built wall / CPU | per-school views as tables wall / CPU |", "|---|---:|---:|---:|"]
        for name, m in q["as_built"]["queries"].items():
            t = (q.get("as_tables") or {}).get("queries", {}).get(name)
            lines.append(f"| {name}: {q['descriptions'][name]} | {m['rows']:,} | {m['wall_s']} / {m['cpu_s']} | "
                         + (f"{t['wall_s']} / {t['cpu_s']}" if t else "–") + " |")
        for m, w in (q.get("write_as_table") or {}).items():
            lines.append(f"\nWriting `{m}` as a table (all years, {w['rows']:,} rows, with a checkpoint): "
                         f"{w['wall_s']} s wall, {w['cpu_s']} s CPU.")
    if s.get("county"):
        c = s["county"]
        lines += ["", f"One county ({c.get('county')}, {c.get('rows')} schools, 2024) into a new warehouse: "
                      f"{c['wall_s']} s from command to published warehouse (target ≤ 10 s)."]
    md = stem.with_suffix(".md")
    md.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return md


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--label", required=True)
    ap.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    ap.add_argument("--work", type=Path, default=Path("/tmp/junheng_bench"))
    ap.add_argument("--keep", action="store_true", help="keep the warehouses under --work")
    ap.add_argument("--scales", default=",".join(f"{n}/{d}" for n, d in SCALES),
                    help="scale: the fractions of the national rows, e.g. 1/8,1/4,1/2")
    ap.add_argument("--existing", choices=("derive", "build"), default="derive",
                    help="incremental: derive the nine-year warehouse from the full one (default) or build it")
    ap.add_argument("--queries-warehouse", type=Path,
                    help="queries: time them on this warehouse (read-only) instead of the full rebuild's")
    args = ap.parse_args()
    only = set(args.only.split(","))
    work = args.work / args.label
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    if not (DATA / "census" / str(YEARS[-1])).is_dir():
        log(f"generating the national census into {DATA} …")
        subprocess.run([*JUNHENG, "generate", "--scale", "national", "--out", str(DATA)], check=True, cwd=REPO)
    rows = {y: census_rows(DATA, [y]) for y in YEARS}
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "pipelines", "dbt_project", "expectations"],
                           capture_output=True, text=True, cwd=REPO).stdout.strip()
    res: dict = {
        "label": args.label,
        "date": dt.date.today().isoformat(),
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git": git + ("+dirty" if dirty else ""),
        "machine": f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GB, {platform.python_version()}",
        "data": str(DATA.relative_to(REPO)),
        "rows_total": sum(rows.values()),
        "rows_per_year": rows,
        "load_avg_start": [round(x, 1) for x in os.getloadavg()],
        "scenarios": {},
    }
    s = res["scenarios"]

    def save() -> None:
        log(f"results: {write_results(res, args.label)}")

    # The dbt project parsed before anything is timed: the first command after a change of the project's files
    # parses it whole (~10 s, once per checkout), which is not what a load costs (ensure_manifest).
    subprocess.run([str(PY), "-c", "import junheng.defs.dbt.assets"], check=True, cwd=REPO,
                   env={**os.environ, "PYTHONPATH": str(REPO / "pipelines")})
    if "lower" in only:
        log("lower bound: one DuckDB process …")
        m = lower_bound(DATA, work, "lower_bound")
        m["rows"] = res["rows_total"]
        s["lower"] = m
        save()
    if "county" in only:
        county, n = one_county(DATA, work / "one_county")
        m = junheng_run(work / "one_county", work / "county.duckdb", None, work, "county")
        m.update(county=county, rows=n)
        s["county"] = m
        save()
    if "scale" in only:
        res["scale"] = []
        for num, den in (tuple(int(x) for x in f.split("/")) for f in args.scales.split(",")):
            sub = work / f"scale_{num}_{den}"
            provinces, n = province_subset(DATA, sub / "data", num, den)
            log(f"scale {num}/{den}: provinces {','.join(provinces)}, {n:,} rows")
            lb = lower_bound(sub / "data", sub, "lower_bound")
            m = junheng_run(sub / "data", sub / "warehouse.duckdb", None, work, f"scale_{num}_{den}")
            c = compare_cvs(sub / "warehouse.duckdb", sub / "lower_bound_cvs.parquet") \
                if (sub / "warehouse.duckdb").exists() else {}
            res["scale"].append({"fraction": f"{num}/{den}", "provinces": provinces, "rows": n, "lower": lb,
                                 "pipeline": m, "cv_check": c})
            if not args.keep:
                shutil.rmtree(sub, ignore_errors=True)
            save()
    if "full" in only:
        if "lower" in only:  # the lower bound again right before the full rebuild: the ratio of one minute
            s["lower_beside_full"] = lower_bound(DATA, work, "lower_bound")
            s["lower_beside_full"]["rows"] = res["rows_total"]
        m = junheng_run(DATA, work / "full.duckdb", None, work, "full")
        m["rows"] = res["rows_total"]
        s["full"] = m
        if "lower" in only and (work / "full.duckdb").exists():  # lower_bound_cvs.parquet of the bound beside it
            res["cv_check"] = compare_cvs(work / "full.duckdb", work / "lower_bound_cvs.parquet")
            log(f"same answer? {res['cv_check']}")
        save()
    if "queries" in only:
        wh = args.queries_warehouse or work / "full.duckdb"
        if wh.exists():
            res["queries"] = analyst_queries(wh, work)
            save()
        else:
            log(f"queries: no warehouse {wh} (run `full` in the same run, or give --queries-warehouse)")
    if "incremental" in only:
        existing = work / "incremental.duckdb"
        if (work / "full.duckdb").exists() and args.existing == "derive":
            log(f"incremental: the full warehouse without {YEARS[-1]} as the existing warehouse …")
            derive_existing(work / "full.duckdb", existing, YEARS[-1])
        else:
            m = junheng_run(DATA, existing, YEARS[:-1], work, "existing")
            m["rows"] = sum(rows[y] for y in YEARS[:-1])
            s["existing"] = m
        m = junheng_run(DATA, existing, YEARS[-1:], work, "incremental")
        m["rows"] = rows[YEARS[-1]]
        s["incremental"] = m
        if not args.keep:
            existing.unlink(missing_ok=True)
        save()
    if not args.keep:
        (work / "full.duckdb").unlink(missing_ok=True)
    if "plan" in only:
        # every county of one national year that does not meet §4.1: the year loaded without plans (not timed as
        # the scenario), then plan_job alone (`junheng run --plans-only`: solve, verify by dbt, publish)
        wh = work / "plan.duckdb"
        s["plan_load"] = junheng_run(DATA, wh, YEARS[-1:], work, "plan_load")
        m = junheng_run(DATA, wh, None, work, "plan", extra=("--plans-only",))
        m["plans"] = plan_summary(wh)
        log(f"plan: {m['plans']}")
        s["plan"] = m
        if not args.keep:
            wh.unlink(missing_ok=True)
        save()
    if "fixed" in only:
        log("fixed costs …")
        res["fixed"] = fixed_costs(work)
        save()
    res["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    md = write_results(res, args.label)
    print(md.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
