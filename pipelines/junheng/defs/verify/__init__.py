"""The answers asset and its sensor (issue 15): returned query workbooks into `raw.flag_answers`, inside a load.

`raw/flag_answers` is one more asset of `load_job`, upstream of the quality flags (their values in force and the
confirmations) and of dbt: an import is a `load_job` run over the answered years and the two after them (whose
year-over-year flags read them), with no census year read from files, so the answers land in the load's private copy
and reach analysts with the rebuilt flags and marts in one atomic publish, or not at all. A run without files
(`junheng run`) keeps the answers as they are.
"""


import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg

from junheng.defs.partitions import data_dir, partition_years, years_partitions
from junheng.defs.resources import WarehouseResource
from junheng.lib.verify.settle import already_imported, append_answers, check_against_warehouse
from junheng.lib.verify.workbook import read_workbook

ANSWERS_KEY = dg.AssetKey(["raw", "flag_answers"])


class AnswersConfig(dg.Config):
    """Returned query workbooks to import (absolute paths). Empty: the answers are kept as they are."""

    files: list[str] = []


@dg.asset(
    key=ANSWERS_KEY,
    partitions_def=years_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="ingestion",
    kinds={"duckdb", "python"},
    description=(
        "核查答复（只追加）：县对核查表的答复——确认无误或更正，附文件校验值、填报人、导入时间 / the counties' answers to "
        "the query workbooks, append-only, with file checksum, who and when. A workbook with any problem is refused "
        "whole (file, sheet, row, column) and nothing of it is stored. Corrections apply through "
        "raw.census_schools_corrected, which the quality flags and dbt read."
    ),
)
def flag_answers(context: dg.AssetExecutionContext, config: AnswersConfig, warehouse: WarehouseResource):
    years = partition_years(context)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    imported, refused, skipped = [], {}, []
    for f in config.files:
        wb = read_workbook(Path(f))
        with warehouse.connect() as conn:
            if not wb.problems and already_imported(conn, wb.sha256):
                skipped.append(wb.name)
                context.log.info(f"{wb.name}: 已导入过，跳过 / already imported, skipped")
                continue
            if wb.year is not None and wb.year not in years:
                wb.problems.append(_year_problem(wb, years))
            # Every problem of the file at once: what the file itself shows, and what only the warehouse can tell.
            problems = sorted(wb.problems + (check_against_warehouse(conn, wb) if wb.year in years else []),
                              key=lambda p: (p.row or 0, p.sheet or "", p.column or ""))
            if problems:
                refused[wb.name] = [p.to_dict() for p in problems]
                context.log.error(f"{wb.name}: 拒绝导入 / refused ({len(problems)} problem(s))\n"
                                  + "\n".join(f"  - {p}" for p in problems))
                continue
            n = append_answers(conn, wb, context.run.run_id, now)
        imported.append({"file": wb.name, "sha256": wb.sha256[:12], "year": wb.year, "county_code": wb.county_code,
                         "answers": n, "confirmed": sum(a.verdict == "confirmed" for a in wb.answers),
                         "corrected": sum(a.verdict == "corrected" for a in wb.answers),
                         "unanswered": wb.unanswered})
        context.log.info(f"{wb.name}: 已导入 {n} 条答复 / imported {n} answer(s)")
    if config.files and not imported:
        # Nothing changed: stop here (nothing to rebuild or publish).
        raise dg.Failure(
            description="核查表未导入，仓库保持原样 / no workbook imported, the warehouse is unchanged",
            metadata={"refused_files": dg.MetadataValue.json(refused), "skipped": dg.MetadataValue.json(skipped)},
            allow_retries=False,
        )
    md = {"status": "imported" if imported else "kept", "imported": dg.MetadataValue.json(imported),
          "refused_files": dg.MetadataValue.json(refused), "skipped": dg.MetadataValue.json(skipped)}
    for year in years:
        context.add_asset_metadata(md, partition_key=str(year))
    return dg.MaterializeResult()


def _year_problem(wb, years):
    from junheng.lib.verify.workbook import AnswerProblem

    return AnswerProblem(wb.name, None, None, None, f"核查表年度 {wb.year} 不在本次运行的年度 {years} 之内 / the "
                                                    "workbook's year is not a year of this run")


ANSWER_DIR = "answers"
ANSWERS_TAG = "junheng/answer_files"


def answer_files(root: Path) -> dict[str, str]:
    """Every returned workbook under <data>/answers/<year>/ with a digest of its name, size and modification time."""
    out = {}
    base = root / ANSWER_DIR
    if not base.is_dir():
        return out
    for year_dir in sorted(base.iterdir()):
        if not (year_dir.is_dir() and year_dir.name.isdigit()):
            continue
        for f in sorted(year_dir.iterdir()):
            if f.is_file() and f.suffix.lower() == ".xlsx" and not f.name.startswith(("~$", ".")):
                st = f.stat()
                out[str(f.resolve())] = hashlib.sha256(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]
    return out


def import_request(files: list[Path], warehouse: Path | None = None):
    """The load_job run that imports `files`: the answered years (from the workbooks' keys) and the years whose flags
    read them; no census year is read from its files. Returns (request, run_config ops)."""
    from junheng.defs.orchestration import load_request

    years = sorted({wb.year for wb in map(read_workbook, files) if wb.year is not None})
    if not years:
        return None, None
    request = load_request(years, warehouse)
    ops = {"raw_year_files": {"config": {"years": []}},
           "raw__flag_answers": {"config": {"files": [str(Path(f).resolve()) for f in files]}}}
    return request, ops


@dg.sensor(
    job_name="load_job",
    minimum_interval_seconds=60,
    description=("发现 answers/<年度>/ 下新增或变更的核查表即导入（与 junheng verify import 同一作业）/ import the returned "
                 "query workbooks that are new or changed under answers/<year>/ (the job junheng verify import runs)"),
)
def answers_files_sensor(context: dg.SensorEvaluationContext):
    done = json.loads(context.cursor) if context.cursor else {}
    current = answer_files(data_dir())
    new = sorted(f for f, fp in current.items() if done.get(f) != fp)
    if not new:
        return dg.SkipReason("没有新的核查表 / no new returned workbooks")
    request, ops = import_request([Path(f) for f in new])
    context.update_cursor(json.dumps({**done, **{f: current[f] for f in new}}, sort_keys=True))
    if request is None:
        return dg.SkipReason(f"核查表无法读取 / unreadable workbooks: {new}")
    return dg.RunRequest(run_key=f"answers-{hashlib.sha256(json.dumps(new).encode()).hexdigest()[:16]}",
                         run_config={"ops": ops}, tags={**request.tags, ANSWERS_TAG: json.dumps(new)})


verify_assets = [flag_answers]
verify_sensors = [answers_files_sensor]
