"""Loads that never lose data, tested like an adversary with real processes and real files (issue 10).

A base warehouse holds 2022 of one small county (石台县); the tests load 2023 and 2024 into copies of it: two loads
at once (20 times), kills and interrupts at every stage, what Dagster records, a mart materialized through Dagster,
and the staleness of the years after a reloaded one.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from loads import (dbt_children, dbt_processes_on, junheng, make_data, published_digest, start, wait_for,
                   years_in)

MATERIALIZE = str(Path(__file__).with_name("_materialize.py"))
RAW = ["raw/census_schools", "raw/county_returns", "published_warehouse"]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("loads")
    data = make_data(root, (2022, 2023, 2024))
    wh = root / "base" / "junheng.duckdb"
    wh.parent.mkdir()
    result = junheng("run", "--no-plans", "--data-dir", str(data), "--warehouse", str(wh), "--year", "2022")
    assert result.returncode == 0, result.stdout + result.stderr
    return {"root": root, "data": data, "wh": wh, "stdout": result.stdout}


def copy_base(base: dict, name: str) -> Path:
    """A fresh folder with the base warehouse, its Data Docs and its Dagster instance."""
    folder = base["root"] / name
    shutil.copytree(base["wh"].parent, folder, symlinks=True)
    return folder / "junheng.duckdb"


def materialize(base: dict, wh: Path, first: int, last: int, keys=RAW) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, MATERIALIZE, str(base["data"]), str(wh), str(first), str(last), *keys],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def instance_of(wh: Path) -> dg.DagsterInstance:
    from junheng.lib.instance import instance_for

    return instance_for(wh)


# ---- one load at a time, nothing lost ---------------------------------------------------------------------------


def test_two_loads_at_once_publish_every_year_20_times(base):
    """Two processes load 2023 and 2024 into a warehouse holding 2022 at the same moment; the lock makes one wait
    (and say so); every repetition ends with all three years published and nothing left behind."""
    waited = 0
    for rep in range(20):
        wh = copy_base(base, f"race{rep}")
        procs = [materialize(base, wh, y, y) for y in (2023, 2024)]
        outs = [p.communicate(timeout=300)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
        assert years_in(wh) == [2022, 2023, 2024], (rep, outs)
        assert not wh.with_name(wh.name + ".building").exists()
        waited += sum("waiting for the load started at" in o for o in outs)
    assert waited >= 10  # the second process waited, named the first, then ran


def test_two_cli_loads_at_once_and_no_wait(base):
    """The real `junheng run` twice at once (full job: flags, dbt, trends), then `--no-wait` against a running
    load: it exits 1 naming the load that holds the warehouse."""
    wh = copy_base(base, "race-cli")
    procs = [start("run", "--no-plans", "--data-dir", str(base["data"]), "--warehouse", str(wh), "--year", str(y))
             for y in (2023, 2024)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert years_in(wh) == [2022, 2023, 2024]
    with duckdb.connect(str(wh), read_only=True) as conn:
        assert conn.execute("select distinct year from marts.county_indicator_cv order by 1").fetchall() == [
            (2022,), (2023,), (2024,)]
    assert any("waiting for the load started at" in o for o in outs)

    holder = start("run", "--no-plans", "--data-dir", str(base["data"]), "--warehouse", str(wh), "--year", "2023",
                   env={"JUNHENG_PAUSE_AT": f"ingest:{wh.parent / 'paused'}"})
    wait_for(lambda: (wh.parent / "paused").exists(), what="the first load to hold the warehouse")
    busy = junheng("run", "--no-plans", "--data-dir", str(base["data"]), "--warehouse", str(wh), "--year", "2024", "--no-wait")
    assert busy.returncode == 1
    assert "another load" in busy.stdout + busy.stderr or "waiting for the load started at" in busy.stdout + busy.stderr
    assert f"run {json.loads(wh.with_name(wh.name + '.lock').read_text())['run_id']}" in busy.stdout + busy.stderr
    holder.kill()
    holder.wait()


# ---- faults: kill -9 and SIGINT at every stage ------------------------------------------------------------------


FAULTS = [
    ("ingest", signal.SIGKILL),
    ("flags", signal.SIGKILL),
    ("dbt", signal.SIGKILL),
    ("publish", signal.SIGKILL),
    ("ingest", signal.SIGINT),  # early
    ("dbt", signal.SIGINT),  # late
]


@pytest.mark.parametrize(("stage", "sig"), FAULTS, ids=[f"{s}-{g.name}" for s, g in FAULTS])
def test_a_killed_or_interrupted_load_changes_nothing(base, stage, sig):
    wh = copy_base(base, f"fault-{stage}-{sig.name}")
    before = published_digest(wh)
    marker = wh.parent / "paused"
    env = {} if stage == "dbt" else {"JUNHENG_PAUSE_AT": f"{stage}:{marker}"}
    proc = start("run", "--no-plans", "--data-dir", str(base["data"]), "--warehouse", str(wh), "--year", "2023", env=env)
    if stage == "dbt":  # the per-year models' dbt (after the raw data and flags were materialized)
        def per_year_dbt() -> bool:
            return any("tag:per_year" in cmd for cmd in dbt_children(proc.pid))

        wait_for(lambda: per_year_dbt() and time.sleep(1.0) is None and per_year_dbt(), what="dbt to be running")
    else:
        wait_for(marker.exists, what=f"the load to reach {stage}")
    os.kill(proc.pid, sig)  # the load's process only, as a crash or an operator's Ctrl-C would
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode != 0, out
    wait_for(lambda: not dbt_processes_on(wh), timeout=15, what="no dbt left working on the copy")
    assert published_digest(wh) == before  # the warehouse and its Data Docs, byte for byte
    if sig == signal.SIGINT:
        assert "Traceback" not in out.split("== 运行摘要")[0][-2000:] or "KeyboardInterrupt" not in out

    again = junheng("run", "--no-plans", "--data-dir", str(base["data"]), "--warehouse", str(wh), "--year", "2023")
    assert again.returncode == 0, again.stdout + again.stderr  # no manual clean-up
    assert years_in(wh) == [2022, 2023]
    runs = junheng("runs", "--warehouse", str(wh), "--problems").stdout
    faulted = [line for line in runs.splitlines() if "requested=[2023]" in line][0]
    assert " FAILURE " in faulted and "published=False" in faulted, runs
    reason = runs.split(faulted, 1)[1].split("\n2")[0]
    expected = "ended without finishing" if sig == signal.SIGKILL else "nterrupt"
    assert expected in reason, runs
    if stage != "ingest":  # raw 2023 was materialized, then thrown away: the catalog says so
        run_id = faulted.split()[1]
        observations = instance_of(wh).fetch_observations(dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(["raw", "census_schools"]), asset_partitions=["2023"]), limit=10).records
        assert any(o.asset_observation.metadata["discarded_run"].value == run_id for o in observations)


def test_a_killed_plan_run_changes_nothing(base):
    """plan_job works under the same lock, private copy and atomic publish as a load: killed while it solves, it
    publishes nothing and the next plan run needs no clean-up."""
    wh = copy_base(base, "fault-plan")
    before = published_digest(wh)
    marker = wh.parent / "paused"
    proc = start("run", "--plans-only", "--data-dir", str(base["data"]), "--warehouse", str(wh),
                 env={"JUNHENG_PAUSE_AT": f"plan:{marker}"})
    wait_for(marker.exists, what="the plan run to have its plans")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=120)
    assert proc.returncode != 0
    wait_for(lambda: not dbt_processes_on(wh), timeout=15, what="no dbt left working on the copy")
    assert published_digest(wh) == before
    again = junheng("run", "--plans-only", "--data-dir", str(base["data"]), "--warehouse", str(wh))
    assert again.returncode == 0 and "已发布方案 / plans published" in again.stdout, again.stdout + again.stderr
    runs = junheng("runs", "--warehouse", str(wh), "--problems").stdout
    (faulted,) = [line for line in runs.splitlines() if " plan_job " in line]
    assert " FAILURE " in faulted and "published=False" in faulted and "ended without finishing" in runs, runs


# ---- what Dagster records ---------------------------------------------------------------------------------------


EXIT_RECORDER = """
import json, os, sys
_exit, RECORD = os._exit, sys.argv[1]

def recorded(code):  # what the process holds open when `junheng run` skips Python's heap tear-down
    fds = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
           if os.path.exists(f"/proc/self/fd/{fd}")]
    open(RECORD, "w").write(json.dumps({"code": code, "open": fds}))
    _exit(code)

os._exit = recorded
sys.argv = ["junheng", *sys.argv[2:]]
from junheng.cli import program
program()
"""


def test_a_cli_load_exits_with_nothing_open_and_nothing_left_to_write(base, tmp_path):
    """`junheng run` ends with os._exit (cli.exit_after_load): that is safe only if no DuckDB or SQLite file is still
    open then (a DuckDB connection would leave its WAL unwritten into the file)."""
    wh = copy_base(base, "fast-exit")
    record = tmp_path / "exit.json"
    done = subprocess.run([sys.executable, "-c", EXIT_RECORDER, str(record), "run", "--no-plans", "--data-dir",
                           str(base["data"]), "--warehouse", str(wh), "--year", "2023"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    seen = json.loads(record.read_text())
    assert seen["code"] == 0 and "用时 seconds" in done.stdout  # the summary was flushed before the exit
    held = [f for f in seen["open"] if f.endswith((".duckdb", ".db", ".wal", ".sqlite")) or "/dagster_home/" in f]
    assert held == [], held
    assert not [p for p in wh.parent.rglob("*.wal")]
    assert years_in(wh) == [2022, 2023]


def test_a_cli_load_is_recorded_in_the_instance_with_every_asset_and_check(base):
    from junheng.definitions import defs

    instance = instance_of(base["wh"])
    runs = instance.get_runs(filters=dg.RunsFilter(job_name="load_job"))
    assert len(runs) == 1 and runs[0].status == dg.DagsterRunStatus.SUCCESS
    run_id = runs[0].run_id
    job = defs.resolve_job_def("load_job")
    wanted = job.asset_layer.executable_asset_keys if hasattr(job.asset_layer, "executable_asset_keys") else None
    graph = defs.get_repository_def().asset_graph
    materialized: dict[dg.AssetKey, set] = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        mat = record.asset_materialization
        materialized.setdefault(mat.asset_key, set()).add(mat.partition)
    all_assets = {k for k in graph.get_all_asset_keys() if not graph.get(k).is_external}
    assert set(materialized) == (set(wanted) if wanted else all_assets)
    for key, partitions in materialized.items():
        assert partitions == ({"2022"} if graph.get(key).partitions_def else {None}), key
    evaluated = {record.asset_check_evaluation.asset_check_key
                 for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)}
    assert evaluated == set(graph.asset_check_keys)
    # and what the UI would show as the latest materialization is this run's
    latest = instance.get_latest_materialization_event(dg.AssetKey(["published_warehouse"]))
    assert latest.run_id == run_id


def test_one_mart_partition_through_dagster_reaches_the_published_warehouse(base):
    """A mart alone cannot be materialized (it would be thrown away); with published_warehouse it is published."""
    wh = copy_base(base, "mart")
    with duckdb.connect(str(wh)) as conn:
        conn.execute("update marts.county_indicator_cv set cv = -1 where year = 2022")
    before = published_digest(wh)
    alone = materialize(base, wh, 2022, 2022, ["marts/county_indicator_cv"])
    out = alone.communicate(timeout=300)[0]
    assert alone.returncode == 1 and "published_warehouse" in out
    assert published_digest(wh) == before
    instance = instance_of(wh)
    failed = instance.get_runs(limit=1)[0]
    assert not instance.all_logs(failed.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)

    both = materialize(base, wh, 2022, 2022, ["marts/county_indicator_cv", "published_warehouse"])
    out = both.communicate(timeout=300)[0]
    assert both.returncode == 0, out
    with duckdb.connect(str(wh), read_only=True) as conn:
        assert conn.execute("select min(cv) from marts.county_indicator_cv where year = 2022").fetchone()[0] >= 0


def test_reloading_a_year_makes_the_next_stale_and_the_next_load_rebuilds_it(base):
    from junheng.defs.orchestration import stale_years
    from junheng.definitions import defs

    wh = copy_base(base, "stale")
    loaded = junheng("run", "--no-plans", "--data-dir", str(base["data"]), "--warehouse", str(wh), "--year", "2023")
    assert loaded.returncode == 0, loaded.stdout
    graph = defs.get_repository_def().asset_graph
    assert stale_years(instance_of(wh), graph, [2022, 2023]) == []
    # 2022 reloaded without its dependants (raw data and publication only, as from the UI)
    reload = materialize(base, wh, 2022, 2022)
    assert reload.communicate(timeout=300)[0] and reload.returncode == 0
    assert stale_years(instance_of(wh), graph, [2022, 2023]) == [2022, 2023]  # flags of 2022 and 2023 read it
    # the next load, of any year, rebuilds what is stale
    nxt = junheng("run", "--no-plans", "--data-dir", str(base["data"]), "--warehouse", str(wh), "--year", "2023")
    assert nxt.returncode == 0, nxt.stdout
    assert "2022–2023" in nxt.stdout
    assert stale_years(instance_of(wh), graph, [2022, 2023]) == []


def test_ctrl_c_in_the_first_second_publishes_nothing(base):
    """Ctrl-C before the run has even started (imports, definitions): exit 130, nothing changed, nothing held."""
    wh = copy_base(base, "sigint-start")
    before = published_digest(wh)
    proc = start("run", "--no-plans", "--data-dir", str(base["data"]), "--warehouse", str(wh), "--year", "2023")
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode != 0, out
    assert published_digest(wh) == before
    assert not wh.with_name(wh.name + ".building").exists()
    busy = junheng("run", "--no-plans", "--data-dir", str(base["data"]), "--warehouse", str(wh), "--year", "2024", "--no-wait")
    assert busy.returncode == 0, busy.stdout + busy.stderr  # the lock was not left held


# ---- the published file protected: disk full, a read-write holder, a stale WAL ----------------------------------


def test_disk_full_during_a_load_fails_with_the_reason_and_changes_nothing(base, tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    size = base["wh"].stat().st_size * 2 + 2 * 2**20  # room for the copy, not for the load
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(small)]).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    try:
        shutil.copy(base["wh"], small / "junheng.duckdb")
        shutil.copytree(base["wh"].parent / "docs", small / "docs", symlinks=True)
        wh = small / "junheng.duckdb"
        before = published_digest(wh)
        env = {"DAGSTER_HOME": str(tmp_path / "dagster_home")}
        full = junheng("run", "--no-plans", "--data-dir", str(base["data"]), "--warehouse", str(wh), "--year", "2023", env=env)
        assert full.returncode == 1, full.stdout + full.stderr
        assert "No space left on device" in full.stdout
        assert "Traceback" not in full.stdout + full.stderr
        assert published_digest(wh) == before
        assert not wh.with_name(wh.name + ".building").exists()
        assert [p.name for p in (small / "docs").iterdir() if p.name.startswith(".gx-")] == [
            os.readlink(small / "docs" / "gx")]
        runs = junheng("runs", "--warehouse", str(wh), "--problems", env=env).stdout
        assert " FAILURE " in runs and "No space left on device" in runs
    finally:
        subprocess.run(["umount", str(small)])


def test_a_read_write_holder_of_the_published_file_is_named_and_a_stale_wal_set_aside(base):
    wh = copy_base(base, "holder")
    before = published_digest(wh)
    holder = subprocess.Popen([sys.executable, "-c", (
        f"import duckdb, time; c = duckdb.connect({str(wh)!r}); "
        "c.execute('create table main.analyst_scratch as select 1 as x'); print('open', flush=True); time.sleep(600)")],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "open"
    busy = junheng("run", "--no-plans", "--data-dir", str(base["data"]), "--warehouse", str(wh), "--year", "2023", "--no-wait")
    assert busy.returncode == 1
    assert f"open read-write by 进程 process {holder.pid}" in busy.stdout + busy.stderr
    assert published_digest(wh) == before
    # The analyst's session crashes: its WAL stays beside the published file.
    holder.kill()
    holder.wait()
    assert wh.with_name(wh.name + ".wal").exists()
    loaded = junheng("run", "--no-plans", "--data-dir", str(base["data"]), "--warehouse", str(wh), "--year", "2023")
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert not wh.with_name(wh.name + ".wal").exists()
    assert list(wh.parent.glob("junheng.duckdb.wal.stale-*"))  # kept aside, not deleted
    assert years_in(wh) == [2022, 2023]  # the new file opens: no foreign WAL replayed onto it
