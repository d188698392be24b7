"""One year's submission: every census and county-return file of the year, validated together.

`read_year` either returns the whole year, ready to write, or raises `YearRefused` with every problem of
every file. `write_year` then replaces exactly that year in one transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from junheng.lib.ingest.files import FileUnreadable, read_grid
from junheng.lib.ingest.parse import CENSUS, COUNTY_RETURNS, Dataset, ParsedFile, parse_grid
from junheng.lib.ingest.problems import Problem, YearRefused

SUFFIXES = (".csv", ".xlsx")
DATASET_DIRS = {"census": CENSUS, "county_returns": COUNTY_RETURNS}


@dataclass
class YearSubmission:
    year: int
    census: pl.DataFrame
    county_returns: pl.DataFrame | None  # None: the year has no county return files (allowed)
    files: list[ParsedFile] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        out = []
        for f in self.files:
            if f.missing_columns:
                out.append(f"{f.rel_path}: 未报送的列 / columns not reported: {', '.join(f.missing_columns)}")
            if f.extra_columns:
                out.append(f"{f.rel_path}: 额外的列（已保留）/ extra columns kept: {', '.join(f.extra_columns)}")
        return out


def year_files(data_dir: Path, dataset: str, year: int) -> list[Path]:
    folder = data_dir / dataset / str(year)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith(("~$", ".")))


def available_years(data_dir: Path) -> list[int]:
    folder = data_dir / "census"
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit() and len(p.name) == 4)


def _parse_dataset(data_dir: Path, ds: Dataset, year: int) -> tuple[list[ParsedFile], list[Problem]]:
    parsed: list[ParsedFile] = []
    problems: list[Problem] = []
    for path in year_files(data_dir, ds.name, year):
        try:
            grid = read_grid(path, data_dir, ds.sheets)
        except FileUnreadable as exc:
            problems.append(exc.problem)
            continue
        pf = parse_grid(grid, ds, year)
        problems.extend(pf.problems)
        parsed.append(pf)
    return parsed, problems


def _duplicates(parsed: list[ParsedFile], ds: Dataset) -> list[Problem]:
    frames = [pf.keys for pf in parsed if pf.keys is not None]
    if not frames:
        return []
    keys = pl.concat(frames)
    dup = keys.filter(pl.col(ds.key).is_duplicated()).sort(ds.key, "source_file", "source_row")
    problems = []
    for key, group in dup.group_by(ds.key, maintain_order=True):
        places = [f"{f} 第{r}行" for f, r in group.select("source_file", "source_row").iter_rows()]
        for f, r in group.select("source_file", "source_row").iter_rows():
            problems.append(
                Problem(f, r, ds.key, f"同一年重复出现的代码 {key[0]}（{'; '.join(places)}）/ the same {ds.key} twice in one year")
            )
    return problems


def read_year(data_dir: Path, year: int) -> YearSubmission:
    census_files, problems = _parse_dataset(data_dir, CENSUS, year)
    return_files, return_problems = _parse_dataset(data_dir, COUNTY_RETURNS, year)
    problems += return_problems
    if not year_files(data_dir, "census", year):
        problems.append(
            Problem(f"census/{year}/", None, None, f"所请求的年度没有学校普查文件 / no census files for requested year {year}")
        )
    problems += _duplicates(census_files, CENSUS) + _duplicates(return_files, COUNTY_RETURNS)
    if problems:
        raise YearRefused(year, problems)
    census = pl.concat([f.frame for f in census_files], how="diagonal")  # files order columns freely
    returns = pl.concat([f.frame for f in return_files], how="diagonal") if return_files else None
    return YearSubmission(year, census, returns, census_files + return_files)


def write_year(conn: duckdb.DuckDBPyConnection, sub: YearSubmission, run_id: str, loaded_at: datetime) -> dict:
    """Replace exactly this year's raw rows (both datasets) and file records in one transaction."""
    lineage = [pl.lit(loaded_at).alias("loaded_at"), pl.lit(run_id).alias("load_run_id")]
    census = sub.census.with_columns(lineage)  # noqa: F841 (read by DuckDB below)
    returns = sub.county_returns.with_columns(lineage) if sub.county_returns is not None else None  # noqa: F841
    files = pl.DataFrame(  # noqa: F841
        {
            "year": [sub.year] * len(sub.files),
            "dataset": ["census" if f.rel_path.startswith("census/") else "county_returns" for f in sub.files],
            "source_file": [f.rel_path for f in sub.files],
            "source_sha256": [f.sha256 for f in sub.files],
            "rows": [f.frame.height for f in sub.files],
            "missing_columns": [json.dumps(f.missing_columns, ensure_ascii=False) for f in sub.files],
            "extra_columns": [json.dumps(f.extra_columns, ensure_ascii=False) for f in sub.files],
            "loaded_at": [loaded_at] * len(sub.files),
            "load_run_id": [run_id] * len(sub.files),
        },
        schema_overrides={"year": pl.Int32, "rows": pl.Int32},
    )
    conn.execute("BEGIN TRANSACTION")
    try:
        for table in ("raw.census_schools", "raw.county_returns", "meta.source_files"):
            conn.execute(f"DELETE FROM {table} WHERE year = ?", [sub.year])
        conn.execute("INSERT INTO raw.census_schools BY NAME SELECT * FROM census")
        if returns is not None:
            conn.execute("INSERT INTO raw.county_returns BY NAME SELECT * FROM returns")
        if files.height:
            conn.execute("INSERT INTO meta.source_files BY NAME SELECT * FROM files")
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    return {
        "schools": sub.census.height,
        "county_returns": 0 if sub.county_returns is None else sub.county_returns.height,
        "files": len(sub.files),
    }
