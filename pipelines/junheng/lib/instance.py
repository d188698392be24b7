"""The persistent Dagster instance every load records into: the CLI's runs, the schedule's and the sensor's, so the
UI shows what analysts read. By default `<warehouse folder>/dagster_home` (DAGSTER_HOME overrides it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

HEADER = "# Written by junheng (pipelines/junheng/lib/instance.py)."
DAGSTER_YAML = HEADER + """ One load at a time per instance: every load run carries the
# tag junheng/load, and the run queue admits one such run at a time (the warehouse's file lock covers other processes).
# Rewritten by junheng when it differs (a moved folder, an upgrade) while this first line is unchanged; remove that
# line to keep your own settings.
telemetry:
  enabled: false
run_queue:
  max_concurrent_runs: 4
  tag_concurrency_limits:
    - key: junheng/load
      limit: 1
run_monitoring:
  enabled: true
  poll_interval_seconds: 30
# Dagster's SQLite event log in its usual folder, with one SQLAlchemy engine per database file (lib/event_log.py)
event_log_storage:
  module: junheng.lib.event_log
  class: JunhengSqliteEventLogStorage
  config:
    base_dir: {runs_dir}
"""


def dagster_home(warehouse: Path) -> Path:
    home = os.environ.get("DAGSTER_HOME")
    return Path(home) if home else warehouse.resolve().parent / "dagster_home"


def ensure_home(home: Path) -> Path:
    """Create the instance folder with its dagster.yaml; a dagster.yaml junheng wrote is brought up to date, one the
    user wrote (without junheng's first line) is kept."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    # the folder Dagster's default SQLite storage uses for the event log: an instance keeps its history
    # (a JSON string is a YAML double-quoted scalar)
    text = DAGSTER_YAML.replace("{runs_dir}", json.dumps(str(home.resolve() / "history" / "runs"), ensure_ascii=False))
    current = config.read_text(encoding="utf-8") if config.exists() else None
    if current is None or (current.startswith(HEADER) and current != text):
        tmp = config.with_name(f".dagster.yaml.{os.getpid()}")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, config)  # readers (the daemon, the UI) see the old file or the new one
    return home


def instance_for(warehouse: Path):
    import dagster as dg

    return dg.DagsterInstance.from_config(str(ensure_home(dagster_home(warehouse))))
