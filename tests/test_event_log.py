"""The instance's event log keeps one connection per database file (lib/event_log.py): other processes still read
and write the same instance while it is held, a forked child does not use the parent's connection, a process keeps
at most MAX_OPEN files open, wipe closes what it deletes, and a table found is not looked up again. Real processes
and real SQLite files."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg

from junheng.lib.event_log import MAX_OPEN
from junheng.lib.instance import instance_for

OTHER_PROCESS = """
import sys
import dagster as dg
from pathlib import Path
from junheng.lib.instance import instance_for
instance = instance_for(Path(sys.argv[1]))
for i in range(20):
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=["other"], metadata={"i": i}))
print(len(instance.fetch_materializations(dg.AssetKey(["mine"]), limit=100).records))
"""


def _materializations(instance, key: str) -> list[int]:
    records = instance.fetch_materializations(dg.AssetKey([key]), limit=100).records
    return sorted(r.asset_materialization.metadata["i"].value for r in records)


def test_a_kept_connection_blocks_no_other_process_and_no_fork(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    instance = instance_for(warehouse)
    for i in range(5):
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=["mine"], metadata={"i": i}))
    storage = instance.event_log_storage
    assert all(e.pool.checkedin() == 1 for e in storage._engines.values())  # held open between statements

    # another process writes the same files while this one holds its connections, and reads what this one wrote
    other = subprocess.run([sys.executable, "-c", OTHER_PROCESS, str(warehouse)], capture_output=True, text=True,
                           timeout=120)
    assert other.returncode == 0, other.stderr[-3000:]
    assert other.stdout.split()[-1] == "5"
    assert _materializations(instance, "other") == list(range(20))

    # a forked child opens its own connections (the parent's are dropped in it, not closed) and writes
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            if any(e.pool.checkedin() for e in storage._engines.values()):
                os._exit(3)  # the parent's connections still in the child's pools
            instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=["child"], metadata={"i": 0}))
            code = 0 if _materializations(instance, "mine") == list(range(5)) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=["mine"], metadata={"i": 5}))
    assert _materializations(instance, "mine") == list(range(6))
    assert _materializations(instance, "child") == [0]


def test_at_most_max_open_files_and_wipe_closes_them(tmp_path):
    instance = instance_for(tmp_path / "w.duckdb")
    storage = instance.event_log_storage
    runs = [f"run{i}" for i in range(MAX_OPEN + 3)]
    for run_id in runs:
        with storage.run_connection(run_id) as conn:
            conn.exec_driver_sql("select 1")
    assert list(storage._engines) == runs[-MAX_OPEN:]  # the least recently used were closed
    with storage.run_connection(runs[-MAX_OPEN]) as conn:  # used again: now the most recent
        conn.exec_driver_sql("select 1")
    assert list(storage._engines)[-1] == runs[-MAX_OPEN]
    open_files = {p.name for p in (tmp_path / "dagster_home" / "history" / "runs").glob("run*.db")}
    assert open_files == {f"{r}.db" for r in runs}
    assert storage.has_table("asset_keys") and not storage.has_table("no_such_table")
    assert storage._tables_found == {"asset_keys"}  # found once, not asked for again; a missing one is asked again
    storage.wipe()
    assert not list((tmp_path / "dagster_home" / "history" / "runs").glob("run*.db*"))
    assert list(storage._engines) == ["index"]  # wipe's own clearing of the index, on a fresh connection
    instance.dispose()
    assert not storage._engines
