"""The persistent Dagster instance every load records into: the CLI's runs, the schedule's and the sensor's, so the
UI shows what analysts read. By default `<warehouse folder>/dagster_home` (DAGSTER_HOME overrides it)."""

from __future__ import annotations

import os
from pathlib import Path

DAGSTER_YAML = """\
# Written by junheng (pipelines/junheng/lib/instance.py). One load at a time per instance: every load run carries the
# tag junheng/load, and the run queue admits one such run at a time (the warehouse's file lock covers other processes).
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
"""


def dagster_home(warehouse: Path) -> Path:
    home = os.environ.get("DAGSTER_HOME")
    return Path(home) if home else warehouse.resolve().parent / "dagster_home"


def ensure_home(home: Path) -> Path:
    """Create the instance folder with its dagster.yaml (kept if the user wrote their own)."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML, encoding="utf-8")
    return home


def instance_for(warehouse: Path):
    import dagster as dg

    return dg.DagsterInstance.from_config(str(ensure_home(dagster_home(warehouse))))
