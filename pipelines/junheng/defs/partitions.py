"""The statistical year (统计年度) is the partition of every per-year asset, and the one place that says which year's
data a year's assets read.

Partitions run from the first year that has a census folder in the data directory (JUNHENG_DATA_DIR) to the current
year: a year is a partition as soon as its census can arrive, and no year before the first submission is offered.
They are time windows, not dynamic partitions, because the year-over-year rules need an offset mapping ("the two
years before") that Dagster shows in the UI and uses for staleness only between time-window partitions.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import dagster as dg

from junheng.lib.ingest import available_years

REPO_DIR = Path(__file__).resolve().parents[3]


def data_dir() -> Path:
    return Path(os.environ.get("JUNHENG_DATA_DIR", str(REPO_DIR / "data")))


def first_year(folder: Path) -> int:
    years = available_years(folder)
    return years[0] if years else datetime.now().year


def year_partitions(start: int) -> dg.TimeWindowPartitionsDefinition:
    # Keys "2015", "2016", ...; the window of year Y opens on 1 January of Y, and end_offset=1 makes the current
    # year a partition already (its census closes in the autumn).
    return dg.TimeWindowPartitionsDefinition(start=str(start), cron_schedule="0 0 1 1 *", fmt="%Y", end_offset=1)


years_partitions = year_partitions(first_year(data_dir()))

# The year-over-year rules of year Y compare it with Y-1 and tell a slip in Y-1 from a real change using Y-2: the
# flags of Y depend on the raw data of Y-2..Y, so reloading Y makes the flags (and marts) of Y+1 and Y+2 stale.
YEAR_OVER_YEAR = dg.TimeWindowPartitionMapping(start_offset=-2, end_offset=0)


def partition_year(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> int:
    return int(context.partition_key)


def partition_years(context: dg.AssetExecutionContext) -> list[int]:
    """The years of a run: one partition, or a range of them (a load of several years is one run)."""
    return [int(k) for k in context.partition_keys]


def year_keys() -> list[int]:
    return [int(k) for k in years_partitions.get_partition_keys()]


def affected_years(years: list[int]) -> list[int]:
    """The partitions a load of `years` must rebuild: the years themselves and every year whose flags read them
    (through YEAR_OVER_YEAR), within the partitions that exist."""
    keys = years_partitions.get_partition_keys()
    upstream = years_partitions.subset_with_partition_keys([str(y) for y in years if str(y) in keys])
    downstream = YEAR_OVER_YEAR.get_downstream_partitions_for_partitions(
        upstream, years_partitions, years_partitions)
    return sorted(int(k) for k in downstream.get_partition_keys())
