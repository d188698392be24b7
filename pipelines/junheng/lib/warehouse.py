"""The DuckDB warehouse file: its raw tables, and how a run works on a private copy and publishes it.

DuckDB allows one writer or many readers, never both. Analysts hold the published file open read-only,
so no run ever writes to it: a run copies it to ``<file>.building``, loads and transforms there, and
at the end replaces the published file with one atomic rename. Readers that hold the old file keep
their (consistent) snapshot until they reconnect; a failed or killed run leaves the published file as
it was.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb

from junheng.lib.schema import CENSUS_COLUMNS, RETURN_COLUMNS, sql_type

LINEAGE_DDL = """
    extra_columns VARCHAR,          -- JSON object of columns the contract does not name, as submitted
    source_file VARCHAR NOT NULL,   -- path relative to the data directory
    source_sha256 VARCHAR NOT NULL,
    source_row INTEGER NOT NULL,    -- spreadsheet row number (title and header lines counted)
    loaded_at TIMESTAMP NOT NULL,
    load_run_id VARCHAR NOT NULL
"""


def _table_ddl(name: str, columns) -> str:
    cols = []
    for c in columns:
        if c.name == "year":
            cols.append("    year INTEGER NOT NULL")
        else:
            cols.append(f"    {c.name} {sql_type(c)}")
    if name == "raw.census_schools":
        # The 3-digit code when the file gave one; urban_rural holds the three-way class.
        cols.insert(8, "    urban_rural_code VARCHAR")
    return f"CREATE TABLE IF NOT EXISTS {name} (\n" + ",\n".join(cols) + ",\n" + LINEAGE_DDL + ")"


RAW_DDL = [
    "CREATE SCHEMA IF NOT EXISTS raw",
    "CREATE SCHEMA IF NOT EXISTS meta",
    _table_ddl("raw.census_schools", CENSUS_COLUMNS),
    _table_ddl("raw.county_returns", RETURN_COLUMNS),
    """CREATE TABLE IF NOT EXISTS meta.source_files (
        year INTEGER NOT NULL,
        dataset VARCHAR NOT NULL,       -- 'census' or 'county_returns'
        source_file VARCHAR NOT NULL,
        source_sha256 VARCHAR NOT NULL,
        rows INTEGER NOT NULL,
        missing_columns VARCHAR,        -- JSON list: contract columns absent from the file (not reported)
        extra_columns VARCHAR,          -- JSON list: columns the contract does not name (kept in extra_columns)
        loaded_at TIMESTAMP NOT NULL,
        load_run_id VARCHAR NOT NULL
    )""",
    # Written per year by the quality asset (defs/quality); created here so dbt's source exists from the start.
    "CREATE SCHEMA IF NOT EXISTS marts",
    """CREATE TABLE IF NOT EXISTS marts.submission_flags (
        year INTEGER NOT NULL,
        county_code VARCHAR NOT NULL,
        school_code VARCHAR,            -- null for a flag about the county (its return)
        rule_id VARCHAR NOT NULL,
        severity VARCHAR NOT NULL,      -- 'warning' (implausible value) or 'info' (event worth knowing)
        field VARCHAR,                  -- the census / return column the flag is about
        value DOUBLE,
        expected VARCHAR,
        detail VARCHAR
    )""",
]


def ensure_raw_schema(conn: duckdb.DuckDBPyConnection) -> None:
    for stmt in RAW_DDL:
        conn.execute(stmt)


def building_path(published: Path) -> Path:
    return published.with_name(published.name + ".building")


@contextmanager
def connect(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    conn = duckdb.connect(str(path), read_only=read_only)
    try:
        yield conn
    finally:
        conn.close()


def begin_build(published: Path) -> Path:
    """Start a run's private copy of the published warehouse (a fresh one if none is published)."""
    work = building_path(published)
    published.parent.mkdir(parents=True, exist_ok=True)
    for stale in (work, work.with_name(work.name + ".wal")):
        stale.unlink(missing_ok=True)
    if published.exists():
        shutil.copyfile(published, work)
    with connect(work) as conn:
        ensure_raw_schema(conn)
        conn.execute("CHECKPOINT")
    return work


def publish(published: Path) -> None:
    """Atomically replace the published warehouse with the run's copy."""
    work = building_path(published)
    with connect(work) as conn:  # fold the WAL into the file so the rename carries everything
        conn.execute("CHECKPOINT")
    with open(work, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(work, published)
    dir_fd = os.open(published.parent, os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def abandon_build(published: Path) -> None:
    work = building_path(published)
    for stale in (work, work.with_name(work.name + ".wal")):
        stale.unlink(missing_ok=True)
