"""The dbt project parses and its unit tests (the spec's worked examples) pass against a scratch DuckDB."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import duckdb
import pytest

from junheng.lib.dbt_state import DBT_EXECUTABLE
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
    env = {**os.environ, "JUNHENG_DBT_DATABASE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}

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


def _exact_sum_sql(expr: str) -> str:
    """macros/exact_sum.sql rendered as dbt would (its body is plain Jinja)."""
    import jinja2

    source = (PROJECT / "macros" / "exact_sum.sql").read_text(encoding="utf-8")
    return jinja2.Environment().from_string(source + "{{ exact_sum(e) }}").render(e=expr).strip()


def test_exact_sum_is_order_independent_and_correctly_summed():
    """exact_sum gives the same double in any row order and parallelism, within 1 ulp of the exact sum."""
    import math
    import random

    import pandas as pd

    rnd = random.Random(7)
    # magnitudes from 1e-9 to 1e9 and both signs: where a plain double sum depends on the order
    values = [rnd.choice((-1, 1)) * rnd.random() * 10 ** rnd.randint(-9, 9) for _ in range(60_000)]
    groups = [i % 7 for i in range(len(values))]
    con = duckdb.connect()
    con.execute("SET threads = 2")
    frame = pd.DataFrame({"g": groups, "x": values})
    con.execute("CREATE TABLE t AS SELECT g::INTEGER AS g, x::DOUBLE AS x FROM frame")
    sql = f"SELECT g, {_exact_sum_sql('x')} AS s FROM {{src}} GROUP BY g ORDER BY g"
    forward = con.execute(sql.format(src="t")).fetchall()
    for seed in (0.1, 0.5, 0.9):
        con.execute(f"SELECT setseed({seed})")
        shuffled = con.execute(sql.format(src="(SELECT * FROM t ORDER BY random())")).fetchall()
        assert shuffled == forward  # bit-identical, not approximately equal
    for g, s in forward:
        exact = math.fsum(v for v, gg in zip(values, groups) if gg == g)  # correctly rounded
        assert abs(s - exact) <= 2 * math.ulp(exact), (g, s, exact)
    assert con.execute(f"SELECT {_exact_sum_sql('x')} FROM t WHERE false").fetchone()[0] is None
    assert con.execute(f"SELECT {_exact_sum_sql('x')} FROM (SELECT NULL::DOUBLE AS x)").fetchone()[0] is None
