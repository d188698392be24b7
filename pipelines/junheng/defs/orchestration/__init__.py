"""The warehouse runs itself: a yearly schedule, a sensor on new or changed files, one job that loads years.

Both trigger `load_years_job`, whose op calls the same `runner.run` as `junheng run`: private copy, one
asset run per year partition, atomic publish, run record. Backfilling every year is that job with no
years given (or `junheng run` with no --year).
"""


import hashlib
import json
import os
from datetime import datetime
from pathlib import Path

import dagster as dg

from junheng.lib.ingest.submission import SUFFIXES

REPO_DIR = Path(__file__).resolve().parents[4]
# 1 December, after the autumn census closes; override with JUNHENG_SCHEDULE_CRON.
DEFAULT_CRON = "0 6 1 12 *"


def data_dir() -> Path:
    return Path(os.environ.get("JUNHENG_DATA_DIR", str(REPO_DIR / "data")))


def published_warehouse() -> Path:
    return Path(os.environ.get("JUNHENG_WAREHOUSE", str(REPO_DIR / "data" / "junheng.duckdb")))


class LoadYearsConfig(dg.Config):
    years: list[int] = []  # empty: every year found under the data directory


@dg.op(description="入库指定年度并发布仓库 / load the given years and publish the warehouse")
def load_years(context: dg.OpExecutionContext, config: LoadYearsConfig) -> dict:
    from junheng.runner import run

    report = run(data_dir(), published_warehouse(), config.years or None, progress=context.log.info, instance=context.instance)
    context.add_output_metadata(
        {
            "loaded": report.loaded,
            "refused": dg.MetadataValue.json(report.refused),
            "published": report.published,
            "data_docs": dg.MetadataValue.path(report.data_docs) if report.data_docs else "none",
        }
    )
    if report.failed or report.refused:
        raise dg.Failure(description=f"refused {sorted(report.refused)} failed {sorted(report.failed)}",
                         metadata={"refused": dg.MetadataValue.json(report.refused), "failed": dg.MetadataValue.json(report.failed)})
    return {"loaded": report.loaded}


@dg.job(description="入库并发布（定时、传感器与补数共用）/ load years and publish (schedule, sensor, backfill)")
def load_years_job():
    load_years()


def _run_config(years: list[int]) -> dict:
    return {"ops": {"load_years": {"config": {"years": years}}}}


def statistical_year(now: datetime) -> int:
    """The census that closes in the autumn of year Y is statistical year Y."""
    return now.year if now.month >= 9 else now.year - 1


@dg.schedule(
    job=load_years_job,
    cron_schedule=os.environ.get("JUNHENG_SCHEDULE_CRON", DEFAULT_CRON),
    execution_timezone="Asia/Shanghai",
    description="每年定时入库新年度（默认12月1日）/ yearly load of the new statistical year (default 1 December)",
)
def yearly_census_schedule(context: dg.ScheduleEvaluationContext):
    year = statistical_year(context.scheduled_execution_time)
    return dg.RunRequest(run_key=f"scheduled-{year}", run_config=_run_config([year]), tags={"junheng/year": str(year)})


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


@dg.sensor(
    job=load_years_job,
    minimum_interval_seconds=60,
    description="发现 census/<年度>/ 或 county_returns/<年度>/ 下新增或变更的文件即入库该年度 / load a year when its files change",
)
def census_files_sensor(context: dg.SensorEvaluationContext):
    seen = json.loads(context.cursor) if context.cursor else {}
    current = year_fingerprints(data_dir())
    changed = sorted(y for y, digest in current.items() if seen.get(y) != digest)
    for year in changed:
        yield dg.RunRequest(
            run_key=f"files-{year}-{current[year]}",
            run_config=_run_config([int(year)]),
            tags={"junheng/year": year},
        )
    context.update_cursor(json.dumps(current, sort_keys=True))


orchestration_defs = dg.Definitions(
    jobs=[load_years_job],
    schedules=[yearly_census_schedule],
    sensors=[census_files_sensor],
)
