"""Dagster pieces: the `marts/submission_flags` asset (per year) and the asset checks that summarise it.

Plausibility flags never block: the checks are non-blocking and report with severity WARN. (Structural checks that
refuse a year live with ingestion.)
"""

import gc
from pathlib import Path

import dagster as dg
import pandas as pd

from junheng.defs.partitions import YEAR_OVER_YEAR, partition_years, years_partitions
from junheng.defs.quality.flags import FLAG_COLUMNS, compute_flags_with_outcome
from junheng.defs.resources import WarehouseResource
from junheng.lib.warehouse import ensure_raw_schema, pause_point

FLAGS_KEY = dg.AssetKey(["marts", "submission_flags"])
# raw/flag_answers (issue 15, defs/verify): the counties' answers change the values in force and the confirmations.
RAW_DEPS = [dg.AssetKey(["raw", "census_schools"]), dg.AssetKey(["raw", "county_returns"]),
            dg.AssetKey(["raw", "flag_answers"])]
# the dbt views the rule values are computed from (the values in force, the section parts): created by the load's
# first dbt step (defs/dbt/assets.py, dbt_config), unpartitioned (a view is a definition, not a year's data)
VIEW_DEPS = [dg.AssetKey(["staging", "stg_census_schools"]), dg.AssetKey(["intermediate", "int_school_parts"])]


def write_year_flags(conn, year: int, docs_dir: Path | None = None) -> dict:
    """Recompute and replace the flags of `year` in one transaction (readers see the old rows or the new ones).

    Returns the year's summary. The years after it, whose year-over-year rules read it, are their own partitions
    (YEAR_OVER_YEAR): a load that changes `year` rebuilds them in the same run."""
    ensure_raw_schema(conn)  # creates marts.submission_flags (its DDL lives with the raw tables)
    # docs_dir is the one Data Docs site of every year (defs/quality/data_docs.py): this year's pages are replaced.
    timings: dict = {}
    flags, outcome = compute_flags_with_outcome(conn, year, docs_dir=docs_dir, timings=timings)
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute("DELETE FROM marts.submission_flags WHERE year = ?", [year])
        if len(flags):
            df = flags[FLAG_COLUMNS]  # noqa: F841 - read by DuckDB's replacement scan
            conn.execute(f"INSERT INTO marts.submission_flags ({', '.join(FLAG_COLUMNS)}) "
                         f"SELECT {', '.join(FLAG_COLUMNS)} FROM df")
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    summary = {
        "rows": int(len(flags)),
        "by_rule": counts_by_rule(flags),
        "docs_page": str(outcome.docs_page) if outcome and outcome.docs_page else None,
        "gx": outcome.stats if outcome else {},
        "seconds": {k: round(v, 2) for k, v in timings.items()},
    }
    return summary


def counts_by_rule(flags: pd.DataFrame) -> dict[str, int]:
    if not len(flags):
        return {}
    c = flags.groupby(["severity", "rule_id"]).size()
    return {f"{sev}:{rid}": int(n) for (sev, rid), n in c.items()}


@dg.asset(
    key=FLAGS_KEY,
    partitions_def=years_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    # Y-1's stored verdicts (which values are no baseline) are read too, but not declared as a self-dependency: the
    # part of them Y reads (Y-1's warnings on its own values) depends only on Y-1's raw data, already upstream here;
    # and Dagster 1.13 runs a self-dependent asset in a run of its own ("Self-dependant assets cannot be
    # materialized in the same run as other assets", asset_backfill.py), which would split the one-run load.
    deps=[*(dg.AssetDep(key, partition_mapping=YEAR_OVER_YEAR) for key in RAW_DEPS), *VIEW_DEPS],
    group_name="quality",
    kinds={"duckdb", "python"},
    description=(
        "数据质量标记（每校每条规则一行，每年一个分区）/ plausibility flags per school (and county return) and rule, "
        "one year per partition: the values the rules judge computed in DuckDB from the dbt views "
        "(stg_census_schools, int_school_parts), judged by Great Expectations (expectations/rules.yml), which "
        "returns the failing rows. Year Y reads the raw data of Y-2..Y (year-over-year rules; Y-1's stored "
        "verdicts), so reloading a year makes the next two stale. "
        "Severity warning = implausible value, info = event worth knowing. Never changes official figures."
    ),
)
def submission_flags(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> None:
    docs = warehouse.docs_dir
    # in order: year Y reads the verdicts of Y-1 just written
    for year in sorted(partition_years(context)):
        with warehouse.connect() as conn:
            s = write_year_flags(conn, year, docs_dir=docs)
        # A year's frames (GX batches, results) are left in reference cycles; in this process (Dagster, the dbt
        # manifest: millions of long-lived objects) Python's full collection seldom runs, so ten national years
        # piled up to 3.5 GB. Collected here, the step stays at one year's ~1.6 GB (measured).
        gc.collect()
        warn = sum(n for k, n in s["by_rule"].items() if k.startswith("warning:"))
        info = sum(n for k, n in s["by_rule"].items() if k.startswith("info:"))
        md = {
            "flags": s["rows"],
            "warnings": warn,
            "infos": info,
            "counts_by_rule": dg.MetadataValue.json(s["by_rule"]),
            "gx_suites": dg.MetadataValue.json(s["gx"]),
            "seconds": dg.MetadataValue.json(s["seconds"]),
        }
        if s["docs_page"]:
            md["gx_data_docs"] = dg.MetadataValue.path(s["docs_page"])
        context.add_asset_metadata(md, partition_key=str(year))
        context.log.info(f"{year}: 质量标记 / flags: {warn} warnings, {info} infos")
        pause_point("flags")


def _run_flags(warehouse: WarehouseResource, years: list[int]) -> pd.DataFrame:
    with warehouse.connect() as conn:
        exists = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema='marts' AND table_name='submission_flags'"
        ).fetchone()[0]
        if not exists:
            return pd.DataFrame(columns=FLAG_COLUMNS)
        return conn.execute("SELECT * FROM marts.submission_flags WHERE year IN (SELECT unnest(?::INTEGER[]))",
                            [years]).df()


def _summary_check(flags: pd.DataFrame, school_level: bool) -> dg.AssetCheckResult:
    sub = flags[flags["school_code"].notna()] if school_level else flags[flags["school_code"].isna()]
    warn = sub[sub["severity"] == "warning"]
    md = {
        "warnings": int(len(warn)),
        "infos": int((sub["severity"] == "info").sum()),
        "counts_by_rule": dg.MetadataValue.json(counts_by_rule(sub)),
    }
    if school_level:
        md["schools_with_warning"] = int(warn["school_code"].nunique())
    else:
        md["counties_with_warning"] = int(warn["county_code"].nunique())
    if len(warn):
        md["sample"] = dg.MetadataValue.md(
            warn.head(20)[["county_code", "school_code", "rule_id", "field", "value", "expected"]].to_markdown(index=False)
            if _has_tabulate() else warn.head(20).to_string(index=False)
        )
    return dg.AssetCheckResult(passed=warn.empty, severity=dg.AssetCheckSeverity.WARN, metadata=md)


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
        return True
    except ImportError:
        return False


@dg.asset_check(
    asset=FLAGS_KEY,
    blocking=False,
    description="Schools of the run's years with at least one plausibility warning (counts per rule in metadata). Never blocks.",
)
def school_plausibility(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    return _summary_check(_run_flags(warehouse, [int(k) for k in context.partition_keys]), school_level=True)


@dg.asset_check(
    asset=FLAGS_KEY,
    blocking=False,
    description="County returns of the run's years with rates out of range or required items missing. Never blocks.",
)
def county_return_plausibility(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    return _summary_check(_run_flags(warehouse, [int(k) for k in context.partition_keys]), school_level=False)


quality_assets = [submission_flags]
quality_checks = [school_plausibility, county_return_plausibility]
