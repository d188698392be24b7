"""The dbt project as Dagster assets: per-year models partitioned by year, trend models over all years.

Per-year models (tag `per_year`) are incremental: a run over years A..B passes
`--vars {"min_year": A, "max_year": B}` and rebuilds only those years' rows. Trend models (tag `trend`) read the per-year marts of every year and are rebuilt
whole; they are small (one row per county, year, level and indicator).
"""


import json
import os
from pathlib import Path
from typing import Any, Mapping

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from junheng.defs.ingestion.assets import CENSUS_KEY, RETURNS_KEY
from junheng.defs.partitions import years_partitions
from junheng.defs.resources import WarehouseResource

DBT_PROJECT_DIR = Path(__file__).resolve().parents[4] / "dbt_project"
FLAGS_KEY = dg.AssetKey(["marts", "submission_flags"])

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def _manifest_stale() -> bool:
    manifest = dbt_project.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [DBT_PROJECT_DIR / "dbt_project.yml", *(DBT_PROJECT_DIR / d for d in ("models", "seeds", "macros", "tests"))]
    return any(p.stat().st_mtime > built for src in sources if src.exists() for p in [src, *src.rglob("*")])


def ensure_manifest() -> Path:
    """Parse the project when its manifest is missing (a fresh clone) or older than any project file."""
    if _manifest_stale():
        os.environ.setdefault("JUNHENG_WAREHOUSE", str(DBT_PROJECT_DIR / "target" / "parse.duckdb"))
        dbt_project.preparer.prepare(dbt_project)
    return dbt_project.manifest_path


class JunhengDbtTranslator(DagsterDbtTranslator):
    """Sources map onto the ingestion and quality assets; models keep `<schema>/<name>` keys."""

    SOURCE_KEYS = {
        ("raw", "census_schools"): CENSUS_KEY,
        ("raw", "county_returns"): RETURNS_KEY,
        ("marts", "submission_flags"): FLAGS_KEY,
    }

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            key = (dbt_resource_props["source_name"], dbt_resource_props["name"])
            if key in self.SOURCE_KEYS:
                return self.SOURCE_KEYS[key]
        schema = dbt_resource_props.get("config", {}).get("schema") or dbt_resource_props.get("schema")
        return dg.AssetKey([schema, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str:
        return "marts" if "marts" in dbt_resource_props.get("fqn", []) else "transform"


TRANSLATOR = JunhengDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


def _point_profile_at(warehouse: WarehouseResource) -> None:
    # profiles.yml reads the file from this variable; the dbt subprocess inherits it.
    os.environ["JUNHENG_WAREHOUSE"] = warehouse.path


@dbt_assets(
    manifest=ensure_manifest(),
    select="resource_type:seed",
    dagster_dbt_translator=TRANSLATOR,
    name="dbt_config",
)
def dbt_config(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    """Thresholds and method constants (seeds): national defaults and provincial overrides."""
    _point_profile_at(warehouse)
    yield from dbt.cli(["seed"], context=context).stream()


@dbt_assets(
    manifest=ensure_manifest(),
    select="tag:per_year",
    exclude="resource_type:seed tag:trend",
    partitions_def=years_partitions,
    # A run over a range of years makes one dbt invocation (one parse) for all of them.
    backfill_policy=dg.BackfillPolicy.single_run(),
    dagster_dbt_translator=TRANSLATOR,
    name="dbt_per_year",
)
def dbt_per_year(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    years = context.partition_key_range
    _point_profile_at(warehouse)
    dbt_vars = {"min_year": int(years.start), "max_year": int(years.end)}
    # Unit tests pin the formulas in CI (tests/test_dbt_project.py); a load runs models and data tests only.
    args = ["build", "--exclude-resource-type", "unit_test", "--vars", json.dumps(dbt_vars)]
    yield from dbt.cli(args, context=context).stream()


@dbt_assets(
    manifest=ensure_manifest(),
    select="tag:trend",
    exclude="resource_type:seed",
    dagster_dbt_translator=TRANSLATOR,
    name="dbt_trends",
)
def dbt_trends(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    _point_profile_at(warehouse)
    yield from dbt.cli(["build", "--exclude-resource-type", "unit_test"], context=context).stream()


dbt_asset_defs = [dbt_config, dbt_per_year, dbt_trends]
