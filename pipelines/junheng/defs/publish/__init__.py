"""Publishing: the load's private copy becomes the warehouse analysts read, with its Data Docs.

`published_warehouse` is downstream of every other asset, so a load's run ends with it, and a run that does not
include it is refused before it starts (defs/resources.py): whatever Dagster shows as materialized is what analysts
read.
"""


from pathlib import Path

import dagster as dg

from junheng.defs.resources import PUBLISHED_KEY, WarehouseResource
from junheng.lib import warehouse as wh


def published_warehouse_asset(upstream: list[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key=PUBLISHED_KEY,
        deps=upstream,
        group_name="publish",
        kinds={"duckdb"},
        description=(
            "发布的仓库：本次入库的私有副本以一次原子重命名替换分析人员读取的 DuckDB 文件，数据质量文档随之发布 / "
            "the published warehouse: the load's private copy replaces the file analysts read in one atomic rename, "
            "together with its Great Expectations Data Docs. Readers holding the old file keep a consistent snapshot."
        ),
    )
    def published_warehouse(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        with warehouse.connect() as conn:
            years = dict(conn.execute(
                "SELECT year, count(*) FROM raw.census_schools GROUP BY year ORDER BY year").fetchall())
            flags = dict(conn.execute(
                "SELECT severity, count(*) FROM marts.submission_flags GROUP BY 1 ORDER BY 1").fetchall())
        stale_wal = warehouse.publish()
        docs = wh.docs_link(Path(warehouse.published)) / "index.html"
        context.log.info(f"已发布仓库 / published {warehouse.published}")
        md = {
            "warehouse": dg.MetadataValue.path(warehouse.published),
            "years": dg.MetadataValue.json({str(y): n for y, n in years.items()}),
            "flags_by_severity": dg.MetadataValue.json(flags),
        }
        if docs.exists():
            md["data_docs"] = dg.MetadataValue.path(str(docs))
        if stale_wal:
            md["stale_wal_set_aside"] = dg.MetadataValue.path(str(stale_wal))
            context.log.warning(f"已发布文件旁有遗留的 WAL（读写会话崩溃所留），已移至 / a stale WAL of the replaced file "
                                f"(left by a crashed read-write session) was set aside: {stale_wal}")
        return dg.MaterializeResult(metadata=md)

    return published_warehouse
