"""The investment planner as a Dagster asset (spec §6): for every county and year of the run that does not meet
§4.1, the least-cost plan, verified by the official dbt models, written to `planner.*` and published as
marts.investment_plan / investment_plan_summary (dbt, built with the trend models)."""

from pathlib import Path

import dagster as dg

from junheng.defs.dbt.assets import PLAN_ADDITIONS_KEY, PLAN_COUNTIES_KEY
from junheng.defs.partitions import partition_years, years_partitions
from junheng.defs.resources import WarehouseResource
from junheng.lib.warehouse import pause_point
from junheng.lib.planner.plan import counties_to_plan, make_plans, write_plans


_DEPS = [dg.AssetKey(["marts", "county_balance"]), dg.AssetKey(["intermediate", "int_school_parts"]),
         dg.AssetKey(["config", "plan_items"]), dg.AssetKey(["config", "unit_costs"])]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(PLAN_COUNTIES_KEY, deps=_DEPS, partitions_def=years_partitions, group_name="planner",
                     kinds={"duckdb", "python"}, description=(
            "达标所需投入方案（每县每年一行，每年一个分区）/ investment plans, one row per county and year: for every "
            "county not meeting the 2017 resource allocation rules (§4.1), the least-cost additions (SCIP, "
            "mixed-integer second-order-cone programme), applied to the data and recomputed by the official dbt "
            "models; a plan they do not confirm is not published and says why.")),
        dg.AssetSpec(PLAN_ADDITIONS_KEY, deps=_DEPS, partitions_def=years_partitions, group_name="planner",
                     kinds={"duckdb", "python"},
                     description="投入方案明细 / the additions of every verified plan, one row per school (part) and item."),
    ],
    partitions_def=years_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    name="investment_plans",
)
def investment_plans(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    log_dir = Path(warehouse.published + ".logs")
    years = partition_years(context)
    with warehouse.connect(read_only=True) as conn:
        requests = {year: counties_to_plan(conn, year) for year in years}
    # make_plans attaches the copy read-only (no connection of ours holds it meanwhile) and verifies every year's
    # plans in one dbt invocation on a scratch file
    step = max(1, sum(map(len, requests.values())) // 10)

    def progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            context.log.info(f"已求解 / solved {done} / {total} counties")

    problems, results = make_plans(Path(warehouse.path), requests, log_dir=log_dir, progress=progress)
    pause_point("plan")
    with warehouse.connect() as conn:
        for year in years:
            write_plans(conn, year, [p for p in problems if p.year == year], [r for r in results if r.year == year])
    for year in years:
        done = [r for r in results if r.year == year]
        by_status: dict[str, int] = {}
        for r in done:
            by_status[r.status] = by_status.get(r.status, 0) + 1
        gaps = [r.gap for r in done if r.gap is not None and r.cost > 0]
        md = {
            "counties_planned": len(done),
            "by_status": dg.MetadataValue.json(by_status),
            "total_cost_yuan": float(sum(r.cost for r in done if r.status in ("optimal", "feasible"))),
            "largest_gap": float(max(gaps)) if gaps else 0.0,
            "solve_seconds": float(sum(r.seconds for r in done)),
        }
        for key in (PLAN_COUNTIES_KEY, PLAN_ADDITIONS_KEY):
            context.add_asset_metadata(md, asset_key=key, partition_key=str(year))
        context.log.info(f"{year}: 投入方案 / plans: {by_status}")
    yield dg.MaterializeResult(asset_key=PLAN_COUNTIES_KEY)
    yield dg.MaterializeResult(asset_key=PLAN_ADDITIONS_KEY)


planner_assets = [investment_plans]
