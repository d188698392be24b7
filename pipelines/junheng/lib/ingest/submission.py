"""One year's submission: every census and county-return file of the year, validated together.

`read_year` either returns the whole year, ready to write, or raises `YearRefused` with every problem of
every file. `write_year` then replaces exactly that year in one transaction.

What a year folder may hold (issue 11: nothing put in a data folder is skipped silently):

- `*.csv` and `*.xlsx` files (any case): read. Office lock files (`~$*`) and hidden dotfiles are skipped: senders
  never mean them.
- Anything else refuses the year with the entry named: a file of another type (`.xls`, `.txt`, …: convert it or
  move it out), a folder, a FIFO or device, a file that cannot be opened, a dangling symlink.
- Symlinks are followed only inside the data directory: a file or folder whose real path (every symlink resolved)
  is outside `data_dir` is refused, so a link can neither pull in nor probe files elsewhere.

`stray_entries(data_dir)` names what is under `census/` and `county_returns/` but is not a year folder (`2024abc`,
`２０２４`, a file put directly in `census/`, county returns of a year without a census folder): the run reports
them; no year can own them.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from junheng.lib.ingest.files import FileUnreadable, read_grid
from junheng.lib.ingest.limits import Limits
from junheng.lib.ingest.parse import CENSUS, COUNTY_RETURNS, Dataset, ParsedFile, header_probe, parse_grid
from junheng.lib.ingest.problems import Problem, YearRefused

SUFFIXES = (".csv", ".xlsx")
DATASET_DIRS = {"census": CENSUS, "county_returns": COUNTY_RETURNS}
SKIPPED_PREFIXES = ("~$", ".")  # Office lock files, hidden files
_YEAR_NAME = re.compile(r"[0-9]{4}")
log = logging.getLogger(__name__)


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


def _skipped(name: str) -> bool:
    return name.startswith(SKIPPED_PREFIXES)


def _rel(path: Path, data_dir: Path) -> str:
    return path.relative_to(data_dir).as_posix() if path.is_relative_to(data_dir) else str(path)


def _follow(path: Path, root: Path, rel: str) -> tuple[Path | None, Problem | None]:
    """The real path of an entry, if it exists and is inside the data directory `root` (already resolved)."""
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        return None, Problem(rel, None, None, f"符号链接指向不存在的文件 {target} / dangling symlink to {target}")
    except (OSError, RuntimeError) as exc:  # a symlink loop, a folder that cannot be searched
        return None, Problem(rel, None, None, f"无法访问 / cannot be accessed: {getattr(exc, 'strerror', None) or exc}")
    if not real.is_relative_to(root):
        return None, Problem(
            rel, None, None,
            f"符号链接指向数据目录之外（{real}），不读取 / a symlink to outside the data directory ({real}) is not followed",
        )
    return real, None


def year_entries(data_dir: Path, dataset: str, year: int) -> tuple[list[Path], list[Problem]]:
    """The files of a dataset's year folder to read, and a problem for every entry that cannot be read as one."""
    root = Path(data_dir).resolve()
    folder = Path(data_dir) / dataset / str(year)
    if not folder.exists() and not folder.is_symlink():
        return [], []
    rel_folder = _rel(folder, Path(data_dir)) + "/"
    real, problem = _follow(folder, root, rel_folder)
    if problem:
        return [], [problem]
    if not real.is_dir():
        return [], [Problem(rel_folder, None, None, "应为年度文件夹，却是一个文件 / a file where the year folder should be")]
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        return [], [Problem(rel_folder, None, None, f"无法读取文件夹：{exc.strerror} / cannot list the folder: {exc.strerror}")]
    files: list[Path] = []
    problems: list[Problem] = []
    for path in entries:
        if _skipped(path.name):
            continue
        rel = _rel(path, Path(data_dir))
        real, problem = _follow(path, root, rel)
        if problem:
            problems.append(problem)
            continue
        try:
            mode = real.stat().st_mode
        except OSError as exc:
            problems.append(Problem(rel, None, None, f"无法访问 / cannot be accessed: {exc.strerror}"))
            continue
        if stat.S_ISDIR(mode):
            problems.append(Problem(rel + "/", None, None, "年度文件夹里的子文件夹不读取：请把文件移到年度文件夹中或移出 / a "
                                                           "folder inside a year folder is not read: move its files up, or move it out"))
        elif not stat.S_ISREG(mode):
            problems.append(Problem(rel, None, None, "不是普通文件 / not a regular file"))
        elif path.suffix.lower() not in SUFFIXES:
            problems.append(Problem(rel, None, None, "不支持的文件类型：年度文件夹只能放 .csv 和 .xlsx 文件（请转换或移出）/ "
                                                     "unsupported file type: a year folder holds .csv and .xlsx files "
                                                     "only (convert it, or move it out)"))
        else:
            files.append(path)
    return files, problems


def year_files(data_dir: Path, dataset: str, year: int) -> list[Path]:
    """The files of a dataset's year folder that are read (see year_entries for what is refused)."""
    return year_entries(data_dir, dataset, year)[0]


def available_years(data_dir: Path) -> list[int]:
    folder = data_dir / "census"
    if not folder.is_dir():
        return []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    return sorted(int(p.name) for p in entries if _YEAR_NAME.fullmatch(p.name) and p.is_dir())


def stray_entries(data_dir: Path) -> list[Problem]:
    """What is under census/ and county_returns/ but is not a year folder that a load reads: each a Problem naming
    it (the run reports them; they belong to no year). Lock files (~$*) and hidden entries are not named."""
    data_dir = Path(data_dir)
    root = data_dir.resolve()
    census_years = set(available_years(data_dir))
    problems: list[Problem] = []
    for dataset in DATASET_DIRS:
        folder = data_dir / dataset
        if not folder.exists() and not folder.is_symlink():
            continue
        real, problem = _follow(folder, root, dataset + "/")
        if problem:
            problems.append(problem)
            continue
        if not real.is_dir():
            problems.append(Problem(dataset, None, None, f"应为文件夹 {dataset}/，却是一个文件 / {dataset} should be a folder"))
            continue
        try:
            entries = sorted(folder.iterdir())
        except OSError as exc:
            problems.append(Problem(dataset + "/", None, None, f"无法读取文件夹：{exc.strerror} / cannot list the folder: {exc.strerror}"))
            continue
        for path in entries:
            if _skipped(path.name):
                continue
            rel = _rel(path, data_dir)
            real, problem = _follow(path, root, rel)
            if problem:
                problems.append(problem)
                continue
            if not real.is_dir():
                problems.append(Problem(rel, None, None, f"{dataset}/ 下只放年度文件夹，此文件不读取：请放进 {dataset}/<年度>/ / only "
                                                         f"year folders belong in {dataset}/: this file is not read; put it in "
                                                         f"{dataset}/<year>/"))
            elif not _YEAR_NAME.fullmatch(path.name):
                problems.append(Problem(rel + "/", None, None, f"文件夹名不是四位数字的年度，不读取 / the folder name is not a "
                                                               f"four-digit year ({path.name!r}): it is not read"))
            elif dataset != "census" and int(path.name) not in census_years:
                problems.append(Problem(rel + "/", None, None, f"没有对应的 census/{path.name}/ 学校普查文件夹，此年度的县级报表不读取 "
                                                               f"/ no census/{path.name}/ folder: these county returns are not read"))
    return problems


def _parse_dataset(data_dir: Path, ds: Dataset, year: int, limits: Limits) -> tuple[list[ParsedFile], list[Problem]]:
    parsed: list[ParsedFile] = []
    files, problems = year_entries(data_dir, ds.name, year)
    for path in files:
        try:
            grid = read_grid(path, data_dir, ds.sheets, header_probe=header_probe(ds), limits=limits)
            pf = parse_grid(grid, ds, year)
        except FileUnreadable as exc:
            problems.extend(exc.problems)
            continue
        except Exception as exc:  # never a traceback without the file: name it, keep the traceback in the log
            log.exception("reading %s", path)
            problems.append(Problem(_rel(path, data_dir), None, None,
                                    f"读取此文件时出错 / error reading this file: {type(exc).__name__}: {exc}"))
            continue
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


def read_year(data_dir: Path, year: int, limits: Limits | None = None) -> YearSubmission:
    """The whole year, validated; or YearRefused with every problem of every file (limits: Limits.from_env())."""
    limits = limits or Limits.from_env()
    census_files, problems = _parse_dataset(data_dir, CENSUS, year, limits)
    return_files, return_problems = _parse_dataset(data_dir, COUNTY_RETURNS, year, limits)
    problems += return_problems
    if not census_files and not any(p.file.startswith(f"census/{year}/") for p in problems):
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
