"""dbt's working directory per warehouse (lib/dbt_state.dbt_workdir): every warehouse under one name, so one
partial-parse state serves them all, and the file dbt writes is the warehouse itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from junheng.lib import dbt_state
from junheng.lib.dbt_state import WORKDIR_DATABASE, dbt_workdir, workdir_of

pytestmark = pytest.mark.skipif(dbt_state.DBT_EXECUTABLE == dbt_state.DBT, reason="no setpriv wrapper: no workdir")


def _warehouse(path: Path) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("create table t as select 1 as x")
    return path


def test_dbt_sees_the_warehouse_under_one_name_and_writes_it(tmp_path, monkeypatch):
    wh = _warehouse(tmp_path / "some.duckdb.building")
    with dbt_workdir(wh) as env:
        assert env["JUNHENG_DBT_PATH"] == WORKDIR_DATABASE and env["JUNHENG_DBT_DATABASE"] == str(wh)
        link = Path(env["JUNHENG_DBT_CWD"]) / WORKDIR_DATABASE
        assert link.parent == workdir_of(wh) and link.parent.parent == wh.parent
        assert os.path.samefile(link, wh) and not link.is_symlink()  # DuckDB names a symlink's catalog after its target
        monkeypatch.chdir(link.parent)  # where the bound dbt runs: the profile's path is relative to it
        with duckdb.connect(WORKDIR_DATABASE) as con:
            assert con.execute("select current_database()").fetchone() == ("warehouse",)
            con.execute("insert into t values (2)")
        monkeypatch.chdir(tmp_path)
    assert not workdir_of(wh).exists()  # link and directory gone
    with duckdb.connect(str(wh), read_only=True) as con:
        assert con.execute("select count(*) from t").fetchone() == (2,)


def test_a_wal_left_by_an_exited_dbt_is_checkpointed_into_the_warehouse(tmp_path):
    wh = _warehouse(tmp_path / "w.duckdb")
    with dbt_workdir(wh) as env:
        link = Path(env["JUNHENG_DBT_CWD"]) / WORKDIR_DATABASE
        # a process that commits and exits without DuckDB's checkpoint at close leaves its WAL beside the link
        code = (f"import duckdb, os; c = duckdb.connect({str(link)!r}); c.execute('pragma disable_checkpoint_on_shutdown');"
                "c.execute('insert into t values (3)'); os._exit(0)")
        subprocess.run([sys.executable, "-c", code], check=True)
        assert link.with_name(link.name + ".wal").exists()
    assert not workdir_of(wh).exists()
    with duckdb.connect(str(wh), read_only=True) as con:
        assert con.execute("select sum(x) from t").fetchone() == (4,)


def test_a_stale_wal_in_the_workdir_is_not_replayed_into_a_new_copy(tmp_path):
    wh = _warehouse(tmp_path / "w.duckdb")
    work = workdir_of(wh)
    work.mkdir()
    (work / (WORKDIR_DATABASE + ".wal")).write_bytes(b"left by a killed dbt of an earlier load")
    with dbt_workdir(wh) as env:
        link = Path(env["JUNHENG_DBT_CWD"]) / WORKDIR_DATABASE
        assert not link.with_name(link.name + ".wal").exists()
        with duckdb.connect(str(link)) as con:
            assert con.execute("select count(*) from t").fetchone() == (1,)


def test_wrapper_runs_dbt_in_the_workdir(tmp_path):
    text = Path(dbt_state.DBT_EXECUTABLE).read_text()
    assert 'cd "$JUNHENG_DBT_CWD"' in text and "--pdeathsig KILL" in text


def test_a_failed_loads_link_goes_at_tear_down_and_its_dbt_log_at_the_next_load(tmp_path):
    from junheng.lib.warehouse import abandon_build, begin_build, building_path

    published = _warehouse(tmp_path / "w.duckdb")
    work = building_path(published)
    shutil.copyfile(published, work)
    wd = workdir_of(work)
    (wd / "target" / "dbt_per_year-x").mkdir(parents=True)
    (wd / "target" / "dbt_per_year-x" / "dbt.log").write_text("the failure")
    os.link(work, wd / WORKDIR_DATABASE)  # as a dbt killed with its load leaves it
    abandon_build(published, "run")
    assert not (wd / WORKDIR_DATABASE).exists() and (wd / "target" / "dbt_per_year-x" / "dbt.log").exists()
    os.link(published, wd / WORKDIR_DATABASE)
    begin_build(published, "next")
    assert not wd.exists()
