"""The dbt project as Dagster assets: per-year models partitioned by year, seeds and trend models unpartitioned.

Per-year models (tag `per_year`) are incremental: a run over years A..B rebuilds only those years' rows; the window
reaches dbt as the environment variables JUNHENG_MIN_YEAR / JUNHENG_MAX_YEAR (macros/per_year.sql; `--vars` work
too, for dbt on the command line). Trend models (tag `trend`) read the per-year marts of every year and are rebuilt
whole, except the largest, indicator_trend, whose rows of years before A cannot change: it writes A and later.

dbt re-parses the whole project (~6 s) when the --vars or the rendered profile differ from the last parse's. So a load
passes no --vars (the window is in the environment, which dbt reads only when executing) and dbt opens every warehouse
under one name in a working directory of its own (lib/dbt_state.dbt_workdir): the partial-parse state in the
project's target folder (written by `ensure_manifest`'s parse, handed on by each invocation) is the same for every
warehouse, window and concurrent load of a checkout, and a load parses nothing unless the project's files changed.
"""

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import uuid
from functools import cached_property
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, Mapping

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets
from pydantic import PrivateAttr

from junheng.defs.ingestion.assets import CENSUS_KEY, RETURNS_KEY
from junheng.defs.partitions import years_partitions
from junheng.defs.quality.gx_run import prefetch_gx
from junheng.defs.resources import WarehouseResource, steps_of_run
from junheng.lib.dbt_launcher import DbtLauncher, take_early
from junheng.lib.dbt_state import (DBT_EXECUTABLE, DBT_PROJECT_DIR, SETPRIV, dbt_workdir, keep_partial_parse, workdir_env,
                                   workdir_of)

FLAGS_KEY = dg.AssetKey(["marts", "submission_flags"])
# written by defs/planner (Python, one multi-asset), read by the plan marts
PLAN_COUNTIES_KEY = dg.AssetKey(["planner", "plan_counties"])
PLAN_ADDITIONS_KEY = dg.AssetKey(["planner", "plan_additions"])

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
        # the profile as a load renders it (dbt does not open the database to parse), so loads start from this state
        env = {**os.environ, "JUNHENG_DBT_DATABASE": str(DBT_PROJECT_DIR / "target" / "parse.duckdb"), **workdir_env()}
        env.pop("JUNHENG_DBT_CWD", None)
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
        ("planner", "plan_counties"): PLAN_COUNTIES_KEY,
        ("planner", "plan_additions"): PLAN_ADDITIONS_KEY,
    }

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            key = (dbt_resource_props["source_name"], dbt_resource_props["name"])
            if key in self.SOURCE_KEYS:
                return self.SOURCE_KEYS[key]
        schema = dbt_resource_props.get("config", {}).get("schema") or dbt_resource_props.get("schema")
        return dg.AssetKey([schema, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str:
        if "plan" in dbt_resource_props.get("tags", []):
            return "planner"  # built by plan_job with the planner's tables (defs/orchestration)
        return "marts" if "marts" in dbt_resource_props.get("fqn", []) else "transform"


TRANSLATOR = JunhengDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


class JunhengDbtCliResource(DbtCliResource):
    """DbtCliResource without two per-invocation costs these assets do not use (measured: 6.5 s per invocation,
    three invocations per load).

    dagster-dbt 0.29 runs `dbt --version` in a subprocess and builds a dbt-core adapter in process before every
    invocation; the adapter only serves column-metadata fetching, which these assets do not ask for. Both are
    private methods: tests/test_orchestration.py pins their source, so an upgrade that changes them fails there
    instead of silently.
    """

    @cached_property
    def _cli_version(self):
        from packaging.version import parse

        return parse(package_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):  # noqa: ARG002
        return None

    # The run's dbt launcher (lib/dbt_launcher.py): dbt imported once per run instead of once per invocation
    # (~3.6 s each). Started at set-up, so its imports overlap the run's first steps; only for runs with a dbt step.
    # `junheng run` starts it before its own imports (dbt_launcher.start_early), and the set-up takes that one.
    _launcher: DbtLauncher | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        super().setup_for_execution(context)
        if SETPRIV and context.run is not None and any(
                step.key in DBT_STEPS for step in steps_of_run(context.instance, context.run)):
            self._launcher = take_early() or DbtLauncher()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._launcher is not None:
            self._launcher.stop()
            self._launcher = None

    def launcher_env(self) -> dict[str, str]:
        return self._launcher.env() if self._launcher is not None else {}

    def reap(self) -> None:
        """Return when no dbt of this run is running any more."""
        if self._launcher is not None:
            self._launcher.reap()


def _window(context: dg.AssetExecutionContext) -> tuple[int, int] | None:
    tags = context.run.tags
    first = tags.get(ASSET_PARTITION_RANGE_START_TAG) or tags.get("dagster/partition")
    last = tags.get(ASSET_PARTITION_RANGE_END_TAG) or first
    return (int(first), int(last)) if first else None


def window_env(context: dg.AssetExecutionContext) -> dict[str, str]:
    """The run's year partitions as the environment macros/per_year.sql reads (seeds and trends ignore it)."""
    window = _window(context)
    return {"JUNHENG_MIN_YEAR": str(window[0]), "JUNHENG_MAX_YEAR": str(window[1])} if window else {}


@contextlib.contextmanager
def _environ(env: dict[str, str], unset: tuple[str, ...] = ()):
    """os.environ with `env` set and `unset` removed, restored afterwards (dagster-dbt hands dbt os.environ)."""
    saved = {k: os.environ.get(k) for k in (*env, *unset)}
    for k in unset:
        os.environ.pop(k, None)
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _invoke(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    args: list[str],
):
    """Run dbt on the load's copy with the run's window, then keep its partial-parse state for the next invocation
    and drop its target folder."""
    with dbt_workdir(warehouse.path) as env:
        # dbt's artifacts and debug log of this invocation: beside the warehouse (left there when it fails), and
        # absolute (dbt would take a relative log path from its working directory)
        name = f"{context.op_execution_context.op.name}-{context.run.run_id[:7]}-{uuid.uuid4().hex[:7]}"
        target = workdir_of(warehouse.path) / "target" / name
        # profiles.yml and macros/per_year.sql read the environment; it is the dbt subprocess's only, so that no
        # later dbt of this process (the planner's) runs in this working directory.
        launcher = dbt.launcher_env() if isinstance(dbt, JunhengDbtCliResource) else {}
        with _environ({**env, **window_env(context), **launcher}, unset=("JUNHENG_MIN_YEAR", "JUNHENG_MAX_YEAR")):
            invocation = dbt.cli(list(args), context=context, target_path=target)
        try:
            yield from invocation.stream()
        finally:
            # Whatever ended the stream (an error in dagster-dbt's event handling, an interrupt), dbt must not go on
            # writing the copy while the run's checks or tear-down use it.
            if invocation.process.poll() is None:
                invocation.process.kill()
                invocation.process.wait()
            if launcher:
                dbt.reap()  # the dbt the launcher forked for the killed client, too
        state = invocation.target_path / "partial_parse.msgpack"
        if state.exists():
            keep_partial_parse(state)
        shutil.rmtree(invocation.target_path, ignore_errors=True)
        with contextlib.suppress(OSError):
            invocation.target_path.parent.rmdir()


@dbt_assets(
    manifest=ensure_manifest(),
    # the views the quality flags read (tag flags_input: stg_census_schools, int_school_parts) are definitions, not
    # a year's data: created here, unpartitioned, before the flags and the per-year models that read them
    select="resource_type:seed tag:flags_input",
    dagster_dbt_translator=TRANSLATOR,
    name="dbt_config",
)
def dbt_config(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    """Thresholds and method constants (seeds): national defaults and provincial overrides; the census values in
    force and the school parts as views."""
    prefetch_gx()  # the flags step comes next and needs GX: its import overlaps this step's dbt subprocess
    versions = view_data_versions(json.loads(dbt_project.manifest_path.read_text(encoding="utf-8")))
    for event in _invoke(context, dbt, warehouse, ["build", "--exclude-resource-type", "unit_test"]):
        unique_id = event.metadata.get("unique_id") if isinstance(event, dg.Output) else None
        if unique_id is not None and unique_id.text in versions:
            # A view is its definition: recreating it unchanged must not make every year downstream of it stale
            # (Dagster would give it a new data version each load, and the flags of every year not in the run would
            # then be stale: a load of one year would rebuild all of them the next time).
            event = dg.Output(value=event.value, output_name=event.output_name, metadata=event.metadata,
                              data_version=dg.DataVersion(versions[unique_id.text]), tags=event.tags)
        yield event


def view_data_versions(manifest: Mapping[str, Any]) -> dict[str, str]:
    """unique_id -> data version of every view model: a hash of the checksums of the view and of each model and seed
    it reads, directly or not (a change of its SQL or of a seed it reads is a new version; a source's data is not:
    the flags depend on the raw years themselves)."""
    nodes = manifest["nodes"]
    out = {}
    for uid, node in nodes.items():
        if node.get("resource_type") != "model" or node.get("config", {}).get("materialized") != "view":
            continue
        seen, todo = set(), [uid]
        while todo:
            cur = todo.pop()
            if cur in seen or cur not in nodes:  # sources, macros
                continue
            seen.add(cur)
            todo += nodes[cur].get("depends_on", {}).get("nodes", [])
        digest = hashlib.sha256("|".join(f"{n}:{nodes[n]['checksum']['checksum']}" for n in sorted(seen)).encode())
        out[uid] = digest.hexdigest()[:24]
    return out


class RebuildConfig(dg.Config):
    """full_refresh: rebuild every year of the step's incremental models (the per-year marts, indicator_trend) from
    the raw data, after a change of a mart's columns, which `on_schema_change: fail` refuses to apply incrementally
    (`junheng run --full-refresh` sets it for both steps)."""

    full_refresh: bool = False

    def args(self) -> list[str]:
        return ["--full-refresh"] if self.full_refresh else []


@dbt_assets(
    manifest=ensure_manifest(),
    select="tag:per_year",
    exclude="resource_type:seed tag:trend tag:flags_input",
    partitions_def=years_partitions,
    # A run over a range of years makes one dbt invocation (one parse) for all of them.
    backfill_policy=dg.BackfillPolicy.single_run(),
    dagster_dbt_translator=TRANSLATOR,
    name="dbt_per_year",
)
def dbt_per_year(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource,
                 config: RebuildConfig):
    # Unit tests pin the formulas in CI (tests/test_dbt_project.py); a load runs models and data tests only.
    yield from _invoke(context, dbt, warehouse, ["build", "--exclude-resource-type", "unit_test", *config.args()])


@dbt_assets(
    manifest=ensure_manifest(),
    # all-years models, after the per-year ones: rebuilt whole, but indicator_trend from the run's first year on
    # (the rows before it read only years the run did not change)
    select="tag:trend",
    exclude="resource_type:seed tag:plan",
    dagster_dbt_translator=TRANSLATOR,
    name="dbt_trends",
)
def dbt_trends(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource,
               config: RebuildConfig):
    yield from _invoke(context, dbt, warehouse, ["build", "--exclude-resource-type", "unit_test", *config.args()])


@dbt_assets(
    manifest=ensure_manifest(),
    # the plan marts over the planner's tables, rebuilt whole by plan_job after the planner
    select="tag:plan",
    exclude="resource_type:seed",
    dagster_dbt_translator=TRANSLATOR,
    name="dbt_plans",
)
def dbt_plans(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    yield from _invoke(context, dbt, warehouse, ["build", "--exclude-resource-type", "unit_test"])


dbt_asset_defs = [dbt_config, dbt_per_year, dbt_trends, dbt_plans]
DBT_STEPS = {d.op.name for d in dbt_asset_defs}
