"""The one Dagster code location. `dagster dev`, the daemon and `junheng run` load these definitions; the warehouse
and the data directory come from JUNHENG_WAREHOUSE / JUNHENG_DATA_DIR (default: data/junheng.duckdb, data/), and a
load's run config may point them elsewhere (the command line's --warehouse / --data-dir)."""

from __future__ import annotations

import warnings

import dagster as dg

# Single-run backfill policies are "beta" in Dagster 1.13: every per-year asset uses one (a load is one run over a
# range of years), so the warning would be printed on every command.
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy.*")

from junheng.defs.dbt.assets import JunhengDbtCliResource, dbt_asset_defs, dbt_project
from junheng.defs.ingestion.assets import ingestion_assets, ingestion_checks
from junheng.defs.orchestration import census_files_sensor, load_job, plan_job, plans_sensor, yearly_census_schedule
from junheng.defs.partitions import data_dir
from junheng.defs.planner import planner_assets
from junheng.defs.publish import published_warehouse_asset
from junheng.defs.quality import quality_assets, quality_checks
from junheng.defs.resources import WarehouseResource, warehouse_path
from junheng.defs.verify import verify_assets, verify_sensors
from junheng.lib.dbt_state import DBT_EXECUTABLE, DBT_PROJECT_DIR

_upstream = [*ingestion_assets, *verify_assets, *quality_assets, *dbt_asset_defs, *planner_assets]

defs = dg.Definitions(
    assets=[*_upstream, published_warehouse_asset([k for a in _upstream for k in a.keys])],
    asset_checks=[*ingestion_checks, *quality_checks],
    jobs=[load_job, plan_job],
    schedules=[yearly_census_schedule],
    sensors=[census_files_sensor, plans_sensor, *verify_sensors],
    resources={
        "warehouse": WarehouseResource(published=str(warehouse_path()), data_dir=str(data_dir())),
        # --no-write-json: dbt writes manifest.json twice and run_results.json per invocation, into a target folder
        # that nobody reads (dagster-dbt reads the event stream; the assets' manifest is ensure_manifest's)
        "dbt": JunhengDbtCliResource(project_dir=dbt_project, profiles_dir=str(DBT_PROJECT_DIR),
                                     dbt_executable=DBT_EXECUTABLE, global_config_flags=["--no-write-json"]),
    },
)
