"""The one Dagster code location: `dagster dev` loads `defs`; `junheng run` builds the same graph with
its resources pointed at the run's private warehouse copy (see runner.py)."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from junheng.defs.dbt.assets import JunhengDbtCliResource, dbt_asset_defs, dbt_project
from junheng.defs.ingestion.assets import ingestion_assets, ingestion_checks
from junheng.defs.quality import quality_assets, quality_checks
from junheng.defs.resources import WarehouseResource
from junheng.lib.dbt_state import DBT_EXECUTABLE, DBT_PROJECT_DIR

REPO_DIR = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = REPO_DIR / "data"
DEFAULT_WAREHOUSE = DEFAULT_DATA_DIR / "junheng.duckdb"

INGESTION = dg.AssetSelection.groups("ingestion")
SEEDS = dg.AssetSelection.assets(*[k for d in dbt_asset_defs if d.op.name == "dbt_config" for k in d.keys])
PER_YEAR = dg.AssetSelection.assets(*[k for d in dbt_asset_defs if d.op.name == "dbt_per_year" for k in d.keys])
TRENDS = dg.AssetSelection.assets(*[k for d in dbt_asset_defs if d.op.name == "dbt_trends" for k in d.keys])
QUALITY = dg.AssetSelection.assets(*[k for a in quality_assets for k in a.keys])

# One year's files into raw tables, then its quality flags. A refused year stops here, untouched;
# blocking checks on ingestion stop the flags. One run per year so each year is accepted on its own.
year_ingest_job = dg.define_asset_job(
    "year_ingest_job",
    selection=INGESTION | QUALITY,
    description="读取并校验一个年度的文件、入库、计算数据质量标记 / load one year and flag implausible values",
)
# Per-year marts for a range of years in one run (one dbt invocation).
year_marts_job = dg.define_asset_job(
    "year_marts_job",
    selection=PER_YEAR,
    description="当年指标、差异系数、达标与评估表 / per-year indicators, CVs, verdicts and scorecard",
)
config_job = dg.define_asset_job("config_job", selection=SEEDS, description="阈值与方法常量（dbt seeds）/ thresholds")
trends_job = dg.define_asset_job("trends_job", selection=TRENDS, description="多年趋势与排名 / multi-year trends")


def build_defs(warehouse_path: Path, data_dir: Path, extra: dg.Definitions | None = None) -> dg.Definitions:
    """The code location with its resources bound to one warehouse file and data directory."""
    defs = dg.Definitions(
        assets=[*ingestion_assets, *quality_assets, *dbt_asset_defs],
        asset_checks=[*ingestion_checks, *quality_checks],
        jobs=[year_ingest_job, year_marts_job, config_job, trends_job],
        resources={
            "warehouse": WarehouseResource(path=str(warehouse_path), data_dir=str(data_dir)),
            "dbt": JunhengDbtCliResource(
                project_dir=dbt_project, profiles_dir=str(DBT_PROJECT_DIR), dbt_executable=DBT_EXECUTABLE
            ),
        },
    )
    return dg.Definitions.merge(defs, extra) if extra else defs


def _orchestration() -> dg.Definitions:
    from junheng.defs.orchestration import orchestration_defs

    return orchestration_defs


# `dagster dev` (and the schedule / sensor) work on the published warehouse's build copy and publish it.
defs = build_defs(
    Path(os.environ.get("JUNHENG_WAREHOUSE_BUILD", str(DEFAULT_WAREHOUSE) + ".building")),
    Path(os.environ.get("JUNHENG_DATA_DIR", str(DEFAULT_DATA_DIR))),
    extra=_orchestration(),
)
