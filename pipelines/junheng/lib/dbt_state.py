"""Where the dbt project and its executable are, and dbt's partial-parse state between invocations.

Dagster-free and import-light: the setup script and the tests use it without loading the Dagster definitions.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"
# dagster-dbt starts each invocation from the state in the project's target folder.
PARTIAL_PARSE = DBT_PROJECT_DIR / "target" / "partial_parse.msgpack"
# dbt is installed beside this interpreter (the project's venv), which need not be on PATH.
DBT = shutil.which("dbt", path=str(Path(sys.executable).parent)) or "dbt"


def bound_dbt_executable() -> str:
    """dbt, bound to the process that starts it: `setpriv --pdeathsig KILL` makes the kernel kill dbt when the load
    that started it dies, so a killed load never leaves a dbt writing the warehouse copy the next load starts from.
    (dagster-dbt starts dbt itself; a one-line wrapper is the way to give its child that property.)"""
    setpriv = shutil.which("setpriv")
    if not setpriv:  # not Linux util-linux: plain dbt (the lock still serialises loads)
        return DBT
    wrapper = DBT_PROJECT_DIR / "target" / "dbt-bound"
    text = f'#!/bin/sh\nexec {setpriv} --pdeathsig KILL -- "{DBT}" "$@"\n'
    if not wrapper.exists() or wrapper.read_text() != text:
        wrapper.parent.mkdir(parents=True, exist_ok=True)
        tmp = wrapper.with_name(f".dbt-bound.{os.getpid()}")
        tmp.write_text(text)
        tmp.chmod(0o755)
        os.replace(tmp, wrapper)
    return str(wrapper)


DBT_EXECUTABLE = bound_dbt_executable()


def keep_partial_parse(state: Path) -> None:
    PARTIAL_PARSE.parent.mkdir(parents=True, exist_ok=True)
    tmp = PARTIAL_PARSE.with_name(f".{PARTIAL_PARSE.name}.{os.getpid()}")
    shutil.copyfile(state, tmp)
    os.replace(tmp, PARTIAL_PARSE)  # atomic: another process may be starting dbt from it
