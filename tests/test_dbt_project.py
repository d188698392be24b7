"""The dbt project parses and its unit tests (the spec's worked examples) pass against a scratch DuckDB."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import duckdb
import pytest

from junheng.defs.dbt.assets import DBT_EXECUTABLE
from junheng.lib.warehouse import ensure_raw_schema

PROJECT = Path(__file__).resolve().parents[1] / "dbt_project"


def _dbt_executable() -> str:
    return DBT_EXECUTABLE


@pytest.fixture(scope="module")
def dbt(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dbt")
    warehouse = tmp / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    ensure_raw_schema(con)  # raw tables and marts.submission_flags, the project's sources
    con.close()
    env = {**os.environ, "JUNHENG_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}

    def run(*args: str) -> subprocess.CompletedProcess:
        cmd = [_dbt_executable(), *args, "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT),
               "--target-path", str(tmp / "target"), "--log-path", str(tmp / "logs")]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)

    return run


def _ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_parse(dbt):
    _ok(dbt("parse"))


def test_unit_tests(dbt):
    # unit tests read the column types of their inputs: seeds loaded and every model built empty first
    _ok(dbt("seed"))
    _ok(dbt("run", "--empty"))
    result = dbt("test", "--select", "test_type:unit")
    _ok(result)
    assert "PASS=" in result.stdout and " ERROR=0" in result.stdout
    # every spec worked example is there
    for name in ("split_nine_year_school_books", "cv_five_primary_schools_books", "composite_is_mean_of_eight_cvs",
                 "school_rule_six_of_seven_85_percent", "indicator_units_scope_and_flags", "guarantee_items_g03_g04_g05",
                 "trend_change_and_projected_crossing_year", "scorecard_province_overrides_and_two_part_items"):
        assert name in result.stdout
