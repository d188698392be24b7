"""`junheng verify export | import` (issue 15): query workbooks out, answers in.

export reads the published warehouse read-only. import launches `load_job` on the persistent Dagster instance (the
job the answers sensor and the UI launch): the answers are validated and appended inside the load's private copy,
the flags and marts of the answered years (and the two after) are rebuilt, and everything is published at once.
Exit codes: 0 done; 1 a workbook was refused or the run failed; 2 wrong usage.
"""

from __future__ import annotations

import getpass
import os
import socket
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

from junheng.lib.argparsing import ArgParser, parse_or_exit_code

REPO_DIR = Path(__file__).resolve().parents[2]


def _year(text: str) -> int:
    if not (text.isdigit() and len(text) == 4):
        raise ValueError(text)
    return int(text)


def cmd_export(args) -> int:
    import duckdb

    from junheng.lib.verify.settle import export

    wh = Path(args.warehouse)
    if not wh.exists():
        print(f"仓库不存在 / warehouse not found: {wh}", file=sys.stderr)
        return 2
    with duckdb.connect(str(wh), read_only=True) as conn:
        written = export(conn, args.year, Path(args.out), args.county or None)
    for county, n, path in written:
        print(f"{county}: {n} 条待核实 / open question(s) → {path}")
    if not written:
        print(f"{args.year}年没有待核实的标记 / no open questions for {args.year}")
    return 0


def cmd_import(args) -> int:
    from junheng.lib.instance import instance_for
    from junheng.lib.verify.workbook import read_workbook

    data_dir, warehouse = Path(args.data_dir).resolve(), Path(args.warehouse).resolve()
    files = [Path(f).resolve() for f in args.files]
    missing = [f for f in files if not f.is_file()]
    if missing:
        print(f"文件不存在 / file not found: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    os.environ["JUNHENG_DATA_DIR"], os.environ["JUNHENG_WAREHOUSE"] = str(data_dir), str(warehouse)
    from junheng.definitions import defs  # first: it silences Dagster's beta warnings for every asset module
    from junheng.defs.verify import import_request

    unreadable = [wb for wb in map(read_workbook, files) if wb.year is None]
    for wb in unreadable:
        _print_refused(wb.name, [p.to_dict() for p in wb.problems])
    files = [f for f in files if f.name not in {wb.name for wb in unreadable}]
    if not files:
        print(f"未导入，仓库保持原样 / nothing imported, the warehouse is unchanged: {warehouse}")
        return 1
    done = _already_imported(warehouse, files)
    for f in done:
        print(f"已导入过，跳过 / already imported, skipped: {f.name}")
    files = [f for f in files if f not in done]
    if not files:  # nothing new: no run, nothing changes
        return 1 if unreadable else 0
    request, ops = import_request(files, warehouse)
    from junheng.runner import by_whom, execute, new_log_path, plan_outdated

    by = by_whom("junheng verify import")
    print(f"{request.first}–{request.last}: 导入核查答复并重算 / importing answers, rebuilding flags and marts", flush=True)
    log_path = new_log_path(warehouse)
    run_id = execute("load_job", data_dir, warehouse, {**request.tags, "junheng/requested_years": ""}, ops,
                     not args.no_wait, by, log_path)
    code = _report(instance_for(warehouse), run_id, warehouse, bool(unreadable))
    # corrected values change what the counties must add: plan the years whose plans are now out of date
    planned = plan_outdated(data_dir, warehouse, not args.no_wait, by, log_path) \
        if code == 0 and not args.no_plans else None
    if planned is not None:
        from junheng.cli import _print_plans

        _print_plans(planned)
        code = planned.exit_code
    return code


def _already_imported(warehouse: Path, files: list[Path]) -> list[Path]:
    """Files whose checksum the published warehouse already holds (read-only; the run checks again under the lock)."""
    import hashlib

    import duckdb

    if not warehouse.exists():
        return []
    try:
        with duckdb.connect(str(warehouse), read_only=True) as conn:
            have = {s for (s,) in conn.execute("SELECT DISTINCT source_sha256 FROM raw.flag_answers").fetchall()}
    except duckdb.Error:  # a warehouse built before answers existed
        return []
    return [f for f in files if hashlib.sha256(f.read_bytes()).hexdigest() in have]


def _print_refused(name: str, problems: list[dict]) -> None:
    print(f"拒绝导入 refused {name}: {len(problems)} 个问题 problem(s)，该文件未导入任何内容 / nothing of it was stored")
    for p in problems:
        where = p["file"] + (f" [{p['sheet']}]" if p.get("sheet") else "")
        if p.get("row") is not None:
            where += f", 第{p['row']}行 row {p['row']}"
        if p.get("column"):
            where += f", 列 column “{p['column']}”"
        print(f"  - {where}: {p['message']}")


def _report(instance, run_id: str, warehouse: Path, refused_before: bool) -> int:
    import dagster as dg

    from junheng.defs.verify import ANSWERS_KEY
    from junheng.runner import report_from_run

    report = report_from_run(instance, run_id)
    refused, imported, skipped = {}, [], []
    for event in instance.all_logs(run_id):
        de = event.dagster_event
        if de is None:
            continue
        if de.is_step_materialization:
            mat = de.step_materialization_data.materialization
            if mat.asset_key == ANSWERS_KEY and "imported" in mat.metadata:
                imported = mat.metadata["imported"].value
                refused = mat.metadata["refused_files"].value
                skipped = mat.metadata["skipped"].value
        elif de.is_step_failure and de.step_failure_data.user_failure_data:
            md = de.step_failure_data.user_failure_data.metadata
            if "refused_files" in md:
                refused, skipped = md["refused_files"].value, md["skipped"].value
                report.failed.pop(de.step_key, None)
    print(f"运行编号 run id: {run_id}")
    for item in imported:
        print(f"已导入 imported {item['file']}: {item['answers']} 条答复 answers (确认无误 {item['confirmed']}, 更正 "
              f"{item['corrected']}, 未答 unanswered {item['unanswered']})")
    for name in skipped:
        print(f"已导入过，跳过 / already imported, skipped: {name}")
    for name, problems in refused.items():
        _print_refused(name, problems)
    for step, error in report.failed.items():
        print(f"失败 failed [{step}]: {error}")
    if report.published:
        print(f"已发布仓库 published warehouse: {warehouse}")
    else:
        print(f"未发布，仓库保持原样 / nothing published, the warehouse is unchanged: {warehouse}")
    ok = report.published and not refused and not report.failed and not refused_before
    if not imported and skipped and not refused and not report.failed and not refused_before:
        ok = True
    return 0 if ok else 1


def main_verify(argv: list[str]) -> int:
    from junheng.cli import DEFAULT_DATA_DIR, DEFAULT_WAREHOUSE, _year as year_arg

    parser = ArgParser(prog="junheng verify", description="核查：导出核查表、导入答复 / query workbooks out, answers in")
    sub = parser.add_subparsers(dest="action", required=True, parser_class=ArgParser)
    p = sub.add_parser("export", help="每县一个核查表，列出待核实的标记 / one workbook per county with its open warnings")
    p.add_argument("--year", type=year_arg, required=True)
    p.add_argument("--county", action="append", help="县级行政区划代码，可重复 / county code (repeatable)")
    p.add_argument("--out", default=".", help="输出目录 / output folder")
    p.add_argument("--warehouse", default=str(DEFAULT_WAREHOUSE))
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("import", help="导入县返回的核查表 / import returned query workbooks")
    p.add_argument("files", nargs="+", help="核查表 XLSX")
    p.add_argument("--warehouse", default=str(DEFAULT_WAREHOUSE))
    p.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    p.add_argument("--no-wait", action="store_true",
                   help="另一个入库正在进行时不等待，直接退出（1）/ exit 1 instead of waiting when another load runs")
    p.add_argument("--no-plans", action="store_true",
                   help="导入后不重新求解投入方案 / do not plan the years whose plans the corrections made out of date")
    p.set_defaults(func=cmd_import)
    args = parse_or_exit_code(parser, argv)
    return args if isinstance(args, int) else args.func(args)
