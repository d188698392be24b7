"""How loads are asked for: one job, `load_job`, over a range of year partitions, launched the same way by the
command line (runner.py), the yearly schedule, the file sensor and the UI.

A load of years R is one run over the partitions min(R)..max(R + the years whose flags read them): the requested years
are read from their files, the others of the range are kept and get their flags and marts rebuilt. The instance's
run queue admits one load at a time (tag `junheng/load`, dagster.yaml written by lib/instance.py); the warehouse's
file lock (lib/warehouse.py) serialises loads from other processes and instances too.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from junheng.defs.partitions import affected_years, data_dir, year_keys
from junheng.defs.resources import WAREHOUSE_TAG, warehouse_path
from junheng.lib.ingest.submission import stray_entries
from junheng.lib.warehouse import loaded_years
from junheng.lib.ingest.submission import SUFFIXES

LOAD_TAG = "junheng/load"  # every load run carries it; the run queue admits one at a time (lib/instance.py)
REQUESTED_TAG = "junheng/requested_years"
# 1 December, after the autumn census closes; override with JUNHENG_SCHEDULE_CRON.
DEFAULT_CRON = "0 6 1 12 *"

PLANNER_GROUP = "planner"  # the investment planner's assets and the plan marts (defs/planner, dbt tag plan)
PUBLISH_SELECTION = dg.AssetSelection.assets(dg.AssetKey(["published_warehouse"]))

load_job = dg.define_asset_job(
    "load_job",
    # Everything but the planner: figures are published as soon as they are computed; plans follow in plan_job.
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups(PLANNER_GROUP),
    executor_def=dg.in_process_executor,  # one process per load: the lock and the private copy live in it
    tags={LOAD_TAG: "warehouse"},
    description=(
        "入库并发布：读取并校验年度文件、质量标记、指标与评估（dbt）、趋势、原子发布 / load years and publish: files, "
        "quality flags, per-year marts (dbt), trends, atomic publish"
    ),
)

plan_job = dg.define_asset_job(
    "plan_job",
    selection=dg.AssetSelection.groups(PLANNER_GROUP) | PUBLISH_SELECTION,
    executor_def=dg.in_process_executor,
    # a plan run writes the warehouse too: the same lock, the same queue slot as a load
    tags={LOAD_TAG: "warehouse"},
    description=(
        "达标所需投入方案并发布：为未达到资源配置要求的县求最低成本方案，由官方模型复核后发布 / plan and publish: the "
        "least-cost plan of every county not meeting §4.1, verified by the official dbt models, then published"
    ),
)


class YearOutsidePartitions(ValueError):
    pass


def _run_tags(first: int, last: int, years, warehouse: str) -> dict[str, str]:
    """The tags of a load or plan run: its partition range, the years asked for, the warehouse it writes (and so the
    lock and queue slot it takes)."""
    return {ASSET_PARTITION_RANGE_START_TAG: str(first), ASSET_PARTITION_RANGE_END_TAG: str(last),
            REQUESTED_TAG: ",".join(map(str, years)), LOAD_TAG: "warehouse", WAREHOUSE_TAG: warehouse}


@dataclass(frozen=True)
class LoadRequest:
    """The run a load of `years` needs: its partition range, the years read from files, and the run's tags."""

    years: tuple[int, ...]
    first: int
    last: int
    warehouse: str

    @property
    def tags(self) -> dict[str, str]:
        return _run_tags(self.first, self.last, self.years, self.warehouse)

    @property
    def run_config(self) -> dict:
        return {"ops": {"raw_year_files": {"config": {"years": list(self.years)}}}}

    @property
    def rebuilt(self) -> list[int]:
        return [y for y in range(self.first, self.last + 1) if y not in self.years]


def stale_years(instance: dg.DagsterInstance, asset_graph, years: list[int]) -> list[int]:
    """The years among `years` whose quality flags Dagster reports stale: a year they read (YEAR_OVER_YEAR) was
    reloaded by a run that did not rebuild them (e.g. raw data materialized from the UI). A load rebuilds them."""
    from dagster._core.definitions.data_version import StaleStatus

    flags = dg.AssetKey(["marts", "submission_flags"])
    resolver = _stale_resolver(instance, asset_graph)
    return [y for y in years if resolver.get_status(flags, str(y)) == StaleStatus.STALE]


def _stale_resolver(instance: dg.DagsterInstance, asset_graph):
    from dagster._core.definitions.data_version import CachingStaleStatusResolver
    from dagster._core.loader import LoadingContext

    class _Loading(LoadingContext):  # the resolver's batch loaders, bound to the instance
        def __init__(self, inst):
            self._instance, self._loaders = inst, {}

        @property
        def instance(self):
            return self._instance

        @property
        def loaders(self):
            return self._loaders

    return CachingStaleStatusResolver(instance, asset_graph, _Loading(instance))


def load_request(years: list[int], warehouse: Path | None = None, stale: list[int] = ()) -> LoadRequest:
    """The range that loads `years` and rebuilds the years after them that the warehouse holds, and any `stale`
    year. Raises YearOutsidePartitions for a year that is not a partition (before the first submitted year, or in
    the future)."""
    keys = year_keys()
    outside = sorted(y for y in years if y not in keys)
    if outside:
        raise YearOutsidePartitions(
            f"年度 {outside} 不在可入库的年度 {keys[0]}–{keys[-1]} 之内 / year(s) {outside} outside the loadable years "
            f"{keys[0]}–{keys[-1]} (the first year with a census folder to the current year)")
    warehouse = warehouse or warehouse_path()
    held = set(loaded_years(warehouse))
    span = [y for y in affected_years(years) if y in held or y <= max(years)] + list(stale)
    return LoadRequest(tuple(sorted(set(years))), min(span), max(span), str(warehouse))


PLAN_KEY = dg.AssetKey(["planner", "plan_counties"])
PLAN_DIGEST_TAG = "junheng/plans_for"  # which figures a plan run plans from (plans_sensor)
COUNTY_BALANCE_KEY = dg.AssetKey(["marts", "county_balance"])


@dataclass(frozen=True)
class PlanRequest:
    """The plan_job run for the years whose plans are missing or out of date (one range of partitions)."""

    years: tuple[int, ...]
    warehouse: str

    @property
    def tags(self) -> dict[str, str]:
        return _run_tags(min(self.years), max(self.years), self.years, self.warehouse)


def plan_request(instance: dg.DagsterInstance, asset_graph, warehouse: Path | None = None) -> PlanRequest | None:
    """The years of the published warehouse whose plans Dagster reports missing or stale (their county figures were
    rebuilt after the plans were made), as one plan_job run over their range; None when every plan is current. The
    command line (after a load) and plans_sensor (after any load: the UI's, the schedule's, an import's) ask the same
    question, so whichever comes first plans and the other finds nothing to do."""
    from dagster._core.definitions.data_version import StaleStatus

    warehouse = warehouse or warehouse_path()
    keys = set(year_keys())
    resolver = _stale_resolver(instance, asset_graph)
    years = [y for y in loaded_years(warehouse) if y in keys
             and resolver.get_status(PLAN_KEY, str(y)) in (StaleStatus.MISSING, StaleStatus.STALE)]
    return PlanRequest(tuple(years), str(warehouse)) if years else None


def statistical_year(now: datetime) -> int:
    """The census that closes in the autumn of year Y is statistical year Y."""
    return now.year if now.month >= 9 else now.year - 1


@dg.schedule(
    job=load_job,
    cron_schedule=os.environ.get("JUNHENG_SCHEDULE_CRON", DEFAULT_CRON),
    execution_timezone="Asia/Shanghai",
    description="每年定时入库新年度（默认12月1日）/ yearly load of the new statistical year (default 1 December)",
)
def yearly_census_schedule(context: dg.ScheduleEvaluationContext):
    year = statistical_year(context.scheduled_execution_time)
    try:
        request = load_request([year])
    except YearOutsidePartitions as outside:
        return dg.SkipReason(str(outside))
    return dg.RunRequest(run_key=f"scheduled-{year}", run_config=request.run_config, tags=request.tags)


def year_fingerprints(root: Path) -> dict[str, str]:
    """Per year, a digest of every submitted file's name, size and modification time (both datasets)."""
    files: dict[str, list[str]] = {}
    for dataset in ("census", "county_returns"):
        base = root / dataset
        if not base.is_dir():
            continue
        for year_dir in base.iterdir():
            if not (year_dir.is_dir() and year_dir.name.isdigit()):
                continue
            for f in year_dir.iterdir():
                if f.is_file() and f.suffix.lower() in SUFFIXES:
                    st = f.stat()
                    files.setdefault(year_dir.name, []).append(f"{dataset}/{f.name}:{st.st_size}:{st.st_mtime_ns}")
    return {y: hashlib.sha256("\n".join(sorted(v)).encode()).hexdigest()[:16] for y, v in files.items()}


FINGERPRINTS_TAG = "junheng/fingerprints"
# a run in one of these states may still write: the sensors ask for nothing while such a run is there
LIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
MAX_ATTEMPTS = 3  # a load that fails (not a refusal: that is an answer) is retried at most this often per version


def _sensor_runs(instance: dg.DagsterInstance, statuses) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(
        job_name="load_job", statuses=statuses, tags={"dagster/sensor_name": "census_files_sensor"}), limit=50))


@dg.sensor(
    job=load_job,
    minimum_interval_seconds=60,
    description=("发现 census/<年度>/ 或 county_returns/<年度>/ 下新增或变更的文件即入库这些年度（一次运行）/ "
                 "load the years whose files are new or changed, in one run; a failed load is retried"),
)
def census_files_sensor(context: dg.SensorEvaluationContext):
    """The cursor holds, per year, the file fingerprint a finished load answered (loaded or refused). A load that
    failed (killed, crashed) answered nothing, so its years are asked again at the next tick, up to MAX_ATTEMPTS
    times for the same files; while a load requested by this sensor is queued or running, nothing more is asked."""
    done = json.loads(context.cursor) if context.cursor else {}
    if _sensor_runs(context.instance, LIVE):
        return dg.SkipReason("上一次入库仍在进行 / a load this sensor asked for is still queued or running")
    failures: dict[str, int] = {}
    finished = _sensor_runs(context.instance, [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE,
                                              dg.DagsterRunStatus.CANCELED])
    for run in reversed(finished):  # oldest first: the newest answer for a year wins
        asked = json.loads(run.tags.get(FINGERPRINTS_TAG, "{}"))
        if run.status == dg.DagsterRunStatus.SUCCESS:
            done.update(asked)
        else:
            for y, fp in asked.items():
                failures[f"{y}:{fp}"] = failures.get(f"{y}:{fp}", 0) + 1
    current = year_fingerprints(data_dir())
    keys = set(map(str, year_keys()))
    outside = sorted(y for y in current if y not in keys)
    changed = sorted(y for y, fp in current.items() if done.get(y) != fp and y in keys
                     and failures.get(f"{y}:{fp}", 0) < MAX_ATTEMPTS)
    context.update_cursor(json.dumps(done, sort_keys=True))
    if outside:
        context.log.warning(f"不是可入库年度的文件夹 / folders outside the loadable years: {outside}")
    for problem in stray_entries(data_dir()):
        context.log.warning(str(problem))
    if not changed:
        return dg.SkipReason("没有新的或变更的年度文件 / no new or changed files")
    request = load_request([int(y) for y in changed])
    fingerprints = json.dumps({y: current[y] for y in changed}, sort_keys=True)
    return dg.RunRequest(
        run_key=f"files-{hashlib.sha256(fingerprints.encode()).hexdigest()[:16]}-"
                f"{max(failures.get(f'{y}:{current[y]}', 0) for y in changed)}",
        run_config=request.run_config,
        tags={**request.tags, FINGERPRINTS_TAG: fingerprints},
    )


def _live_writer_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(statuses=LIVE, tags={LOAD_TAG: "warehouse"}), limit=5))


@dg.sensor(
    job=plan_job,
    minimum_interval_seconds=60,
    description=("入库后为方案缺失或过期的年度求解达标所需投入方案（一次运行）/ after a load, plan the years whose "
                 "investment plans are missing or out of date, in one run; a failed plan run is retried"),
)
def plans_sensor(context: dg.SensorEvaluationContext):
    """Plans follow the figures: whenever a year's county figures were rebuilt after its plans (any load: the
    CLI's, the file sensor's, the schedule's, an import's, the UI's), the years concerned are planned again. Nothing
    is asked while a load or plan run is queued or running; the same request is retried at most MAX_ATTEMPTS times."""
    if _live_writer_runs(context.instance):
        return dg.SkipReason("入库或方案运行仍在进行 / a load or plan run is still queued or running")
    request = plan_request(context.instance, context.repository_def.asset_graph)
    if request is None:
        return dg.SkipReason("所有年度的方案都是最新的 / every year's plans are current")
    # A request is identified by the figures it plans from (the latest county_balance materialization of each year),
    # and by how often a plan run for exactly these figures failed: a new load asks anew, a failure is retried.
    marks = []
    for y in request.years:
        found = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=COUNTY_BALANCE_KEY, asset_partitions=[str(y)]), limit=1).records
        marks.append(f"{y}:{found[0].storage_id if found else 0}")
    digest = hashlib.sha256(",".join(marks).encode()).hexdigest()[:16]
    failed = [r for r in context.instance.get_runs(filters=dg.RunsFilter(
        job_name="plan_job", statuses=[dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED],
        tags={PLAN_DIGEST_TAG: digest}), limit=MAX_ATTEMPTS)]
    if len(failed) >= MAX_ATTEMPTS:
        return dg.SkipReason(f"方案运行已失败 {len(failed)} 次，不再重试 / the plan run for these figures failed "
                             f"{len(failed)} times; not retried (see the runs, then launch plan_job by hand)")
    return dg.RunRequest(run_key=f"plans-{digest}-{len(failed)}", tags={**request.tags, PLAN_DIGEST_TAG: digest})


orchestration_defs = dg.Definitions(
    jobs=[load_job, plan_job],
    schedules=[yearly_census_schedule],
    sensors=[census_files_sensor, plans_sensor],
)
