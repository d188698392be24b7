"""The DuckDB warehouse file: its raw tables, the lock that serialises loads, and how a load works on a private
copy and publishes it.

DuckDB allows one writer or many readers, never both. Analysts hold the published file open read-only, so no load
ever writes to it: a load takes the warehouse's lock (``<file>.lock``, an OS file lock: one load at a time, whoever
starts it), copies the file to ``<file>.building`` and the Data Docs to ``docs/.gx-<run>``, works there, and at the
end replaces the published file with one atomic rename and then points ``docs/gx`` at the new Data Docs with a
second one. Readers that hold the old file keep their (consistent) snapshot until they reconnect; a failed or killed
load leaves the published file and its Data Docs as they were, and the next load starts from a fresh copy.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import struct
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

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
    "COMMENT ON TABLE meta.source_files IS '入库文件：每年每个已入库文件一行 / one row per loaded file and year'",
    *(f"COMMENT ON COLUMN meta.source_files.{c} IS '{t}'" for c, t in (
        ("year", "统计年度 statistical year"),
        ("dataset", "数据集 census or county_returns"),
        ("source_file", "来源文件 path relative to the data directory"),
        ("source_sha256", "来源文件校验值 SHA-256 of the file"),
        ("rows", "行数 rows loaded"),
        ("missing_columns", "未报送的列 JSON list of contract columns absent (not reported)"),
        ("extra_columns", "额外的列 JSON list of columns the contract does not name"),
        ("loaded_at", "入库时间 load time (UTC)"),
        ("load_run_id", "入库运行编号 Dagster run id of the load"))),
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


# The investment planner's output (lib/planner/plan.py writes it; the dbt plan marts read it as sources).
PLANNER_DDL = [
    "CREATE SCHEMA IF NOT EXISTS planner",
    """CREATE TABLE IF NOT EXISTS planner.plan_counties (
        county_code VARCHAR NOT NULL, year INTEGER NOT NULL, target_year INTEGER NOT NULL,
        status VARCHAR NOT NULL, verified BOOLEAN, reason_zh VARCHAR, verification_zh VARCHAR,
        cost DOUBLE NOT NULL, lower_bound DOUBLE, gap DOUBLE, solver VARCHAR, solve_seconds DOUBLE NOT NULL,
        nodes BIGINT NOT NULL, student_factor_primary DOUBLE, student_factor_junior DOUBLE,
        costs_source VARCHAR NOT NULL, planned_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS planner.plan_additions (
        county_code VARCHAR NOT NULL, year INTEGER NOT NULL, target_year INTEGER NOT NULL,
        school_code VARCHAR NOT NULL, level VARCHAR NOT NULL, resource VARCHAR NOT NULL,
        amount DOUBLE NOT NULL, unit_cost DOUBLE NOT NULL, cost DOUBLE NOT NULL)""",
]


def ensure_raw_schema(conn: duckdb.DuckDBPyConnection) -> None:
    for stmt in [*RAW_DDL, *PLANNER_DDL]:
        conn.execute(stmt)
    from junheng.lib.verify.store import ensure_verify_schema  # answers and the census in force (issue 15)

    ensure_verify_schema(conn)


def building_path(published: Path) -> Path:
    return published.with_name(published.name + ".building")


def lock_path(published: Path) -> Path:
    return published.with_name(published.name + ".lock")


def docs_link(published: Path) -> Path:
    """What analysts open: ``<dir>/docs/gx`` (a symlink to the Data Docs of the last published load)."""
    return published.parent / "docs" / "gx"


def docs_build_dir(published: Path, run_id: str) -> Path:
    return docs_link(published).with_name(f".gx-{run_id}")


@contextmanager
def connect(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    conn = duckdb.connect(str(path), read_only=read_only)
    try:
        yield conn
    finally:
        conn.close()


def pause_point(name: str) -> None:
    """Fault-injection hook for the kill and interrupt tests: with JUNHENG_PAUSE_AT=<name>:<file>, write <file>
    when the load reaches <name> and wait there (the test then kills or interrupts the process). Off otherwise."""
    spec = os.environ.get("JUNHENG_PAUSE_AT", "")
    point, _, marker = spec.partition(":")
    if point == name and marker:
        Path(marker).write_text(str(os.getpid()), encoding="utf-8")
        time.sleep(float(os.environ.get("JUNHENG_PAUSE_SECONDS", "60")))


class WarehouseBusy(Exception):
    """Another load holds the warehouse and the caller asked not to wait."""


class LoadLock:
    """The OS lock that lets one load at a time work on a warehouse, across processes and Dagster instances.

    ``flock`` on ``<file>.lock``: the kernel releases it when the holder exits, however it exits, so a killed load
    never blocks the next one. The file's text names the holder (run, process, who started it, when); it stays after
    a crash so that the next holder can tell which run died without finishing.
    """

    def __init__(self, published: Path):
        self.path = lock_path(published)
        self._fd: int | None = None

    def acquire(self, holder: dict, wait: bool, on_wait: Callable[[dict], None] = lambda _: None) -> dict:
        """Take the lock; return the previous holder's record (empty if none). Blocks while another load runs
        (calling ``on_wait`` once with its holder), or raises WarehouseBusy when ``wait`` is false."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                current = _read_holder(fd)
                if not wait:
                    raise WarehouseBusy(describe_holder(current)) from None
                on_wait(current)
                fcntl.flock(fd, fcntl.LOCK_EX)
            previous = _read_holder(fd)
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(holder, ensure_ascii=False).encode(), 0)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return previous

    def release(self) -> None:
        """Clear the holder record (a clean end) and let the next load in."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        finally:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None


def _read_holder(fd: int) -> dict:
    try:
        text = os.pread(fd, 65536, 0).decode("utf-8")
        return json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return {}


def describe_holder(holder: dict) -> str:
    if not holder:
        return "另一个入库正在进行 / another load is running"
    return (f"等待 {holder.get('started_at', '?')} 由 {holder.get('by', '?')} 启动的入库（运行 {holder.get('run_id', '?')}，"
            f"进程 {holder.get('pid', '?')}@{holder.get('host', '?')}）/ waiting for the load started at "
            f"{holder.get('started_at', '?')} by {holder.get('by', '?')} (run {holder.get('run_id', '?')}, "
            f"process {holder.get('pid', '?')} on {holder.get('host', '?')})")


def holder_record(run_id: str, by: str) -> dict:
    return {"run_id": run_id, "pid": os.getpid(), "host": socket.gethostname(), "by": by,
            "started_at": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")}


def writer_of(path: Path) -> int | None:
    """The process holding a DuckDB file open read-write (DuckDB takes an fcntl write lock on it; readers take read
    locks), or None."""
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        probe = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        l_type, _, _, _, pid = struct.unpack("hhqqi4x", fcntl.fcntl(fd, fcntl.F_GETLK, probe))
        return pid if l_type == fcntl.F_WRLCK else None
    finally:
        os.close(fd)


def _describe_process(pid: int) -> str:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        cmd = "?"
    return f"进程 process {pid} ({cmd[:120]})"


def wait_for_no_writer(published: Path, wait: bool, on_wait: Callable[[str], None] = lambda _: None,
                       timeout: float | None = None) -> None:
    """Publishing over a process that holds the published file read-write would silently drop its work (and its WAL
    would then be replayed onto another file): wait until it closes the file, or refuse naming it."""
    timeout = float(os.environ.get("JUNHENG_PUBLISH_WAIT_SECONDS", "600")) if timeout is None else timeout
    pid = writer_of(published)
    if pid is None:
        return
    message = (f"已发布的仓库正被{_describe_process(pid)}以读写方式打开；分析请以只读方式打开（read_only=True）/ the "
               f"published warehouse {published} is open read-write by {_describe_process(pid)}; analysts should "
               "open it read-only")
    if not wait:
        raise WarehouseBusy(message)
    on_wait(message + " —— 等待其关闭 / waiting for it to close")
    deadline = time.monotonic() + timeout
    while writer_of(published) is not None:
        if time.monotonic() > deadline:
            raise WarehouseBusy(f"{message} —— 等待 {timeout:.0f} 秒后仍未关闭 / still open after {timeout:.0f} s")
        time.sleep(1)


def set_aside_stale_wal(published: Path) -> Path | None:
    """A WAL beside the published file with no process holding it is what a crashed read-write session left: it
    belongs to the file being replaced and would break every later open of the new one. Kept aside, not deleted."""
    wal = published.with_name(published.name + ".wal")
    if not wal.exists():
        return None
    aside = wal.with_name(f"{wal.name}.stale-{datetime.now():%Y%m%d-%H%M%S}")
    os.replace(wal, aside)
    return aside


def dbt_workdir_path(database: Path) -> Path:
    """dbt's working directory for a warehouse file (lib/dbt_state.dbt_workdir): `.<file>.dbt` beside it, holding while
    dbt runs a hard link `warehouse.duckdb` to the file, and the target folder of a dbt invocation that failed."""
    database = Path(database).resolve()
    return database.with_name(f".{database.name}.dbt")


def discard_dbt_workdir(database: Path, keep_targets: bool = False) -> None:
    """Drop what a dbt killed with its load left: the hard link (it would keep a discarded copy's disk) and its WAL;
    and, unless `keep_targets`, the failed invocations' target folders."""
    work = dbt_workdir_path(database)
    if keep_targets:
        for name in ("warehouse.duckdb", "warehouse.duckdb.wal"):
            (work / name).unlink(missing_ok=True)
    else:
        shutil.rmtree(work, ignore_errors=True)


def begin_build(published: Path, run_id: str) -> tuple[Path, Path]:
    """Start a load's private copies (the caller holds the lock and has made sure nobody holds the published file
    read-write): the warehouse (a fresh one if none is published) and its Data Docs. Whatever a killed load left
    behind is discarded first."""
    work = building_path(published)
    published.parent.mkdir(parents=True, exist_ok=True)
    for stale in (work, work.with_name(work.name + ".wal")):
        stale.unlink(missing_ok=True)
    discard_dbt_workdir(work)
    _discard_unpublished_docs(published)
    if published.exists():
        shutil.copyfile(published, work)
    with connect(work) as conn:
        ensure_raw_schema(conn)
        conn.execute("CHECKPOINT")
    docs = docs_build_dir(published, run_id)
    current = docs_link(published)
    if current.is_dir():
        shutil.copytree(current.resolve(), docs, symlinks=False)
    else:
        docs.mkdir(parents=True)
    return work, docs


def publish(published: Path, run_id: str) -> Path | None:
    """Make the load's copy the published warehouse (one atomic rename), then its Data Docs (a second one). Returns
    where a stale WAL of the replaced file was set aside, if there was one.

    Between the two renames analysts see the new warehouse with the previous Data Docs; the next load repairs the
    link from what the warehouse records (meta.publication), so the two never stay apart."""
    work = building_path(published)
    docs = docs_build_dir(published, run_id)
    with connect(work) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS meta.publication (run_id VARCHAR, docs_dir VARCHAR, "
                     "published_at TIMESTAMP)")
        conn.execute("COMMENT ON TABLE meta.publication IS '本次发布 / the load this file was published by'")
        for column, text in (("run_id", "发布运行编号 Dagster run id of the published load"),
                             ("docs_dir", "数据质量文档目录 Data Docs folder of that load (docs/.gx-<run>)"),
                             ("published_at", "发布时间 publication time")):
            conn.execute(f"COMMENT ON COLUMN meta.publication.{column} IS '{text}'")
        conn.execute("DELETE FROM meta.publication")
        conn.execute("INSERT INTO meta.publication VALUES (?, ?, now()::TIMESTAMP)", [run_id, docs.name])
        conn.execute("CHECKPOINT")  # fold the WAL into the file so the rename carries everything
    with open(work, "rb") as fh:
        os.fsync(fh.fileno())
    pause_point("publish")
    aside = set_aside_stale_wal(published)  # the caller made sure no process holds the published file read-write
    os.replace(work, published)
    _fsync_dir(published.parent)
    _point_docs_at(published, docs)
    return aside


def _point_docs_at(published: Path, docs: Path) -> None:
    link = docs_link(published)
    tmp = link.with_name(f".gx-link-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(docs.name)
    if link.is_dir() and not link.is_symlink():  # a warehouse published before docs were versioned
        link.rename(link.with_name(f".gx-{int(time.time())}-old"))
    os.replace(tmp, link)
    _fsync_dir(link.parent)
    _discard_unpublished_docs(published)


def _discard_unpublished_docs(published: Path) -> None:
    """Remove Data Docs folders that are not the published one (killed or superseded loads); repair the link first
    when the published warehouse names other Data Docs than the link (a load killed between its two renames)."""
    link = docs_link(published)
    if not link.parent.is_dir():
        return
    recorded = published_docs_dir(published)
    if recorded and (link.parent / recorded).is_dir() and (not link.is_symlink() or os.readlink(link) != recorded):
        _point_docs_at(published, link.parent / recorded)
        return
    keep = os.readlink(link) if link.is_symlink() else None
    for p in link.parent.glob(".gx-*"):
        if p.name != keep and not p.name.startswith(".gx-link-"):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def loaded_years(published: Path) -> list[int]:
    """The years the published warehouse holds (none when there is no readable published file)."""
    if not published.exists():
        return []
    try:
        with connect(published, read_only=True) as conn:
            return [y for (y,) in conn.execute("SELECT DISTINCT year FROM raw.census_schools ORDER BY 1").fetchall()]
    except duckdb.Error:
        return []


def published_docs_dir(published: Path) -> str | None:
    if not published.exists():
        return None
    try:
        with connect(published, read_only=True) as conn:
            row = conn.execute("SELECT docs_dir FROM meta.publication").fetchone()
    except duckdb.Error:
        return None
    return row[0] if row else None


def _fsync_dir(directory: Path) -> None:
    dir_fd = os.open(directory, os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def abandon_build(published: Path, run_id: str) -> None:
    work = building_path(published)
    for stale in (work, work.with_name(work.name + ".wal")):
        stale.unlink(missing_ok=True)
    discard_dbt_workdir(work, keep_targets=True)  # a failed invocation's dbt.log stays until the next load
    shutil.rmtree(docs_build_dir(published, run_id), ignore_errors=True)
