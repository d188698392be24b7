"""What `junheng run` (and the schedule and sensor) do: load years through the Dagster asset graph on a
private copy of the warehouse, publish it atomically, and keep a record of the run.

Order: per requested year, one Dagster run of its partition: files → raw tables → quality flags (which
also recompute the year-over-year flags of the year after) → thresholds (dbt seeds) → one run over the
range of loaded years (and the year after each): per-year marts in a single dbt invocation → trend marts →
publish. A refused year is left as it was; the others are published. Any other failure publishes nothing.
"""

from __future__ import annotations

import ctypes
import gc
import json
import time
from contextlib import redirect_stderr, redirect_stdout
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from junheng.lib import warehouse as wh
from junheng.lib.dbt_state import BackgroundParse
from junheng.lib.ingest import available_years


@dataclass
class RunReport:
    run_id: str
    started_at: str
    data_dir: str
    warehouse: str
    requested: list[int]
    loaded: list[int] = field(default_factory=list)
    refused: dict[int, list[dict]] = field(default_factory=dict)  # year → problems (file, row, column, message)
    failed: dict[str, str] = field(default_factory=dict)  # step → error
    recomputed: list[int] = field(default_factory=list)  # years after a reloaded year: flags and marts rebuilt
    published: bool = False
    flags: dict[str, int] = field(default_factory=dict)  # severity → count over the loaded years
    data_docs: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    steps: dict[str, float] = field(default_factory=dict)  # Dagster step (op) → seconds, summed over the run
    log: str | None = None  # dbt output and the Dagster event log of this run

    @property
    def exit_code(self) -> int:
        return 0 if self.published and not self.refused and not self.failed else 1


def runs_log_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".runs.jsonl")


def run_log_path(warehouse: Path, run_id: str) -> Path:
    return warehouse.with_name(warehouse.name + ".logs") / f"{run_id}.log"


def _failure(result: dg.ExecuteInProcessResult) -> tuple[list[dict] | None, str]:
    """The refusal problems when ingestion refused the year, else the first error text."""
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            user = data.user_failure_data
            if user is not None and "problems" in user.metadata:
                return list(user.metadata["problems"].value), user.description or ""
            return None, data.error.message.strip() if data.error else "step failed"
    for check in result.get_asset_check_evaluations():
        if not check.passed:
            return None, f"blocking check {check.check_name} failed: {check.metadata}"
    return None, "run failed"


def run(
    data_dir: Path,
    warehouse: Path,
    years: list[int] | None = None,
    progress: Callable[[str], None] = print,
    instance: dg.DagsterInstance | None = None,
) -> RunReport:
    data_dir, warehouse = data_dir.resolve(), warehouse.resolve()
    report = RunReport(
        run_id=uuid.uuid4().hex[:12],
        started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        data_dir=str(data_dir),
        warehouse=str(warehouse),
        requested=sorted(set(years)) if years else available_years(data_dir),
    )
    if not report.requested:
        report.failed["years"] = f"{data_dir}/census/ 下没有任何年度文件夹 / no year folders under census/"
        _record(report, warehouse)
        return report

    t0 = time.perf_counter()
    # dbt's full parse of the project (seconds) runs on the other core while Dagster loads and the years load.
    parse = BackgroundParse(wh.building_path(warehouse))
    try:
        from junheng.definitions import build_defs  # loads the dbt manifest: only when there is work to do
        from junheng.defs.quality.assets import docs_root
        from junheng.defs.quality.flags import BASELINES

        work = wh.begin_build(warehouse)
        with wh.connect(work) as conn:
            before = {y for (y,) in conn.execute("select distinct year from raw.census_schools").fetchall()}
        defs = build_defs(work, data_dir)
    except BaseException:
        parse.cancel()
        raise
    log_path = run_log_path(warehouse, report.run_id)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    report.log = str(log_path)
    instance = instance or dg.DagsterInstance.ephemeral()

    def execute(
        job: str, partition: str | None = None, years: tuple[int, int] | None = None, step: str = ""
    ) -> dg.ExecuteInProcessResult:
        started = time.perf_counter()
        tags = {"junheng/run_id": report.run_id}
        if years:  # one run over a range of year partitions
            tags |= {ASSET_PARTITION_RANGE_START_TAG: str(years[0]), ASSET_PARTITION_RANGE_END_TAG: str(years[1])}
        # The console shows progress lines and the summary; dbt's output and Dagster's log go to the run's log file.
        with log_path.open("a", encoding="utf-8") as log, redirect_stdout(log), redirect_stderr(log):
            result = defs.get_job_def(job).execute_in_process(
                instance=instance,
                partition_key=partition,
                raise_on_error=False,
                tags=tags,
                run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
            )
        _release_memory()  # a national year's frames are freed by now; give the heap back before the next run
        key = step or job
        report.seconds[key] = round(report.seconds.get(key, 0.0) + time.perf_counter() - started, 2)
        for event in result.all_events:  # per-op time (ingest vs quality flags vs checks vs dbt) for benchmarks
            if event.is_step_success or event.is_step_failure:
                ms = getattr(event.event_specific_data, "duration_ms", None)
                if ms is not None and event.step_key:
                    report.steps[event.step_key] = round(report.steps.get(event.step_key, 0.0) + ms / 1000, 2)
        return result

    try:
        for year in report.requested if not report.failed else []:
            progress(f"{year}: 读取、校验、入库、质量标记 / reading, validating, loading, flagging …")
            result = execute("year_ingest_job", str(year), step="ingest")
            if result.success:
                report.loaded.append(year)
                progress(f"{year}: 已入库 / loaded ({_ingest_summary(result)})")
                continue
            problems, message = _failure(result)
            if problems is not None:
                report.refused[year] = problems
                progress(f"{year}: 被拒绝 / refused ({len(problems)} problems)")
            else:
                report.failed[str(year)] = message
                progress(f"{year}: 失败 / failed: {message.splitlines()[0] if message else ''}")
                break
        BASELINES.clear()  # the quality step's last years (~130 MB each at national scale) are not needed by dbt
        _release_memory()
        # The year after a reloaded one: its year-over-year flags (recomputed by the quality asset) feed its marts.
        report.recomputed = sorted({y + 1 for y in report.loaded} & before - set(report.loaded))
        built = sorted(set(report.loaded) | set(report.recomputed))
        if built:
            waited = time.perf_counter()
            parse.install()  # before the first dbt invocation, so that it starts from a parsed project
            report.seconds["dbt_parse_wait"] = round(time.perf_counter() - waited, 2)
            result = execute("config_job", step="config")
            if not result.success:
                report.failed["config"] = _failure(result)[1]
        for first, last in _ranges(built) if not report.failed else []:
            progress(f"{first}–{last}: 指标与评估（dbt）/ per-year marts …")
            result = execute("year_marts_job", years=(first, last), step="marts")
            if not result.success:
                report.failed[f"marts {first}-{last}"] = _failure(result)[1]
                break
        if report.loaded and not report.failed:
            progress("趋势与排名 / trends …")
            result = execute("trends_job", step="trends")
            if not result.success:
                report.failed["trends"] = _failure(result)[1]
        if report.loaded and not report.failed:
            with wh.connect(work) as conn:
                report.flags = _flag_counts(conn, report.loaded)
            wh.publish(warehouse)
            report.published = True
            docs = docs_root(work) / "index.html"
            report.data_docs = str(docs) if docs.exists() else None
    finally:
        parse.cancel()
        if not report.published:
            wh.abandon_build(warehouse)
        report.seconds["total"] = round(time.perf_counter() - t0, 2)
        _record(report, warehouse)
    return report


def _release_memory() -> None:
    """Collect garbage and return freed heap pages to the OS (glibc malloc_trim), so the peak of one year's
    quality frames does not sit on top of what the previous years left behind (measured: ~2 GB between years)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _ranges(years: list[int]) -> list[tuple[int, int]]:
    """Contiguous runs of years: 2015..2018, 2020..2024. A gap (a refused year) is not rebuilt."""
    out: list[tuple[int, int]] = []
    for y in years:
        if out and y == out[-1][1] + 1:
            out[-1] = (out[-1][0], y)
        else:
            out.append((y, y))
    return out


def _ingest_summary(result: dg.ExecuteInProcessResult) -> str:
    for mat in result.asset_materializations_for_node("raw_year_files"):
        rows = mat.metadata.get("dagster/row_count")
        files = mat.metadata.get("files")
        if rows is not None and files is not None:
            return f"{len(files.value)} 个文件 files, {rows.value} 所学校 schools"
    return ""


def _flag_counts(conn, years: list[int]) -> dict[str, int]:
    exists = conn.execute(
        "select count(*) from information_schema.tables where table_schema = 'marts' and table_name = 'submission_flags'"
    ).fetchone()[0]
    if not exists:
        return {}
    rows = conn.execute(
        f"select severity, count(*) from marts.submission_flags where year in ({','.join('?' * len(years))}) group by 1",
        years,
    ).fetchall()
    return {sev: n for sev, n in rows}


def _record(report: RunReport, warehouse: Path) -> None:
    """Append the run to `<warehouse>.runs.jsonl`, kept beside the warehouse so refused runs are recorded too."""
    log = runs_log_path(warehouse)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(asdict(report), ensure_ascii=False) + "\n")


def read_runs(warehouse: Path) -> list[dict]:
    log = runs_log_path(warehouse)
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
