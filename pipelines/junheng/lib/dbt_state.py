"""Where the dbt project and its executable are, and dbt's partial-parse state between invocations.

Dagster-free and import-light on purpose: `junheng run` starts the background parse before it imports the
Dagster definitions (seconds of imports the parse then overlaps).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"
# dbt is installed beside this interpreter (the project's venv), which need not be on PATH.
DBT_EXECUTABLE = shutil.which("dbt", path=str(Path(sys.executable).parent)) or "dbt"
# dagster-dbt starts each invocation from the state in the project's target folder.
PARTIAL_PARSE = DBT_PROJECT_DIR / "target" / "partial_parse.msgpack"


def keep_partial_parse(state: Path) -> None:
    PARTIAL_PARSE.parent.mkdir(parents=True, exist_ok=True)
    tmp = PARTIAL_PARSE.with_name(f".{PARTIAL_PARSE.name}.{os.getpid()}")
    shutil.copyfile(state, tmp)
    os.replace(tmp, PARTIAL_PARSE)  # atomic: another run may be starting dbt from it


class BackgroundParse:
    """`dbt parse` for one warehouse file in a subprocess, started before the years load and installed as the
    partial-parse state before the first dbt invocation of the run.

    dbt re-parses the whole project (about 6 s) whenever the profile's file path differs from the last parse's,
    i.e. for every new warehouse and every other warehouse than the last one loaded. `dbt parse` does not open
    the DuckDB file, so it can run while ingestion writes it.
    """

    def __init__(self, warehouse_path: Path):
        self._dir = Path(tempfile.mkdtemp(prefix="junheng-dbt-parse-"))
        env = {**os.environ, "JUNHENG_WAREHOUSE": str(warehouse_path), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        self._proc = subprocess.Popen(
            [DBT_EXECUTABLE, "parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR),
             "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(self._dir / "target"),
             "--log-path", str(self._dir / "logs")],
            cwd=DBT_PROJECT_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def install(self, timeout: float = 300) -> bool:
        """Wait for the parse; keep its state when it succeeded (if not, the next invocation parses itself)."""
        try:
            ok = self._proc.wait(timeout=timeout) == 0
            state = self._dir / "target" / "partial_parse.msgpack"
            if ok and state.exists():
                keep_partial_parse(state)
                return True
            return False
        except subprocess.TimeoutExpired:
            return False
        finally:
            self.cancel()

    def cancel(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        shutil.rmtree(self._dir, ignore_errors=True)
