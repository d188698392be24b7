"""Ingestion: the census and county-return files of each year into raw.census_schools / raw.county_returns.

Both datasets of a year are one multi-asset because the year is accepted or refused as a whole (spec §4): every
file of the year is validated before anything of it is written, and the write replaces exactly that year in one
transaction. A load of several years is one run over a range of year partitions: each year is accepted or refused
on its own ("years of the same run that were not refused are published"), so a refused year does not fail the step;
its partition records the refusal (metadata `status: refused` and the problems) and the blocking-free check
`census_files_accepted` fails for it, in the UI and in the CLI's summary. Years of the range that the load did not
ask for (the years after a reloaded one, whose flags and marts it rebuilds) are kept as loaded.
"""


from datetime import datetime, timezone

import dagster as dg

from junheng.defs.partitions import partition_years, years_partitions
from junheng.defs.resources import WarehouseResource
from junheng.lib import schema
from junheng.lib import warehouse as wh
from junheng.lib.ingest import YearRefused, read_year, write_year

CENSUS_KEY = dg.AssetKey(["raw", "census_schools"])
RETURNS_KEY = dg.AssetKey(["raw", "county_returns"])


class IngestConfig(dg.Config):
    """Which years of the run to read from their files (default: every year of the run). The others are kept."""

    years: list[int] | None = None


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
        ),
    ],
    partitions_def=years_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    can_subset=False,
)
def raw_year_files(context: dg.AssetExecutionContext, config: IngestConfig, warehouse: WarehouseResource):
    """Per year of the run: validate every file, then replace the year's raw rows; a year with any problem is
    refused whole and left as it was."""
    years = partition_years(context)
    wanted = set(years if config.years is None else config.years)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    outcomes: dict[int, dict] = {}
    for year in years:
        if year not in wanted:
            with warehouse.connect() as conn:
                n = conn.execute("SELECT count(*) FROM raw.census_schools WHERE year = ?", [year]).fetchone()[0]
            outcomes[year] = {"status": "kept", "schools": n}
            continue
        context.log.info(f"{year}: 读取、校验、入库 / reading, validating, loading …")
        try:
            submission = read_year(warehouse.data_path, year)
        except YearRefused as refused:
            problems = [p.to_dict() for p in refused.problems]
            outcomes[year] = {"status": "refused", "problems": problems}
            context.log.error(str(refused))
            continue
        for warning in submission.warnings:
            context.log.warning(warning)
        with warehouse.connect() as conn:
            counts = write_year(conn, submission, context.run.run_id, now)
        outcomes[year] = {
            "status": "loaded",
            "schools": counts["schools"],
            "county_returns": counts["county_returns"],
            "files": [{"file": f.rel_path, "sha256": f.sha256[:12], "rows": f.frame.height,
                       "missing": f.missing_columns, "extra": f.extra_columns} for f in submission.files],
            "warnings": submission.warnings,
        }
        context.log.info(f"{year}: 已入库 / loaded ({len(submission.files)} 个文件 files, {counts['schools']} 所学校 schools)")
        wh.pause_point("ingest")
    refused = {str(y): o["problems"] for y, o in outcomes.items() if o["status"] == "refused"}
    if refused and not any(o["status"] == "loaded" for o in outcomes.values()):
        # Nothing of the run changed: stop here (nothing downstream to rebuild, nothing to publish).
        raise dg.Failure(
            description=f"被拒绝 / refused: {', '.join(refused)} —— 未入库任何年度，仓库保持原样 / no year loaded, "
                        "the warehouse is unchanged",
            metadata={"refused": dg.MetadataValue.json(refused)},
            allow_retries=False,
        )
    for year, outcome in outcomes.items():
        md = {"status": outcome["status"]}
        if outcome["status"] == "refused":
            md["problems"] = dg.MetadataValue.json(outcome["problems"])
        else:
            md["dagster/row_count"] = outcome["schools"]
        if outcome["status"] == "loaded":
            md["files"] = dg.MetadataValue.json(outcome["files"])
            md["warnings"] = dg.MetadataValue.json(outcome["warnings"])
        context.add_asset_metadata(md, asset_key=CENSUS_KEY, partition_key=str(year))
        returns_md = {"status": outcome["status"]}
        if "county_returns" in outcome:
            returns_md["dagster/row_count"] = outcome["county_returns"]
        context.add_asset_metadata(returns_md, asset_key=RETURNS_KEY, partition_key=str(year))
    yield dg.MaterializeResult(asset_key=CENSUS_KEY)
    yield dg.MaterializeResult(asset_key=RETURNS_KEY)


def _run_years(context: dg.AssetCheckExecutionContext) -> list[int]:
    return [int(k) for k in context.partition_keys]


@dg.asset_check(
    asset=CENSUS_KEY,
    blocking=True,
    description="结构规则：学校代码10位且当年唯一、县代码6位、枚举值合法（与入库校验同一规则）/ structural rules, blocking",
)
def census_structure(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Re-asserts on what was written the structural rules ingestion enforces, so a bypass cannot go unseen."""
    years = _run_years(context)
    enums = {name: sorted(set(mapping.values())) for name, mapping in schema.ENUMS.items()}
    with warehouse.connect() as conn:
        rows = conn.execute(
            f"""
            select year,
              count(*) filter (where not regexp_full_match(school_code, '\\d{{10}}')) as bad_school_code,
              count(*) filter (where not regexp_full_match(county_code, '\\d{{6}}')) as bad_county_code,
              count(*) - count(distinct school_code) as duplicate_schools,
              count(*) filter (where school_type not in {tuple(enums['school_type'])}
                                  or ownership not in {tuple(enums['ownership'])}
                                  or authority not in {tuple(enums['authority'])}
                                  or urban_rural not in ('urban', 'town', 'rural')) as bad_enums
            from raw.census_schools where year in (select unnest(?::INTEGER[])) group by year order by year
            """,
            [years],
        ).fetchall()
    names = ("bad_school_code", "bad_county_code", "duplicate_schools", "bad_enums")
    bad = {str(r[0]): dict(zip(names, (int(v) for v in r[1:]))) for r in rows if any(r[1:])}
    return dg.AssetCheckResult(passed=not bad, metadata={"years": years, "problems_by_year": dg.MetadataValue.json(bad)})


@dg.asset_check(
    asset=CENSUS_KEY,
    blocking=False,
    description="年度是否被接受：被拒绝的年度（文件、行、列）保持原样 / were the years of the run accepted; a refused year is left as it was",
)
def census_files_accepted(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    years = _run_years(context)
    refused = {}
    for record in context.instance.all_logs(context.run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        mat = record.asset_materialization
        if mat and mat.asset_key == CENSUS_KEY and "status" in mat.metadata and mat.metadata["status"].value == "refused":
            refused[mat.partition] = mat.metadata["problems"].value
    return dg.AssetCheckResult(
        passed=not refused,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"years": years, "refused_years": sorted(int(y) for y in refused),
                  "problems": dg.MetadataValue.json(refused)},
        description=("被拒绝 / refused: " + ", ".join(sorted(refused))) if refused else None,
    )


@dg.asset_check(
    asset=CENSUS_KEY,
    blocking=False,
    description="列漂移：文件缺少的可选列（视为未报送）和额外的列（保留）/ schema drift: optional columns missing, extra columns kept",
)
def census_schema_drift(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    years = _run_years(context)
    with warehouse.connect() as conn:
        rows = conn.execute(
            "select source_file, missing_columns, extra_columns from meta.source_files "
            "where year in (select unnest(?::INTEGER[])) and (missing_columns <> '[]' or extra_columns <> '[]') "
            "order by source_file",
            [years],
        ).fetchall()
    return dg.AssetCheckResult(
        passed=not rows,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "years": years,
            "files_with_drift": len(rows),
            "drift": dg.MetadataValue.json([{"file": f, "missing": m, "extra": e} for f, m, e in rows]),
        },
    )


ingestion_assets = [raw_year_files]
ingestion_checks = [census_structure, census_files_accepted, census_schema_drift]
