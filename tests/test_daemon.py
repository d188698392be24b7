"""Five loads queued at once in one Dagster instance, the way the file sensor asks for them, run by the real
daemon (`dagster-daemon run`): the instance's run queue (dagster.yaml, tag junheng/load) admits one at a time, no two
loads overlap, and every year ends up published."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg

from loads import make_data, wait_for, years_in

YEARS = (2020, 2021, 2022, 2023, 2024)
BIN = Path(sys.executable).parent


def test_five_sensor_requested_loads_in_one_instance_run_one_at_a_time(tmp_path):
    from junheng.lib.instance import ensure_home

    data = make_data(tmp_path, YEARS)
    wh = tmp_path / "wh" / "junheng.duckdb"
    wh.parent.mkdir()
    home = ensure_home(wh.parent / "dagster_home")
    env = {**os.environ, "DAGSTER_HOME": str(home), "JUNHENG_DATA_DIR": str(data), "JUNHENG_WAREHOUSE": str(wh)}
    code = ["-m", "junheng.definitions"]
    # What census_files_sensor returns when each year's folder arrives, submitted to the queue together.
    requests = subprocess.run(
        [sys.executable, "-c", (
            "import json, sys\n"
            "from junheng.defs.orchestration import load_request\n"
            f"print(json.dumps([[load_request([y]).tags, load_request([y]).run_config] for y in {list(YEARS)}]))")],
        env=env, capture_output=True, text=True, check=True).stdout
    for tags, config in json.loads(requests.splitlines()[-1]):
        tags = {**tags, "dagster/sensor_name": "census_files_sensor"}
        subprocess.run([str(BIN / "dagster"), "job", "launch", *code, "-j", "load_job", "--tags", json.dumps(tags),
                        "--config-json", json.dumps(config)], env=env, check=True, capture_output=True)
    instance = dg.DagsterInstance.from_config(str(home))
    runs = instance.get_runs(filters=dg.RunsFilter(job_name="load_job"))
    assert len(runs) == 5 and all(r.status == dg.DagsterRunStatus.QUEUED for r in runs)

    daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", *code], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        done = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)

        def finished() -> bool:
            live = [r for r in instance.get_runs(filters=dg.RunsFilter(job_name="load_job"))
                    if r.status not in done and r.status != dg.DagsterRunStatus.QUEUED]
            assert len(live) <= 1, [r.status for r in live]  # never two loads at once
            return all(r.status in done for r in instance.get_runs(filters=dg.RunsFilter(job_name="load_job")))

        wait_for(finished, timeout=1500, what="the five queued loads")
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)
    records = instance.get_run_records(filters=dg.RunsFilter(job_name="load_job"))
    assert [r.dagster_run.status for r in records] == [dg.DagsterRunStatus.SUCCESS] * 5
    spans = sorted((r.start_time, r.end_time) for r in records)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # one after another
    assert years_in(wh) == list(YEARS)
    assert not wh.with_name(wh.name + ".building").exists()
