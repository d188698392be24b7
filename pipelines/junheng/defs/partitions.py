"""The statistical year (统计年度) is the partition of every per-year asset."""

import dagster as dg

# One partition per statistical year; keys are "2015", "2016", ... The window opens each year on
# 1 January so the year whose census closes in the autumn is already a partition then.
years_partitions = dg.TimeWindowPartitionsDefinition(
    start="2010",
    cron_schedule="0 0 1 1 *",
    fmt="%Y",
    end_offset=1,
)


def partition_year(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> int:
    return int(context.partition_key)
