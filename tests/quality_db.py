"""Small warehouses for the quality-rule tests: the raw schema, the seeds and the dbt views the flags read
(`staging.stg_census_schools`, `intermediate.int_school_parts`, built by dbt as the load's first step does), then
hand-made census rows; the flags of each year computed in order, as a load does (Y reads Y-1's stored verdicts)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pandas as pd

from junheng.lib.dbt_state import DBT_EXECUTABLE, DBT_PROJECT_DIR
from junheng.lib.warehouse import ensure_raw_schema


def build_template(folder: Path) -> Path:
    """An empty warehouse with the seeds and the flags' views (one dbt invocation, as dbt_config)."""
    path = folder / "template.duckdb"
    with duckdb.connect(str(path)) as con:
        ensure_raw_schema(con)
    env = {**os.environ, "JUNHENG_DBT_DATABASE": str(path)}
    subprocess.run([DBT_EXECUTABLE, "build", "--quiet", "--select", "resource_type:seed tag:flags_input",
                    "--exclude-resource-type", "unit_test", "--project-dir", str(DBT_PROJECT_DIR),
                    "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(folder / "dbt-target"),
                    "--log-path", str(folder / "dbt-logs")],
                   cwd=DBT_PROJECT_DIR, env=env, check=True, capture_output=True, timeout=600)
    return path


def load_census(conn: duckdb.DuckDBPyConnection, df: pd.DataFrame) -> None:
    df = df.copy()
    df["source_file"], df["source_sha256"], df["source_row"] = "t.csv", "x", 2
    df["loaded_at"], df["load_run_id"] = dt.datetime(2024, 1, 1), "test"
    conn.register("_df", df)
    conn.execute("INSERT INTO raw.census_schools BY NAME SELECT * FROM _df")
    conn.unregister("_df")


def load_returns(conn: duckdb.DuckDBPyConnection, df: pd.DataFrame, year: int) -> None:
    df = df.assign(year=year, source_file="r.csv", source_sha256="x", source_row=2,
                   loaded_at=dt.datetime(2024, 1, 1), load_run_id="test")
    conn.register("_df", df)
    conn.execute("INSERT INTO raw.county_returns BY NAME SELECT * FROM _df")
    conn.unregister("_df")


def warehouse(template: Path, path: Path, census: list[pd.DataFrame], returns: dict[int, pd.DataFrame] | None = None
              ) -> Path:
    """A copy of the template holding `census` (frames with a `year` column) and `returns` ({year: frame})."""
    shutil.copy(template, path)
    with duckdb.connect(str(path)) as con:
        for df in census:
            load_census(con, df)
        for year, df in (returns or {}).items():
            load_returns(con, df, year)
    return path


def flag_years(conn: duckdb.DuckDBPyConnection, years: list[int], rules=None, docs_dir: Path | None = None) -> dict:
    """Flag `years` in order and store each in marts.submission_flags (what the flags asset does); {year: flags}."""
    from junheng.defs.quality.flags import FLAG_COLUMNS, compute_flags_with_outcome

    out = {}
    for year in sorted(years):
        flags, outcome = compute_flags_with_outcome(conn, year, rules=rules, docs_dir=docs_dir)
        conn.execute("DELETE FROM marts.submission_flags WHERE year = ?", [year])
        if len(flags):
            conn.register("_f", flags[FLAG_COLUMNS])
            conn.execute("INSERT INTO marts.submission_flags SELECT * FROM _f")
            conn.unregister("_f")
        out[year] = (flags, outcome)
    return out
