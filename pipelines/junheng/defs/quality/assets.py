"""Dagster pieces: the `marts/submission_flags` asset (per year) and the asset checks that summarise it.

Plausibility flags never block: the checks are non-blocking and report with severity WARN. (Structural checks that
refuse a year live with ingestion.)
"""



import os
import warnings
from pathlib import Path

import dagster as dg
import pandas as pd

from junheng.defs.partitions import partition_year, years_partitions
from junheng.defs.quality.flags import FLAG_COLUMNS, compute_flags_with_outcome
from junheng.defs.resources import WarehouseResource
from junheng.lib.warehouse import ensure_raw_schema

FLAGS_KEY = dg.AssetKey(["marts", "submission_flags"])
RAW_DEPS = [dg.AssetKey(["raw", "census_schools"]), dg.AssetKey(["raw", "county_returns"])]


def published_path(resource_path: str | Path) -> Path:
    """The published warehouse file a run's build copy (`<warehouse>.building`) will become."""
    p = Path(resource_path)
    return p.with_name(p.name.removesuffix(".building"))


def docs_root(resource_path: str | Path) -> Path:
    """GX Data Docs live beside the published warehouse: <dir>/docs/gx/<year>/index.html."""
    override = os.environ.get("JUNHENG_GX_DOCS_DIR")
    if override:
        return Path(override)
    return published_path(resource_path).parent / "docs" / "gx"


def write_docs_index(root: Path) -> Path:
    """<root>/index.html: one link per year's GX Data Docs site (<root>/<year>/index.html)."""
    years = sorted((p.name for p in root.iterdir() if p.is_dir() and p.name.isdigit() and (p / "index.html").exists()),
                   reverse=True)
    items = "\n".join(f'    <li><a href="{y}/index.html">{y}</a></li>' for y in years)
    html = f"""<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><title>junheng 数据质量 / data quality (GX Data Docs)</title></head>
<body>
  <h1>数据质量校验结果 / Great Expectations Data Docs</h1>
  <p>每个统计年度一个站点；规则见 expectations/rules.yml，标记见 marts.submission_flags。<br>
     One site per statistical year; rules in expectations/rules.yml, flags in marts.submission_flags.</p>
  <ul>
{items}
  </ul>
</body></html>
"""
    out = root / "index.html"
    out.write_text(html, encoding="utf-8")
    return out


def write_year_flags(conn, year: int, docs_dir: Path | None = None) -> dict:
    """Recompute and replace the flags of `year` and, if loaded, of `year + 1` (its year-over-year baseline).

    One transaction: readers see the old rows or the new ones, never a mix. Returns a summary per year.
    """
    ensure_raw_schema(conn)  # creates marts.submission_flags (its DDL lives with the raw tables)
    summary: dict = {}
    results = {}
    years = [year]
    has_next = conn.execute("SELECT count(*) FROM raw.census_schools WHERE year = ?", [year + 1]).fetchone()[0]
    if has_next:
        years.append(year + 1)
    for y in years:
        ddir = (docs_dir / str(y)) if docs_dir is not None else None
        flags, outcome = compute_flags_with_outcome(conn, y, docs_dir=ddir)
        results[y] = flags
        summary[y] = {
            "rows": int(len(flags)),
            "docs_index": str(outcome.docs_index) if outcome and outcome.docs_index else None,
            "gx": outcome.stats if outcome else {},
        }
    conn.execute("BEGIN TRANSACTION")
    try:
        for y, flags in results.items():
            conn.execute("DELETE FROM marts.submission_flags WHERE year = ?", [y])
            if len(flags):
                df = flags[FLAG_COLUMNS]  # noqa: F841 - read by DuckDB's replacement scan
                conn.execute(f"INSERT INTO marts.submission_flags ({', '.join(FLAG_COLUMNS)}) "
                             f"SELECT {', '.join(FLAG_COLUMNS)} FROM df")
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    for y, flags in results.items():
        summary[y]["by_rule"] = counts_by_rule(flags)
    if docs_dir is not None and docs_dir.exists():
        summary["docs_root_index"] = str(write_docs_index(docs_dir))
    return summary


def counts_by_rule(flags: pd.DataFrame) -> dict[str, int]:
    if not len(flags):
        return {}
    c = flags.groupby(["severity", "rule_id"]).size()
    return {f"{sev}:{rid}": int(n) for (sev, rid), n in c.items()}


@dg.asset(
    key=FLAGS_KEY,
    partitions_def=years_partitions,
    deps=RAW_DEPS,
    group_name="quality",
    kinds={"duckdb", "python"},
    description=(
        "Plausibility flags per school (and county return) and rule, one year per partition: expectations/rules.yml "
        "run as Great Expectations suites on pandas frames. Replaces the year's rows and recomputes the "
        "year-over-year flags of the following year when it is loaded. Severity warning = implausible value, "
        "info = event worth knowing. Never changes official figures."
    ),
)
def submission_flags(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    year = partition_year(context)
    docs = docs_root(warehouse.path)
    with warehouse.connect() as conn:
        summary = write_year_flags(conn, year, docs_dir=docs)
    s = summary[year]
    if (year + 1) in summary:
        context.log.info(f"recomputed the year-over-year flags of {year + 1}: {summary[year + 1]['rows']} rows")
    warn = sum(n for k, n in s["by_rule"].items() if k.startswith("warning:"))
    info = sum(n for k, n in s["by_rule"].items() if k.startswith("info:"))
    md = {
        "year": year,
        "flags": s["rows"],
        "warnings": warn,
        "infos": info,
        "counts_by_rule": dg.MetadataValue.json(s["by_rule"]),
        "gx_suites": dg.MetadataValue.json(s["gx"]),
        "recomputed_next_year": (year + 1) in summary,
    }
    if s["docs_index"]:
        md["gx_data_docs"] = dg.MetadataValue.path(s["docs_index"])
        md["gx_data_docs_url"] = dg.MetadataValue.url(Path(s["docs_index"]).resolve().as_uri())
        if summary.get("docs_root_index"):
            md["gx_data_docs_all_years"] = dg.MetadataValue.path(summary["docs_root_index"])
        context.log.info(f"GX Data Docs: {s['docs_index']}")
    return dg.MaterializeResult(metadata=md)


def _year_flags(warehouse: WarehouseResource, year: int) -> pd.DataFrame:
    with warehouse.connect(read_only=False) as conn:
        exists = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema='marts' AND table_name='submission_flags'"
        ).fetchone()[0]
        if not exists:
            return pd.DataFrame(columns=FLAG_COLUMNS)
        return conn.execute("SELECT * FROM marts.submission_flags WHERE year = ?", [year]).df()


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


# Partitioned asset checks are "preview" in Dagster 1.13; they are what lets a check summarise one year.
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*partitions_def on an AssetCheckSpec.*")


@dg.asset_check(
    asset=FLAGS_KEY,
    partitions_def=years_partitions,
    blocking=False,
    description="Schools of the year with at least one plausibility warning (counts per rule in metadata). Never blocks.",
)
def school_plausibility(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    return _summary_check(_year_flags(warehouse, partition_year(context)), school_level=True)


@dg.asset_check(
    asset=FLAGS_KEY,
    partitions_def=years_partitions,
    blocking=False,
    description="County returns of the year with rates out of range or required items missing. Never blocks.",
)
def county_return_plausibility(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    return _summary_check(_year_flags(warehouse, partition_year(context)), school_level=False)


quality_assets = [submission_flags]
quality_checks = [school_plausibility, county_return_plausibility]
