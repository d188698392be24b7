"""The warehouse resource: where the files are, which warehouse a load publishes, and the load's private copy.

Every load is one Dagster run (job `load_job`, in-process executor), so the resource's set-up and tear-down bracket
the whole load: set-up takes the warehouse's lock (waiting for, or with `wait=False` refusing to wait for, a load
that holds it), marks a load that died holding it as failed, and makes the private copies; assets write only to
those; the `published_warehouse` asset publishes them; tear-down discards them when nothing was published and
releases the lock. A run that would materialize assets without publishing them is refused at set-up, so the
catalog never shows a materialization that is then thrown away.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import dagster as dg
import duckdb
from pydantic import PrivateAttr

from junheng.lib import warehouse as wh

PUBLISHED_KEY = dg.AssetKey(["published_warehouse"])
WAREHOUSE_TAG = "junheng/warehouse"  # the published file a load run replaces (its run list is per warehouse)
DEFAULT_WAREHOUSE = Path(__file__).resolve().parents[3] / "data" / "junheng.duckdb"


def warehouse_path() -> Path:
    """The published warehouse of this code location: JUNHENG_WAREHOUSE, else data/junheng.duckdb."""
    return Path(os.environ.get("JUNHENG_WAREHOUSE", str(DEFAULT_WAREHOUSE))).resolve()
LIVE_STATUSES = (dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.NOT_STARTED,
                 dg.DagsterRunStatus.CANCELING)


def launched_by(tags: dict[str, str]) -> str:
    """Who started a run, as the lock and the run list show it."""
    if "dagster/sensor_name" in tags:
        return f"sensor {tags['dagster/sensor_name']}"
    if "dagster/schedule_name" in tags:
        return f"schedule {tags['dagster/schedule_name']}"
    return tags.get("junheng/launched_by", "Dagster UI / API")


class WarehouseResource(dg.ConfigurableResource):
    """The published DuckDB file a load replaces, and the data directory it reads.

    Assets see `path` (the load's private copy) and `docs_dir` (its Data Docs); never the published file."""

    published: str
    data_dir: str
    wait: bool = True  # False: a load that finds another one running fails at once, naming it

    _lock: wh.LoadLock | None = PrivateAttr(default=None)
    _run_id: str | None = PrivateAttr(default=None)
    _work: Path | None = PrivateAttr(default=None)
    _docs: Path | None = PrivateAttr(default=None)
    _done: bool = PrivateAttr(default=False)
    _log: object = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        run = context.run
        if run is None:  # direct invocation (tests of one asset): work on the file itself
            return
        materializes = _assets_of_run(context.instance, run)
        if not materializes:
            return  # checks alone: they read the published file
        if PUBLISHED_KEY not in materializes:
            raise dg.Failure(
                description=(
                    "只物化部分资产而不发布，结果会被丢弃：请连同 published_warehouse 一起物化，或运行 load_job。/ "
                    "Materializing assets without published_warehouse would be thrown away: include "
                    "published_warehouse in the selection, or launch load_job."),
                allow_retries=False)
        published = Path(self.published)
        self._lock = wh.LoadLock(published)

        def waiting(holder: dict) -> None:
            message = holder.get("message") or wh.describe_holder(holder)
            context.log.warning(message)
            print(message, file=sys.stderr, flush=True)

        try:
            previous = self._lock.acquire(wh.holder_record(run.run_id, launched_by(dict(run.tags))),
                                          wait=self.wait, on_wait=waiting)
        except wh.WarehouseBusy as busy:
            self._lock = None
            raise dg.Failure(description=f"{busy} —— 未等待（--no-wait）/ not waiting (--no-wait)",
                             allow_retries=False) from None
        _fail_dead_run(context.instance, previous, run.run_id)
        self._run_id = run.run_id
        self._log = context.log
        try:
            wh.wait_for_no_writer(published, self.wait, on_wait=lambda m: waiting({"message": m}))
            self._work, self._docs = wh.begin_build(published, run.run_id)
        except (wh.WarehouseBusy, OSError) as error:
            self.teardown_after_execution(context)
            raise dg.Failure(description=str(error), allow_retries=False) from None

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._lock is None:
            return
        try:
            if not self._done and self._run_id:
                wh.abandon_build(Path(self.published), self._run_id)
                retract_materializations(
                    context.instance, context.run,
                    "运行未发布，本次物化已丢弃，分析人员看到的仍是此前发布的仓库 / the run did not publish: this "
                    "materialization was discarded, analysts still read the previously published warehouse")
        finally:
            self._lock.release()
            self._lock = None

    @property
    def path(self) -> str:
        """The file assets read and write: the load's private copy (the published file outside a load)."""
        return str(self._work or self.published)

    @property
    def docs_dir(self) -> Path:
        return self._docs or wh.docs_link(Path(self.published))

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        read_only = read_only or self._work is None  # outside a load: never write the published file
        # The copy got the raw schema (and its comments) once, in begin_build: not again on every connection.
        with wh.connect(Path(self.path), read_only=read_only) as conn:
            yield conn

    def publish(self) -> Path | None:
        if self._work is None or self._run_id is None:
            raise dg.Failure(description="no load in progress: nothing to publish", allow_retries=False)
        published = Path(self.published)

        def waiting(message: str) -> None:
            self._log.warning(message) if self._log else None
            print(message, file=sys.stderr, flush=True)

        try:
            wh.wait_for_no_writer(published, self.wait, on_wait=waiting)
        except wh.WarehouseBusy as busy:
            raise dg.Failure(description=str(busy), allow_retries=False) from None
        aside = wh.publish(published, self._run_id)
        self._done = True
        return aside


def retract_materializations(instance: dg.DagsterInstance | None, run: dg.DagsterRun | None, reason: str) -> None:
    """Say in the catalog that what a run materialized before it ended without publishing was thrown away: an
    observation on each such asset partition, after the materialization, naming the run and the reason. (Dagster's
    "failed to materialize" events would be the natural mark, but its SQLite storage does not keep them.)"""
    if instance is None or run is None:
        return
    for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        mat = record.asset_materialization
        instance.report_runless_asset_event(dg.AssetObservation(
            asset_key=mat.asset_key, partition=mat.partition, description=reason,
            metadata={"discarded": True, "discarded_run": run.run_id}))


def steps_of_run(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list:
    """The steps the run will execute (its execution plan, as Dagster stored it)."""
    plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    steps = set(run.step_keys_to_execute) if run.step_keys_to_execute else None
    return [step for step in plan.steps if steps is None or step.key in steps]


def _assets_of_run(instance: dg.DagsterInstance, run: dg.DagsterRun) -> set[dg.AssetKey]:
    """The assets the run's steps will materialize."""
    return {o.properties.asset_key for step in steps_of_run(instance, run)
            for o in step.outputs if o.properties is not None and o.properties.asset_key is not None}


def _fail_dead_run(instance: dg.DagsterInstance | None, previous: dict, current: str) -> None:
    """A load that held the lock and is gone (killed, machine restarted) is recorded as failed, with why."""
    dead = previous.get("run_id")
    if not instance or not dead or dead == current:
        return
    run = instance.get_run_by_id(dead)
    if run is not None and run.status in LIVE_STATUSES:
        retract_materializations(instance, run, "入库进程未完成即终止，本次物化已丢弃 / the load process died: this "
                                                "materialization was discarded, nothing was published")
        instance.report_run_failed(
            run,
            message=(f"入库进程 {previous.get('pid')}@{previous.get('host')} 未完成即终止（被杀死或机器重启），未发布任何内容 / "
                     f"the load process {previous.get('pid')} on {previous.get('host')} ended without finishing "
                     f"(killed or machine restarted); nothing was published. Noticed by run {current}."),
        )
