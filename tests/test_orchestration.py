"""The code location loads, and the schedule and the file sensor ask for the right runs."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest

from junheng.defs.orchestration import census_files_sensor, statistical_year, yearly_census_schedule


def test_code_location_loads_with_jobs_schedule_sensor_and_checks():
    from junheng.definitions import defs

    repo = defs.get_repository_def()
    assert {"year_ingest_job", "year_marts_job", "config_job", "trends_job", "load_years_job"} <= set(repo.job_names)
    assert repo.has_schedule_def("yearly_census_schedule") and repo.has_sensor_def("census_files_sensor")
    graph = repo.asset_graph
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"raw/census_schools", "raw/county_returns", "marts/submission_flags", "marts/county_indicator_cv",
            "marts/quality_scorecard", "marts/indicator_trend"} <= keys
    assert graph.get(dg.AssetKey(["marts", "county_indicator_cv"])).partitions_def is not None
    assert graph.get(dg.AssetKey(["marts", "indicator_trend"])).partitions_def is None
    checks = {c.name for c in graph.asset_check_keys}
    assert {"census_structure", "census_schema_drift"} <= checks


@pytest.mark.parametrize(
    ("moment", "year"),
    [(datetime(2025, 12, 1, 6), 2025), (datetime(2026, 3, 1), 2025), (datetime(2026, 9, 1), 2026)],
)
def test_statistical_year(moment, year):
    assert statistical_year(moment) == year


def test_schedule_requests_the_year_whose_census_just_closed():
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2025, 12, 1, 6))
    request = yearly_census_schedule(context)
    assert request.run_config == {"ops": {"load_years": {"config": {"years": [2025]}}}}
    assert request.run_key == "scheduled-2025"
    assert yearly_census_schedule.cron_schedule == "0 6 1 12 *"  # 1 December by default


def _tick(cursor: str | None):
    data = census_files_sensor.evaluate_tick(dg.build_sensor_context(cursor=cursor))
    years = sorted(r.run_config["ops"]["load_years"]["config"]["years"][0] for r in data.run_requests)
    return years, data.cursor


def test_sensor_loads_new_and_changed_years_once(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("JUNHENG_DATA_DIR", str(tmp_path))
    for rel in ("census/2023/a.csv", "census/2024/a.csv", "census/2024/readme.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("school_code\n", encoding="utf-8")
    years, cursor = _tick(None)
    assert years == [2023, 2024]
    assert _tick(cursor)[0] == []  # nothing new: no run
    returns = tmp_path / "county_returns/2023/r.xlsx"
    returns.parent.mkdir(parents=True)
    returns.write_bytes(b"x")  # a county return arrives for 2023
    years, cursor = _tick(cursor)
    assert years == [2023]
    changed = tmp_path / "census/2024/a.csv"
    changed.write_text("school_code,county_code\n", encoding="utf-8")
    os.utime(changed, ns=(1, 10**18))
    assert _tick(cursor)[0] == [2024]
    (tmp_path / "census/2024/readme.txt").write_text("ignored", encoding="utf-8")  # not a census file
    assert _tick(_tick(cursor)[1])[0] == []
