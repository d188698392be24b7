"""`junheng`: the command-line front end. Every subcommand runs the same code the Dagster UI does.

Exit codes (spec §4): 0 everything requested loaded; 1 something was refused or failed; 2 wrong usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from junheng.lib.argparsing import ArgParser, parse_or_exit_code

REPO_DIR = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = REPO_DIR / "data"
DEFAULT_WAREHOUSE = DEFAULT_DATA_DIR / "junheng.duckdb"


def _year(text: str) -> int:
    if not (text.isdigit() and len(text) == 4):
        raise argparse.ArgumentTypeError(f"年度应为四位数字 / a year is four digits: {text!r}")
    return int(text)


def _print_report(report) -> None:
    out = sys.stdout
    print("", file=out)
    print("== 运行摘要 / run summary ==", file=out)
    print(f"运行编号 run id: {report.run_id}", file=out)
    print(f"已入库年度 loaded: {', '.join(map(str, report.loaded)) or '无 none'}", file=out)
    if report.recomputed:
        print(f"重算的后续年度 recomputed: {', '.join(map(str, report.recomputed))}", file=out)
    for year, problems in sorted(report.refused.items()):
        print(f"被拒绝 refused {year}: {len(problems)} 个问题 problem(s)", file=out)
        for p in problems:
            where = p["file"]
            if p.get("row") is not None:
                where += f", 第{p['row']}行 row {p['row']}"
            if p.get("column"):
                where += f", 列 column “{p['column']}”"
            print(f"  - {where}: {p['message']}", file=out)
    if report.stray:
        print(f"数据目录中无法归入任何年度的条目 / entries of the data directory no year reads: {len(report.stray)}", file=out)
        for p in report.stray:
            print(f"  - {p['file']}: {p['message']}", file=out)
    for step, error in report.failed.items():
        print(f"失败 failed [{step}]: {error}", file=out)
    if report.flags:
        print("数据质量标记 flags: " + ", ".join(f"{k} {v}" for k, v in sorted(report.flags.items())), file=out)
    if report.published:
        print(f"已发布仓库 published warehouse: {report.warehouse}", file=out)
    else:
        print(f"未发布，仓库保持原样 / nothing published, the warehouse is unchanged: {report.warehouse}", file=out)
    if report.data_docs:
        print(f"数据质量文档 Data Docs: {report.data_docs}", file=out)
    if report.log:
        print(f"运行日志 run log (dbt; Dagster 事件见 junheng ui / events in the UI): {report.log}", file=out)
    print(f"用时 seconds: {report.seconds}", file=out)
    if report.plan_run is not None:
        _print_plans(report.plan_run)


def _plan_status_labels(warehouse: Path) -> dict[str, str]:
    """The Chinese name of each planner status, as the published plan mart gives it (status_zh: its one definition)."""
    import duckdb

    from junheng.reports.query import connect_read_only

    try:
        con = connect_read_only(warehouse)
    except (FileNotFoundError, duckdb.Error):
        return {}
    try:
        return dict(con.execute("SELECT DISTINCT status, status_zh FROM marts.investment_plan_summary").fetchall())
    except duckdb.Error:  # no plan marts (nothing published yet)
        return {}
    finally:
        con.close()


def _print_plans(plan) -> None:
    """The plan_job run's summary: per year, counties by status, total cost, the largest gap, solver seconds."""
    out = sys.stdout
    labels = _plan_status_labels(Path(plan.warehouse)) if plan.published else {}
    print("", file=out)
    print("== 达标所需投入方案 / investment plans ==", file=out)
    print(f"运行编号 run id: {plan.run_id}", file=out)
    for year, md in sorted(plan.plans.items()):
        if not md.get("counties_planned"):
            print(f"{year}: 各县均已达到资源配置要求，无需方案 / every county meets §4.1", file=out)
            continue
        by_status = ", ".join(" ".join(filter(None, (labels.get(k), k, str(n))))
                              for k, n in sorted(md.get("by_status", {}).items()))
        print(f"{year}: {md.get('counties_planned', 0)} 个县 counties ({by_status or '—'}); 投入总额 cost "
              f"{md.get('total_cost_yuan', 0):,.0f} 元; 最大差距 largest gap {md.get('largest_gap', 0):.2%}; "
              f"求解 solver {md.get('solve_seconds', 0):.1f} s", file=out)
    for step, error in plan.failed.items():
        print(f"失败 failed [{step}]: {error}", file=out)
    print(("已发布方案 / plans published" if plan.published else "方案未发布 / plans not published") +
          f": {plan.warehouse}; 用时 seconds: {plan.seconds}", file=out)


def cmd_run(args: argparse.Namespace) -> int:
    from junheng.runner import plan, run

    data_dir = Path(args.data_dir)
    if not data_dir.is_dir():
        print(f"数据目录不存在 / data directory not found: {data_dir}", file=sys.stderr)
        return 2
    progress = lambda line: print(line, flush=True)  # noqa: E731
    try:
        if args.plans_only:
            done = plan(data_dir, Path(args.warehouse), wait=not args.no_wait, progress=progress)
            if done is None:
                print("所有年度的方案都是最新的 / every year's plans are current")
                return 0
            _print_plans(done)
            return done.exit_code
        report = run(data_dir, Path(args.warehouse), args.year or None, wait=not args.no_wait,
                     progress=progress, full_refresh=args.full_refresh, plans=not args.no_plans)
    except KeyboardInterrupt:  # Ctrl-C outside a step (a step's interrupt fails the run and returns normally)
        print("已中断，未发布任何内容 / interrupted: nothing was published", file=sys.stderr)
        return 130
    _print_report(report)
    return report.exit_code


def cmd_runs(args: argparse.Namespace) -> int:
    from junheng.runner import read_runs

    runs = read_runs(Path(args.warehouse), last=args.last)
    if args.problems:  # only the loads that refused a year or failed, each with every problem and reason
        runs = [r for r in runs if r.refused or r.failed]
    if not runs:
        print("没有运行记录 / no runs recorded" if not args.problems else "没有有问题的运行 / no run with problems")
    for r in runs:
        refused = {str(y): len(p) for y, p in r.refused.items()}
        print(
            f"{r.started_at} {r.run_id} {r.status} {r.job} by={r.launched_by!r} requested={r.requested} "
            + (f"planned={sorted(r.plans)} " if r.job == "plan_job" else f"loaded={r.loaded} refused={refused} ")
            + f"failed={list(r.failed)} published={r.published}"
        )
        if args.problems:
            for year, problems in r.refused.items():
                for p in problems:
                    print(f"    {year} {p['file']} row {p['row']} column {p['column']}: {p['message']}")
            for step, error in r.failed.items():
                print(f"    failed [{step}]: {error}")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """`dagster dev` on this warehouse's instance (created if missing), the code location of pyproject.toml."""
    import os

    from junheng.lib.instance import dagster_home, ensure_home

    warehouse = Path(args.warehouse).resolve()
    env = {**os.environ, "DAGSTER_HOME": str(ensure_home(dagster_home(warehouse))),
           "JUNHENG_WAREHOUSE": str(warehouse), "JUNHENG_DATA_DIR": str(Path(args.data_dir).resolve())}
    dagster = Path(sys.executable).with_name("dagster")
    cmd = [str(dagster), "dev", "-m", "junheng.definitions", "-p", str(args.port)]
    print(f"DAGSTER_HOME={env['DAGSTER_HOME']} {' '.join(cmd)}", flush=True)
    os.execve(cmd[0], cmd, env)


# Subcommands whose own argv parsing lives with their code; `junheng NAME ...` hands them the rest as is.
PASSTHROUGH = {
    "generate": ("junheng.generate.cli", "main_generate", "生成样例或全国规模数据 / generate sample or national data"),
    "query": ("junheng.reports.query", "main_query", "只读查询并导出 / read-only SQL, --csv / --xlsx export"),
    "report": ("junheng.reports.county", "main_report", "县域或全省报告 / county or province report (HTML + XLSX)"),
    "plan": ("junheng.lib.planner.cli", "main_plan", "达标所需投入方案 / least-cost plan to meet §4.1 (spec §6)"),
    "verify": ("junheng.verify_cli", "main_verify", "核查表导出与答复导入 / query workbooks out (export), answers in (import)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = ArgParser(prog="junheng", description="均衡：县域义务教育均衡发展数据仓库 / county education balance warehouse")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgParser)

    p = sub.add_parser("run", help="入库并计算 / load years and build every downstream asset")
    p.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR), help="census/<year>/ 与 county_returns/<year>/ 所在目录")
    p.add_argument("--warehouse", default=str(DEFAULT_WAREHOUSE), help="发布的 DuckDB 文件 / the published DuckDB file")
    p.add_argument("--year", type=_year, action="append", help="要入库的年度，可重复；默认全部 / year to load (repeatable)")
    p.add_argument("--full-refresh", action="store_true",
                   help="重建所有年度的指标表与趋势表（升级后表结构变化时）/ rebuild the per-year marts and the trend of "
                        "every year (after an upgrade changed their columns)")
    p.add_argument("--no-wait", action="store_true",
                   help="另一个入库正在进行时不等待，直接退出（1）/ exit 1 instead of waiting when another load runs")
    plans = p.add_mutually_exclusive_group()
    plans.add_argument("--no-plans", action="store_true",
                       help="入库后不求解投入方案（方案过期，由下一次运行或 plans_sensor 补上）/ do not plan after the "
                            "load (the plans stay out of date until the next run or plans_sensor)")
    plans.add_argument("--plans-only", action="store_true",
                       help="不入库，只为方案缺失或过期的年度求解并发布 / no load: plan the years whose plans are missing "
                            "or out of date, and publish")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("runs", help="运行记录 / the record of past runs")
    p.add_argument("--warehouse", default=str(DEFAULT_WAREHOUSE))
    p.add_argument("--last", type=int, default=10, help="最近几次 / how many of the latest runs")
    p.add_argument("--problems", action="store_true",
                   help="只列出有问题的运行及全部问题与原因 / only runs with problems, each with every problem and reason")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("ui", help="Dagster 界面 / the Dagster UI (dagster dev) on this warehouse's instance")
    p.add_argument("--warehouse", default=str(DEFAULT_WAREHOUSE))
    p.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    p.add_argument("--port", type=int, default=3000)
    p.set_defaults(func=cmd_ui)

    for name, (_, _, text) in PASSTHROUGH.items():
        sub.add_parser(name, help=text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in PASSTHROUGH:
        import importlib

        module, func, _ = PASSTHROUGH[argv[0]]
        return getattr(importlib.import_module(module), func)(argv[1:])
    args = parse_or_exit_code(build_parser(), argv)
    return args if isinstance(args, int) else args.func(args)


def exit_after_load(code: int) -> None:
    """End `junheng run` without Python freeing its heap object by object (Dagster's definitions, the dbt manifest,
    a year's frames): that took 2.9 s of a one-county load (benchmarks/results/2026-12-01-issue14-s20.md). By now
    the warehouse is published or left as it was, the instance's SQLite has committed every event and no DuckDB or
    SQLite file is open (checked by tests/test_loads.py); the exit handlers (logging, temporary folders) still run."""
    import atexit

    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    os._exit(code)


def program() -> None:
    """The `junheng` command (pyproject.toml) and `python -m junheng.cli`."""
    load = sys.argv[1:2] == ["run"]  # read first: what runs in this process may rewrite sys.argv
    code = main()
    if load:
        exit_after_load(code)
    sys.exit(code)


if __name__ == "__main__":
    program()
