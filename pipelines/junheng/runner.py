"""What `junheng run` does: launch `load_job` for the requested years on the persistent Dagster instance beside the
warehouse, the same job the schedule, the sensor and the UI launch, and read its outcome back from that instance
(`junheng runs` reads every load the same way). Exit codes: 0 everything requested loaded and published; 1 something
was refused or failed; 2 wrong usage (cli.py).
"""

from __future__ import annotations

import getpass
import os
import socket
import time
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

from junheng.lib.ingest import available_years
from junheng.lib.ingest.submission import stray_entries
from junheng.lib.dbt_launcher import start_early
from junheng.lib.instance import instance_for
from junheng.lib.warehouse import loaded_years

RAW_KEY = ("raw", "census_schools")
FLAGS_KEY = ("marts", "submission_flags")
PUBLISHED_KEY = ("published_warehouse",)
PLAN_KEY = ("planner", "plan_counties")


@dataclass
class RunReport:
    run_id: str
    started_at: str
    data_dir: str
    warehouse: str
    requested: list[int]
    status: str = ""
    launched_by: str = ""
    loaded: list[int] = field(default_factory=list)
    refused: dict[int, list[dict]] = field(default_factory=dict)  # year → problems (file, row, column, message)
    stray: list[dict] = field(default_factory=list)  # entries of the data directory that no year reads
    failed: dict[str, str] = field(default_factory=dict)  # step → error
    recomputed: list[int] = field(default_factory=list)  # years after a reloaded year: flags and marts rebuilt
    published: bool = False
    flags: dict[str, int] = field(default_factory=dict)  # severity → count over the run's years
    data_docs: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    steps: dict[str, float] = field(default_factory=dict)  # Dagster step → seconds (ingest, flags, dbt, publish)
    log: str | None = None  # Dagster's event log and dbt's output of this run
    job: str = "load_job"
    plans: dict[int, dict] = field(default_factory=dict)  # plan_job: year → the planner's summary of that year
    plan_run: "RunReport | None" = None  # the plan_job run that followed this load (junheng run)

    @property
    def exit_code(self) -> int:
        ok = self.published and not self.refused and not self.failed and not self.stray
        return 0 if ok and (self.plan_run is None or self.plan_run.exit_code == 0) else 1


def run_log_path(warehouse: Path, run_id: str) -> Path:
    return warehouse.with_name(warehouse.name + ".logs") / f"{run_id}.log"


def _problem(year: int, message: str) -> dict:
    return {"file": f"census/{year}/", "row": None, "column": None, "message": message}


def execute(job_name: str, data_dir: Path, warehouse: Path, tags: dict[str, str], ops: dict, wait: bool,
            by: str, log_path: Path) -> str:
    """Run `job_name` in this process on the warehouse's persistent instance (the job the schedule, the sensors and
    the UI launch); Dagster's events go to the instance, dbt's output to `log_path`. Returns the run id."""
    from junheng.definitions import defs

    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8") as log, redirect_stdout(log):
        result = defs.resolve_job_def(job_name).execute_in_process(
            instance=instance_for(warehouse),
            raise_on_error=False,
            tags={**tags, "junheng/launched_by": by, "junheng/log": str(log_path)},
            run_config={
                "ops": ops,
                "resources": {"warehouse": {"config": {"published": str(warehouse), "data_dir": str(data_dir),
                                                       "wait": wait}}},
                # The console shows the summary (cli.py) and a wait; the run's events are in the instance (UI).
                "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
            },
        )
    return result.run_id


def plan_outdated(data_dir: Path, warehouse: Path, wait: bool, by: str, log_path: Path,
                  progress=print) -> RunReport | None:
    """After a load: plan_job over the years whose plans Dagster reports missing or stale (the question plans_sensor
    asks too); None when every plan is current."""
    from junheng.defs.orchestration import plan_request
    from junheng.definitions import defs

    instance = instance_for(warehouse)
    request = plan_request(instance, defs.get_repository_def().asset_graph, warehouse)
    if request is None:
        return None
    progress(f"{min(request.years)}–{max(request.years)}: 求解达标所需投入方案 / planning")
    run_id = execute("plan_job", data_dir, warehouse, request.tags, {}, wait, by, log_path)
    return report_from_run(instance, run_id)


def by_whom(command: str) -> str:
    return f"{command} ({getpass.getuser()}@{socket.gethostname()}, pid {os.getpid()})"


def new_log_path(warehouse: Path) -> Path:
    return run_log_path(warehouse, f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")


def run(data_dir: Path, warehouse: Path, years: list[int] | None = None, wait: bool = True,
        progress=print, full_refresh: bool = False, plans: bool = True) -> RunReport:
    data_dir, warehouse = data_dir.resolve(), warehouse.resolve()
    requested = sorted(set(years)) if years else available_years(data_dir)
    report = RunReport(run_id="", started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"), data_dir=str(data_dir),
                       warehouse=str(warehouse), requested=requested,
                       stray=[p.to_dict() for p in stray_entries(data_dir)])
    if not requested:
        report.failed["years"] = f"{data_dir}/census/ 下没有任何年度文件夹 / no year folders under census/"
        return report
    # The code location reads its folders from the environment (definitions.py); this process loads one warehouse.
    os.environ["JUNHENG_DATA_DIR"], os.environ["JUNHENG_WAREHOUSE"] = str(data_dir), str(warehouse)
    start_early()  # the load's dbt launcher imports dbt beside the imports below (lib/dbt_launcher.py)
    from junheng.defs.orchestration import YearOutsidePartitions, load_request, stale_years
    from junheng.defs.partitions import year_keys
    from junheng.definitions import defs

    keys = year_keys()
    for year in [y for y in requested if y not in keys]:
        report.refused[year] = [_problem(year, f"年度不在可入库范围 {keys[0]}–{keys[-1]} / year outside the loadable "
                                               f"years {keys[0]}–{keys[-1]} (first census folder to this year)")]
    inside = [y for y in requested if y in keys]
    if not inside:
        return report
    instance = instance_for(warehouse)
    # Years whose flags read a year reloaded without them (Dagster: stale) are rebuilt by this load too.
    stale = stale_years(instance, defs.get_repository_def().asset_graph, loaded_years(warehouse))
    try:
        request = load_request(inside, warehouse, stale=stale)
    except YearOutsidePartitions as outside:  # guarded above; kept for a clear message if the window moves
        report.failed["years"] = str(outside)
        return report
    by = by_whom("junheng run")
    progress(f"{request.first}–{request.last}: 入库 / loading {', '.join(map(str, request.years))}"
             + (f"; 重算 / rebuilding {', '.join(map(str, request.rebuilt))}" if request.rebuilt else ""))
    log_path = new_log_path(warehouse)
    run_id = execute("load_job", data_dir, warehouse, request.tags,
                     {**request.run_config["ops"], **{step: {"config": {"full_refresh": full_refresh}}
                                                      for step in ("dbt_per_year", "dbt_trends")}},
                     wait, by, log_path)
    outcome = report_from_run(instance, run_id)
    outcome.refused = {**report.refused, **outcome.refused}
    outcome.stray = report.stray
    if plans and outcome.published:
        try:
            outcome.plan_run = plan_outdated(data_dir, warehouse, wait, by, log_path, progress)
        except KeyboardInterrupt:  # the figures are published: say that only the plans were not
            outcome.failed["plan_job"] = ("已中断：数据已发布，投入方案未更新 / interrupted: the figures were published, "
                                          "the plans were not (junheng run --plans-only)")
    return outcome


def plan(data_dir: Path, warehouse: Path, wait: bool = True, progress=print) -> RunReport | None:
    """`junheng run --plans-only`: plan_job for the years whose plans are missing or out of date."""
    data_dir, warehouse = data_dir.resolve(), warehouse.resolve()
    os.environ["JUNHENG_DATA_DIR"], os.environ["JUNHENG_WAREHOUSE"] = str(data_dir), str(warehouse)
    return plan_outdated(data_dir, warehouse, wait, by_whom("junheng run --plans-only"), new_log_path(warehouse),
                         progress)


def report_from_run(instance, run_id: str) -> RunReport:
    """A load's outcome as Dagster recorded it: materializations and their metadata, step failures, timings."""
    import dagster as dg

    record = instance.get_run_record_by_id(run_id)
    run = record.dagster_run
    tags = run.tags
    resources = (run.run_config or {}).get("resources", {}).get("warehouse", {}).get("config", {})
    requested = [int(y) for y in tags.get("junheng/requested_years", "").split(",") if y]
    report = RunReport(
        run_id=run_id,
        started_at=_iso(record.start_time or record.create_timestamp.timestamp()),
        data_dir=resources.get("data_dir", ""),
        warehouse=resources.get("published", tags.get("junheng/warehouse", "")),
        requested=requested,
        status=run.status.value,
        launched_by=tags.get("junheng/launched_by") or next(
            (f"{k.split('/')[1].split('_')[0]} {v}" for k, v in tags.items()
             if k in ("dagster/sensor_name", "dagster/schedule_name")), "Dagster UI / API"),
        log=tags.get("junheng/log"),
        job=run.job_name,
    )
    flags: dict[str, int] = {}
    for event in instance.all_logs(run_id):
        dagster_event = event.dagster_event
        if dagster_event is None:
            continue
        if dagster_event.is_step_materialization:
            mat = dagster_event.step_materialization_data.materialization
            key, md = tuple(mat.asset_key.path), mat.metadata
            status = md["status"].value if "status" in md else None
            if key == RAW_KEY and mat.partition:
                year = int(mat.partition)
                if status == "loaded":
                    report.loaded.append(year)
                elif status == "refused":
                    report.refused[year] = list(md["problems"].value)
                elif status == "kept":
                    report.recomputed.append(year)
            elif key == FLAGS_KEY and mat.partition:
                for severity, name in (("warning", "warnings"), ("info", "infos")):
                    if name in md:
                        flags[severity] = flags.get(severity, 0) + int(md[name].value)
            elif key == PLAN_KEY and mat.partition:
                report.plans[int(mat.partition)] = {k: v.value for k, v in md.items()}
            elif key == PUBLISHED_KEY:
                report.published = True
                if "data_docs" in md:
                    report.data_docs = md["data_docs"].value
        elif dagster_event.is_step_failure and dagster_event.step_key not in report.failed:
            error = dagster_event.step_failure_data.error
            user = dagster_event.step_failure_data.user_failure_data
            if user and "refused" in user.metadata:  # every requested year refused: a refusal, not a failure
                report.refused.update({int(y): list(p) for y, p in user.metadata["refused"].value.items()})
                continue
            report.failed[dagster_event.step_key] = (
                user.description if user and user.description else _root_cause(error))
        elif dagster_event.event_type == dg.DagsterEventType.RUN_FAILURE and not report.failed and not report.refused:
            # e.g. the warehouse resource refused to start (another load, a read-write holder): its reason
            error = getattr(dagster_event.event_specific_data, "error", None)
            report.failed["run"] = _root_cause(error) if error else (event.message or "run failed").strip()
    if run.status != dg.DagsterRunStatus.SUCCESS and not report.failed and not report.refused:
        report.failed["run"] = f"run {run.status.value}"
    report.flags = flags
    if record.start_time and record.end_time:
        report.seconds["total"] = round(record.end_time - record.start_time, 2)
    for stats in instance.get_run_step_stats(run_id):
        if stats.start_time and stats.end_time:
            report.steps[stats.step_key] = round(stats.end_time - stats.start_time, 2)
    return report


def _root_cause(error) -> str:
    """The innermost error of a step failure (e.g. "No space left on device"), not Dagster's wrapper nor an error
    raised while handling it (a failed rollback after a failed commit)."""
    if error is None:
        return "step failed"
    while (error.cause or error.context) is not None:
        error = error.cause or error.context
    message = error.message.strip()
    if error.cls_name == "Failure":  # raised by our own code with a message for the user: the message alone
        return message.split(": ", 1)[-1]
    return f"{error.cls_name}: {message}" if error.cls_name else message


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(ts))


def read_runs(warehouse: Path, last: int = 10) -> list[RunReport]:
    """The runs of this warehouse recorded in its Dagster instance (loads and plan runs), oldest first."""
    import dagster as dg

    warehouse = warehouse.resolve()
    home = instance_for(warehouse)
    runs = home.get_runs(filters=dg.RunsFilter(tags={"junheng/warehouse": str(warehouse)}), limit=last)
    return [report_from_run(home, r.run_id) for r in reversed(list(runs))]
