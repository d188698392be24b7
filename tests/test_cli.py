"""`junheng` exit codes (spec §4): 2 for wrong usage, 1 when nothing could be loaded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def junheng(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "junheng.cli", *args], capture_output=True, text=True)


def test_usage_errors_exit_2(tmp_path: Path):
    assert junheng().returncode == 2
    assert junheng("frobnicate").returncode == 2
    bad_year = junheng("run", "--year", "24")
    assert bad_year.returncode == 2 and "四位数字" in bad_year.stderr
    missing = junheng("run", "--data-dir", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_no_years_found_exits_1_and_launches_nothing(tmp_path: Path):
    (tmp_path / "data").mkdir()
    wh = tmp_path / "wh.duckdb"
    result = junheng("run", "--data-dir", str(tmp_path / "data"), "--warehouse", str(wh))
    assert result.returncode == 1
    assert "no year folders" in result.stdout and not wh.exists()
    runs = junheng("runs", "--warehouse", str(wh))
    assert runs.returncode == 0 and "no runs recorded" in runs.stdout


def test_a_year_outside_the_partitions_is_refused_by_name_not_a_traceback(tmp_path: Path):
    for year in ("2023", "3000"):
        (tmp_path / "data" / "census" / year).mkdir(parents=True)
    result = junheng("run", "--data-dir", str(tmp_path / "data"), "--warehouse", str(tmp_path / "wh.duckdb"),
                     "--year", "3000")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "被拒绝 refused 3000" in result.stdout and "outside the loadable years" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_a_folder_that_is_not_a_year_is_a_problem_of_the_run(tmp_path: Path):
    (tmp_path / "data" / "census" / "2024abc").mkdir(parents=True)
    (tmp_path / "data" / "census" / "2024abc" / "a.csv").write_text("school_code\n", encoding="utf-8")
    result = junheng("run", "--data-dir", str(tmp_path / "data"), "--warehouse", str(tmp_path / "wh.duckdb"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "census/2024abc" in result.stdout and "Traceback" not in result.stdout + result.stderr
