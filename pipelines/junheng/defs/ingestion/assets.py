"""Ingestion: one year's census and county-return files into raw.census_schools / raw.county_returns.

Both datasets of a year are one multi-asset because the year is accepted or refused as a whole (spec §4):
every file is validated before anything is written, and the write replaces exactly that year in one
transaction.
"""


from datetime import datetime, timezone

import dagster as dg

from junheng.defs.partitions import partition_year, years_partitions
from junheng.defs.resources import WarehouseResource
from junheng.lib import schema
from junheng.lib.ingest import YearRefused, read_year, write_year

CENSUS_KEY = dg.AssetKey(["raw", "census_schools"])
RETURNS_KEY = dg.AssetKey(["raw", "county_returns"])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            CENSUS_KEY,
            description="学校基本情况（每校每年一行），按提交原样入库并附来源 / school census rows as submitted, with lineage",
            group_name="ingestion",
            kinds={"duckdb", "python"},
        ),
        dg.AssetSpec(
            RETURNS_KEY,
            description="县级自评报表（每县每年一行）/ county self-evaluation returns",
            group_name="ingestion",
            kinds={"duckdb", "python"},
            skippable=True,
        ),
    ],
    partitions_def=years_partitions,
    can_subset=False,
)
def raw_year_files(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Validate every file of the year, then replace the year's raw rows; refuse the whole year on any problem."""
    year = partition_year(context)
    try:
        submission = read_year(warehouse.data_path, year)
    except YearRefused as refused:
        raise dg.Failure(
            description=str(refused),
            metadata={"problems": dg.MetadataValue.json([p.to_dict() for p in refused.problems])},
            allow_retries=False,
        ) from None
    for warning in submission.warnings:
        context.log.warning(warning)
    with warehouse.connect() as conn:
        counts = write_year(conn, submission, context.run.run_id, datetime.now(timezone.utc).replace(tzinfo=None))
    files = [
        {"file": f.rel_path, "sha256": f.sha256[:12], "rows": f.frame.height, "missing": f.missing_columns, "extra": f.extra_columns}
        for f in submission.files
    ]
    yield dg.MaterializeResult(
        asset_key=CENSUS_KEY,
        metadata={
            "dagster/row_count": counts["schools"],
            "files": dg.MetadataValue.json(files),
            "warnings": dg.MetadataValue.json(submission.warnings),
        },
    )
    yield dg.MaterializeResult(asset_key=RETURNS_KEY, metadata={"dagster/row_count": counts["county_returns"]})


@dg.asset_check(
    asset=CENSUS_KEY,
    blocking=True,
    description="结构规则：学校代码10位且当年唯一、县代码6位、枚举值合法（与入库校验同一规则）/ structural rules, blocking",
)
def census_structure(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Re-asserts on what was written the structural rules ingestion enforces, so a bypass cannot go unseen."""
    year = partition_year(context)
    enums = {name: sorted(set(mapping.values())) for name, mapping in schema.ENUMS.items()}
    with warehouse.connect(read_only=False) as conn:
        bad = conn.execute(
            f"""
            select
              count(*) filter (where not regexp_full_match(school_code, '\\d{{10}}')) as bad_school_code,
              count(*) filter (where not regexp_full_match(county_code, '\\d{{6}}')) as bad_county_code,
              count(*) - count(distinct school_code) as duplicate_schools,
              count(*) filter (where school_type not in {tuple(enums['school_type'])}
                                  or ownership not in {tuple(enums['ownership'])}
                                  or authority not in {tuple(enums['authority'])}
                                  or urban_rural not in ('urban', 'town', 'rural')) as bad_enums
            from raw.census_schools where year = ?
            """,
            [year],
        ).fetchone()
    names = ("bad_school_code", "bad_county_code", "duplicate_schools", "bad_enums")
    metadata = dict(zip(names, (int(v) for v in bad)))
    return dg.AssetCheckResult(passed=not any(bad), metadata=metadata)


@dg.asset_check(
    asset=CENSUS_KEY,
    blocking=False,
    description="列漂移：文件缺少的可选列（视为未报送）和额外的列（保留）/ schema drift: optional columns missing, extra columns kept",
)
def census_schema_drift(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    year = partition_year(context)
    with warehouse.connect() as conn:
        rows = conn.execute(
            "select source_file, missing_columns, extra_columns from meta.source_files "
            "where year = ? and (missing_columns <> '[]' or extra_columns <> '[]') order by source_file",
            [year],
        ).fetchall()
    return dg.AssetCheckResult(
        passed=not rows,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "files_with_drift": len(rows),
            "drift": dg.MetadataValue.json([{"file": f, "missing": m, "extra": e} for f, m, e in rows]),
        },
    )


ingestion_assets = [raw_year_files]
ingestion_checks = [census_structure, census_schema_drift]
