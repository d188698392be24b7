"""`junheng plan --county CODE [--year YEAR] [--target-year YEAR] [--costs FILE] [--out DIR]`: one county's
least-cost plan, made and verified as the load's planner asset does, from the published warehouse (read-only; the
warehouse is not changed: the marts investment_plan / investment_plan_summary hold the load's plans)."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import duckdb

from junheng.lib.argparsing import ArgParser, parse_or_exit_code

LEVEL_ZH = {"whole_school": "全校", "primary": "小学部分", "junior": "初中部分"}


def _parser() -> argparse.ArgumentParser:
    from junheng.cli import DEFAULT_WAREHOUSE, _year
    from junheng.lib.planner.solve import TIME_LIMIT

    p = ArgParser(prog="junheng plan", description="达标所需投入方案 / least-cost plan to meet §4.1 (spec §6)")
    p.add_argument("--county", required=True, help="县级行政区划代码 / county code (6 digits)")
    p.add_argument("--year", type=_year, help="数据年度，默认最近一年 / data year (default: the latest loaded)")
    p.add_argument("--target-year", type=_year, help="目标年度：按县域学生数趋势预测学生数 / plan for the projected "
                                                      "students of this year")
    p.add_argument("--costs", type=Path, help="单位成本 CSV（resource, yuan_per_unit），覆盖种子表 / unit costs overriding "
                                              "seed unit_costs")
    p.add_argument("--warehouse", default=str(DEFAULT_WAREHOUSE))
    p.add_argument("--out", type=Path, help="把投入明细写入此目录（CSV）/ write the additions as CSV into this folder")
    p.add_argument("--time-limit", type=float, default=TIME_LIMIT, help="每县求解时限（秒）/ solver time limit per county, seconds")
    return p


def main_plan(argv: list[str]) -> int:
    args = parse_or_exit_code(_parser(), argv)
    if isinstance(args, int):
        return args
    from junheng.lib.planner.data import PlanInputError, read_costs_file
    from junheng.lib.planner.plan import make_plans
    from junheng.lib.planner.verify import VerificationError

    warehouse = Path(args.warehouse)
    if not warehouse.exists():
        print(f"仓库不存在 / warehouse not found: {warehouse}", file=sys.stderr)
        return 2
    try:
        costs = read_costs_file(args.costs) if args.costs else None
    except (OSError, PlanInputError) as e:
        print(f"单位成本文件有误 / the costs file is wrong:\n{e}", file=sys.stderr)
        return 2
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        years = [y for (y,) in con.execute(
            "select distinct year from intermediate.int_school_parts where county_code = ? order by 1", [args.county]).fetchall()]
    finally:
        con.close()
    if not years or (args.year and args.year not in years):
        print(f"仓库中没有该县（该年度）的数据 / no data for county {args.county}"
              + (f" in {args.year}" if args.year else "") + f" (years: {years})", file=sys.stderr)
        return 2
    year = args.year or years[-1]
    target = args.target_year or year
    if target < year:
        print("目标年度不能早于数据年度 / the target year cannot be before the data year", file=sys.stderr)
        return 2
    try:
        problems, results = make_plans(warehouse, {year: [args.county]}, costs=costs, target_year=target,
                                       time_limit=args.time_limit)
    except (PlanInputError, VerificationError) as e:
        print(str(e), file=sys.stderr)
        return 1
    problem, r = problems[0], results[0]
    print(f"== {args.county} {year} 年数据 → {target} 年 达标所需投入 / plan ==")
    if problem.student_factor:
        print("学生数预测系数 / projected students factor: " + ", ".join(
            f"{'小学' if k == 'primary' else '初中'} {v:.4f}" for k, v in sorted(problem.student_factor.items())))
    print(f"状态 status: {r.status}" + (f"；复核 verified: {r.verified}" if r.verified is not None else ""))
    if r.reason_zh:
        print(f"原因 reason: {r.reason_zh}")
    if r.verification_zh:
        print(f"复核 verification: {r.verification_zh}")
    if r.status in ("optimal", "feasible"):
        print(f"投入总额 cost: {r.cost:,.0f} 元；成本下界 lower bound: {r.lower_bound:,.0f} 元；差距 gap: {r.gap:.4%}；"
              f"{r.solver}，{r.seconds:.1f} s")
        rows = []
        names = {p.school_code: p.school_name for p in problem.parts}
        for (school, level, resource), amount in sorted(r.additions.items(), key=lambda kv: (kv[0][0], kv[0][2])):
            item = problem.items[resource]
            rows.append([school, names.get(school, ""), LEVEL_ZH[level or "whole_school"], item.name_zh,
                         f"{amount:g}", item.unit_zh, f"{item.cost * amount:.0f}"])
        for row in sorted(rows, key=lambda x: -float(x[-1]))[:20]:
            print("  " + " ".join(row))
        if len(rows) > 20:
            print(f"  …共 {len(rows)} 项 / {len(rows)} additions in all")
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            path = args.out / f"investment_plan_{args.county}_{year}_{target}.csv"
            with path.open("w", encoding="utf-8-sig", newline="") as f:
                w = csv.writer(f)
                w.writerow(["学校标识码", "学校名称", "投入对象", "投入项目", "数量", "单位", "金额（元）"])
                w.writerows(rows)
            print(f"明细 additions: {path}")
    return 0 if r.status in ("optimal", "feasible", "not_needed") else 1
