"""The dbt project as Dagster assets: per-year models partitioned by year, trend models over all years.

Per-year models (tag `per_year`) are incremental: a run over years A..B rebuilds only those years' rows. The
window goes to dbt as JUNHENG_MIN_YEAR / JUNHENG_MAX_YEAR in the environment, read by macros/per_year.sql only
while executing: `--vars` are part of dbt's parse state, so every new window would re-parse the whole project.
Trend models (tag `trend`) read the per-year marts of every year and are rebuilt whole; they are small (one row
per county, year, level and indicator).

dbt's parse is paid once per warehouse file, not once per invocation: each invocation hands its partial-parse
state to the next, and `junheng run` parses in the background while the years load
(`lib/dbt_state.BackgroundParse`).
"""

import os
import shutil
import subprocess
from functools import cached_property
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, Mapping

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from junheng.defs.ingestion.assets import CENSUS_KEY, RETURNS_KEY
from junheng.defs.partitions import years_partitions
from junheng.defs.resources import WarehouseResource
from junheng.lib.dbt_state import DBT_EXECUTABLE, DBT_PROJECT_DIR, keep_partial_parse

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
        env = {**os.environ, "JUNHENG_WAREHOUSE": os.environ.get("JUNHENG_WAREHOUSE", str(DBT_PROJECT_DIR / "target" / "parse.duckdb"))}
        subprocess.run(
            [DBT_EXECUTABLE, "parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)],
            cwd=DBT_PROJECT_DIR, env=env, check=True,
        )
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


class JunhengDbtCliResource(DbtCliResource):
    """DbtCliResource without two per-invocation costs we do not use (measured: 6.5 s per invocation).

    dagster-dbt 0.29 runs `dbt --version` in a subprocess and builds a dbt-core adapter in process before
    every invocation; the adapter only serves column-metadata fetching, which these assets do not ask for.
    """

    @cached_property
    def _cli_version(self):
        from packaging.version import parse

        return parse(package_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):  # noqa: ARG002
        return None


def _point_profile_at(warehouse: WarehouseResource) -> None:
    # profiles.yml reads the file from this variable; the dbt subprocess inherits it.
    os.environ["JUNHENG_WAREHOUSE"] = warehouse.path


def _clear_window() -> None:
    for name in ("JUNHENG_MIN_YEAR", "JUNHENG_MAX_YEAR"):
        os.environ.pop(name, None)


def _invoke(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    args: list[str],
    years: tuple[int, int] | None = None,
):
    """Run dbt, then keep its partial-parse state for the next invocation and drop its target folder."""
    _point_profile_at(warehouse)
    # The subprocess inherits the window (macros/per_year.sql); none, not a stray one, means every year.
    _clear_window()
    if years:
        os.environ.update(JUNHENG_MIN_YEAR=str(years[0]), JUNHENG_MAX_YEAR=str(years[1]))
    try:
        invocation = dbt.cli(args, context=context)
        yield from invocation.stream()
    finally:
        _clear_window()
    state = invocation.target_path / "partial_parse.msgpack"
    if state.exists():
        keep_partial_parse(state)
    shutil.rmtree(invocation.target_path, ignore_errors=True)


@dbt_assets(
    manifest=ensure_manifest(),
    select="resource_type:seed",
    dagster_dbt_translator=TRANSLATOR,
    name="dbt_config",
)
def dbt_config(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    """Thresholds and method constants (seeds): national defaults and provincial overrides."""
    yield from _invoke(context, dbt, warehouse, ["seed"])


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
    # Unit tests pin the formulas in CI (tests/test_dbt_project.py); a load runs models and data tests only.
    yield from _invoke(context, dbt, warehouse, ["build", "--exclude-resource-type", "unit_test"],
                       years=(int(years.start), int(years.end)))


@dbt_assets(
    manifest=ensure_manifest(),
    select="tag:trend",
    exclude="resource_type:seed",
    dagster_dbt_translator=TRANSLATOR,
    name="dbt_trends",
)
def dbt_trends(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    yield from _invoke(context, dbt, warehouse, ["build", "--exclude-resource-type", "unit_test"])


dbt_asset_defs = [dbt_config, dbt_per_year, dbt_trends]
