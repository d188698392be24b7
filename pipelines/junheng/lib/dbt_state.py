"""Where the dbt project and its executable are, and dbt's partial-parse state between invocations.

Dagster-free and import-light: the setup script and the tests use it without loading the Dagster definitions.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"
# dagster-dbt starts each invocation from the state in the project's target folder.
PARTIAL_PARSE = DBT_PROJECT_DIR / "target" / "partial_parse.msgpack"
# dbt is installed beside this interpreter (the project's venv), which need not be on PATH.
DBT = shutil.which("dbt", path=str(Path(sys.executable).parent)) or "dbt"
SETPRIV = shutil.which("setpriv")


def bound_dbt_executable() -> str:
    """dbt, bound to the process that starts it: `setpriv --pdeathsig KILL` makes the kernel kill dbt when the load
    that started it dies, so a killed load never leaves a dbt writing the warehouse copy the next load starts from.
    (dagster-dbt starts dbt itself; a small wrapper is the way to give its child that property.) When the run's dbt
    launcher is in the environment (JUNHENG_DBT_LAUNCHER, lib/dbt_launcher.py), the wrapper's dbt is the launcher's
    client: the same command, run by a dbt whose imports are done."""
    if not SETPRIV:  # not Linux util-linux: plain dbt (the lock still serialises loads)
        return DBT
    from junheng.lib.dbt_launcher import CLIENT

    wrapper = DBT_PROJECT_DIR / "target" / "dbt-bound"
    # JUNHENG_DBT_CWD (dbt_workdir below): dbt runs there, where the profile's relative path names the warehouse.
    text = (f'#!/bin/sh\n[ -z "$JUNHENG_DBT_CWD" ] || cd "$JUNHENG_DBT_CWD" || exit 1\n'
            f'[ -z "$JUNHENG_DBT_LAUNCHER" ] || exec {SETPRIV} --pdeathsig KILL -- "{sys.executable}" -S -I "{CLIENT}" '
            f'"{DBT}" "$@"\n'
            f'exec {SETPRIV} --pdeathsig KILL -- "{DBT}" "$@"\n')
    if not wrapper.exists() or wrapper.read_text() != text:
        wrapper.parent.mkdir(parents=True, exist_ok=True)
        tmp = wrapper.with_name(f".dbt-bound.{os.getpid()}")
        tmp.write_text(text)
        tmp.chmod(0o755)
        os.replace(tmp, wrapper)
    return str(wrapper)


DBT_EXECUTABLE = bound_dbt_executable()


# The name under which dbt opens every warehouse (profiles.yml: JUNHENG_DBT_PATH, relative to dbt's working directory).
WORKDIR_DATABASE = "warehouse.duckdb"


def workdir_env() -> dict[str, str]:
    """What makes the profile render the same for every warehouse: dbt's partial-parse state holds a hash of the
    rendered profile (the DuckDB path) and each node's database (DuckDB's catalog, the file name's first part), so a
    profile naming the warehouse's own path forced a full parse (~6 s) for every new warehouse, and states of two
    warehouses could not be shared. A `dbt parse` with this env writes a state every warehouse's invocations can use."""
    return {"JUNHENG_DBT_PATH": WORKDIR_DATABASE}


@contextlib.contextmanager
def dbt_workdir(database: str | os.PathLike) -> Iterator[dict[str, str]]:
    """A working directory for dbt on `database`, in which `warehouse.duckdb` is a hard link to it, and the env that
    runs dbt there (the bound executable changes into JUNHENG_DBT_CWD). The directory is `.<file>.dbt` beside the file
    (same file system: a hard link, since DuckDB names its catalog after the file a symlink points to). DuckDB writes
    the linked file in place; its WAL would be `warehouse.duckdb.wal` here, so a WAL a killed dbt left is removed
    before dbt starts (it belongs to no copy now) and one left by a dbt that exited is checkpointed into the file
    before the link goes. Where no hard link can be made (another file system kind, no setpriv wrapper), dbt opens
    the file by its own path: correct, with one full parse per warehouse."""
    database = Path(database).resolve()
    work = workdir_of(database)
    link = work / WORKDIR_DATABASE
    wal = link.with_name(link.name + ".wal")
    try:
        work.mkdir(exist_ok=True)
        link.unlink(missing_ok=True)
        wal.unlink(missing_ok=True)
        if DBT_EXECUTABLE == DBT:
            raise OSError("no wrapper to change directory")
        os.link(database, link)
    except OSError:
        yield {"JUNHENG_DBT_DATABASE": str(database)}
        return
    try:
        yield {"JUNHENG_DBT_DATABASE": str(database), "JUNHENG_DBT_CWD": str(work), **workdir_env()}
    finally:
        if wal.exists():
            import duckdb

            with duckdb.connect(str(link)) as con:
                con.execute("checkpoint")
        link.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            work.rmdir()  # kept while it holds a failed invocation's target folder


def workdir_of(database: str | os.PathLike) -> Path:
    """dbt_workdir's directory for `database` (its target folders go there too: per warehouse, beside it; a load's
    set-up and tear-down discard what a killed dbt left there: lib/warehouse.discard_dbt_workdir)."""
    from junheng.lib.warehouse import dbt_workdir_path

    return dbt_workdir_path(Path(database))


def keep_partial_parse(state: Path) -> None:
    PARTIAL_PARSE.parent.mkdir(parents=True, exist_ok=True)
    tmp = PARTIAL_PARSE.with_name(f".{PARTIAL_PARSE.name}.{os.getpid()}")
    shutil.copyfile(state, tmp)
    os.replace(tmp, PARTIAL_PARSE)  # atomic: another process may be starting dbt from it
