"""Materialize a selection of the code location's assets the way the UI does (the implicit asset job), in its own
process, on a warehouse's instance: `python tests/_materialize.py DATA WAREHOUSE FIRST LAST KEY [KEY ...]`.
Exit 0 when the run succeeded. Used by the tests that need many real loads quickly (ingest + publish, no dbt)."""

import os
import sys
from pathlib import Path

data, warehouse, first, last, *keys = sys.argv[1:]
os.environ["JUNHENG_DATA_DIR"], os.environ["JUNHENG_WAREHOUSE"] = data, warehouse

import dagster as dg  # noqa: E402
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG  # noqa: E402

from junheng.definitions import defs  # noqa: E402
from junheng.lib.instance import instance_for  # noqa: E402

result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
    instance=instance_for(Path(warehouse)),
    asset_selection=[dg.AssetKey(k.split("/")) for k in keys],
    tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last,
          "junheng/warehouse": warehouse, "junheng/launched_by": f"tests/_materialize.py pid {os.getpid()}"},
    run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    raise_on_error=False,
)
print("run", result.run_id, "success" if result.success else "failure", flush=True)
sys.exit(0 if result.success else 1)
