"""The dbt project parses and its unit tests (the spec's worked examples) pass against a scratch DuckDB."""

from __future__ import annotations

import os
import re
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
    env = {**os.environ, "JUNHENG_DBT_DATABASE": str(warehouse)}

    def run(*args: str) -> subprocess.CompletedProcess:
        cmd = [_dbt_executable(), *args, "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT),
               "--target-path", str(tmp / "target"), "--log-path", str(tmp / "logs")]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)

    run.warehouse = warehouse
    return run


def _ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_parse(dbt):
    _ok(dbt("parse"))


def test_dbt_sends_no_usage_statistics(tmp_path):
    """dbt_project.yml turns dbt's usage tracking off for every invocation, whatever the caller's environment: with it
    on, dbt writes an anonymous id to .user.yml in the profiles directory and posts events to dbt Labs."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "profiles.yml").write_text((PROJECT / "profiles.yml").read_text(encoding="utf-8"), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("DBT_SEND_ANONYMOUS_USAGE_STATS", "DO_NOT_TRACK")}
    env["JUNHENG_DBT_DATABASE"] = str(tmp_path / "warehouse.duckdb")
    result = subprocess.run(
        [_dbt_executable(), "parse", "--debug", "--project-dir", str(PROJECT), "--profiles-dir", str(profiles),
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        env=env, capture_output=True, text=True, timeout=600)
    _ok(result)
    assert not (profiles / ".user.yml").exists()
    assert "Sending event" not in result.stdout


@pytest.fixture(scope="module")
def built(dbt):
    """Seeds loaded and every model built empty (unit tests read their inputs' column types from them); the
    on-run-end hook comments the sources."""
    _ok(dbt("seed"))
    _ok(dbt("run", "--empty"))
    return dbt


def test_unit_tests(built):
    result = built("test", "--select", "test_type:unit")
    _ok(result)
    assert "PASS=" in result.stdout and " ERROR=0" in result.stdout
    # every spec worked example is there
    for name in ("split_nine_year_school_books", "cv_five_primary_schools_books", "composite_is_mean_of_eight_cvs",
                 "school_rule_six_of_seven_85_percent", "indicator_units_scope_and_flags", "guarantee_items_g03_g04_g05",
                 "trend_theil_sen_last_change_and_projected_crossing_year", "trend_theil_sen_resists_one_unflagged_slip",
                 "trend_incremental_rebuild_writes_from_the_windows_first_year",
                 "scorecard_province_overrides_and_two_part_items", "scorecard_school_rule_qs_per_level",
                 "quality_composite_shown_where_the_province_asks", "ranking_verdict_first_then_items_then_mean_cv_ratio",
                 "school_item_failures_list_the_schools_behind_qs_and_g03_g05",
                 "flagged_school_impact_names_what_each_flag_changes", "county_name_as_of_each_year",
                 "days_open_counts_whole_days_not_midnights"):
        assert name in result.stdout


CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN = re.compile(r"[A-Za-z]{2,}")


def test_every_warehouse_column_has_a_bilingual_comment(built, tmp_path):
    """Every table, view and column of the sources (raw.*, marts.submission_flags), the seeds (config.*), staging,
    intermediate and the marts carries a comment in Chinese and English (persist_docs; macros/comment_sources.sql)."""
    db = built.warehouse
    con = duckdb.connect(str(db), read_only=True)
    try:
        cols = con.execute(
            "SELECT schema_name, table_name, column_name, comment FROM duckdb_columns() "
            "WHERE schema_name IN ('raw', 'config', 'staging', 'intermediate', 'marts') AND NOT internal"
        ).fetchall()
        rels = con.execute(
            "SELECT schema_name, table_name, comment FROM duckdb_tables() WHERE schema_name IN "
            "('raw', 'config', 'staging', 'intermediate', 'marts') UNION ALL SELECT schema_name, view_name, comment "
            "FROM duckdb_views() WHERE schema_name IN ('raw', 'config', 'staging', 'intermediate', 'marts')"
        ).fetchall()
    finally:
        con.close()
    assert {s for s, *_ in cols} == {"raw", "config", "staging", "intermediate", "marts"}
    assert {("raw", "census_schools"), ("raw", "county_returns"), ("marts", "submission_flags"),
            ("marts", "dim_county"), ("marts", "indicator_trend")} <= {(s, t) for s, t, _ in rels}
    missing = [f"{s}.{t}.{c}" for s, t, c, comment in cols if not comment]
    assert missing == []
    one_language = [f"{s}.{t}.{c}" for s, t, c, comment in cols if not (CJK.search(comment) and LATIN.search(comment))]
    assert one_language == []
    assert [f"{s}.{t}" for s, t, comment in rels if not comment] == []


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
