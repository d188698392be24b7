"""From a grid of text cells to typed, normalised rows of the contract, or the list of what is wrong.

Validation is columnar (polars), so a national file of 200,000 schools costs a few vector passes,
not a Python loop per cell. Every problem is collected; nothing stops at the first.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import polars as pl

from junheng.lib import schema
from junheng.lib.ingest.files import Grid
from junheng.lib.ingest.problems import Problem

HEADER_SEARCH_ROWS = 30
_BRACKETS = str.maketrans({"（": "(", "）": ")", "　": " "})
_UNIT = re.compile(r"\(.*?\)$")
_THOUSANDS = r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$"
_PLAIN_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"


def normalise_header(text: str) -> str:
    """Spec §1: spaces around, full-width brackets and the bracketed unit do not matter."""
    return re.sub(r"\s+", "", text.translate(_BRACKETS)).lower()


@dataclass(frozen=True)
class Dataset:
    name: str  # "census" or "county_returns"
    columns: tuple[schema.Column, ...]
    required: tuple[str, ...]
    identity: tuple[str, ...]
    sheets: tuple[str, ...]  # preferred sheet names (spec §1)
    key: str  # the column that must be unique within a year

    def header_lookup(self) -> dict[str, str]:
        lookup: dict[str, str] = {}
        for col in self.columns:
            zh = normalise_header(col.zh)
            for alias in (col.name.lower(), zh, _UNIT.sub("", zh)):
                lookup[alias] = col.name
        return lookup


CENSUS = Dataset(
    "census", schema.CENSUS_COLUMNS, schema.CENSUS_REQUIRED, schema.CENSUS_IDENTITY, ("学校", "schools"), "school_code"
)
COUNTY_RETURNS = Dataset(
    "county_returns",
    schema.RETURN_COLUMNS,
    schema.RETURN_REQUIRED,
    schema.RETURN_IDENTITY,
    ("县", "counties"),
    "county_code",
)


@dataclass
class ParsedFile:
    rel_path: str
    sha256: str
    frame: pl.DataFrame | None  # contract columns (all of them) + lineage; None when the file is refused
    keys: pl.DataFrame | None = None  # key cells as written (source_file, source_row, key), even when refused
    problems: list[Problem] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)  # optional columns absent: "not reported"
    extra_columns: list[str] = field(default_factory=list)  # kept in extra_columns, reported


def _find_header(grid: Grid, ds: Dataset) -> tuple[int, list[str | None]] | None:
    lookup = ds.header_lookup()
    for pos, (_, cells) in enumerate(grid.head(HEADER_SEARCH_ROWS)):
        mapped = [lookup.get(normalise_header(c)) if c else None for c in cells]
        if all(name in mapped for name in ds.identity):
            return pos, mapped
    return None


def _body(grid: Grid, header_pos: int) -> pl.DataFrame:
    """The rows below the header that hold any cell and are not a total line (合计 / 总计 in the first four cells)."""
    cells = [c for c in grid.cells.columns if c != "row"]
    total = pl.any_horizontal(
        [pl.col(c).str.starts_with(m) for c in cells[:4] for m in schema.TOTAL_LINE_MARKERS]
    )
    return grid.cells.slice(header_pos + 1).filter(pl.any_horizontal(pl.col(cells) != "") & ~total)


def parse_grid(grid: Grid, ds: Dataset, year: int) -> ParsedFile:
    out = ParsedFile(grid.rel_path, grid.sha256, None)
    found = _find_header(grid, ds)
    if found is None:
        names = "、".join(f"{c.zh}({c.name})" for c in ds.columns if c.name in ds.identity)
        out.problems.append(
            Problem(grid.rel_path, None, None, f"找不到表头：前{HEADER_SEARCH_ROWS}行中没有必需的标识列 {names} / no header row with the identity columns")
        )
        return out
    header_pos, mapped = found
    header_row, header_cells = grid.head(header_pos + 1)[header_pos]

    # Columns: contract columns by position; duplicates are an error; unknown headers are extras.
    positions: dict[str, int] = {}
    extras: dict[str, int] = {}
    for idx, (name, text) in enumerate(zip(mapped, header_cells)):
        if name is None:
            if text:
                extras[text] = idx
            continue
        if name in positions:
            out.problems.append(
                Problem(grid.rel_path, header_row, text, f"列重复：与第{positions[name] + 1}列同为 {name} / duplicate column")
            )
            continue
        positions[name] = idx
    out.extra_columns = list(extras)

    body = _body(grid, header_pos)
    header_text = {name: header_cells[idx] for name, idx in positions.items()}

    def cells_of(idx: int) -> pl.Series:
        return body[f"c{idx}"]

    raw = body.select(
        pl.col("row").cast(pl.Int32).alias("source_row"), *[pl.col(f"c{idx}").alias(n) for n, idx in positions.items()]
    )

    # Required columns (senior_students only where a school has a senior section).
    required = list(ds.required)
    if ds is CENSUS and "school_type" in raw.columns:
        types = raw["school_type"].str.strip_chars().replace_strict(schema.ENUMS["school_type"], default=None)
        if types.is_in(["complete_secondary", "twelve_year"]).any():
            required.append(schema.CENSUS_REQUIRED_WITH_SENIOR)
    for name in required:
        if name not in positions:
            col = next(c for c in ds.columns if c.name == name)
            out.problems.append(
                Problem(grid.rel_path, header_row, f"{col.zh} / {col.name}", "缺少必需的列 / required column missing")
            )
    out.missing_columns = [
        c.name for c in ds.columns if c.name not in positions and c.name not in required and c.name != "year"
    ]
    if ds.key in raw.columns:
        out.keys = raw.select(
            pl.lit(grid.rel_path).alias("source_file"), "source_row", pl.col(ds.key).str.strip_chars().alias(ds.key)
        ).filter(pl.col(ds.key) != "")

    typed, cell_problems = _type_columns(raw, ds, year, header_text, grid.rel_path)
    out.problems.extend(cell_problems)
    if out.problems:
        return out

    # Every contract column exists in the frame; absent ones are "not reported" (NULL).
    for col in ds.columns:
        if col.name not in typed.columns:
            typed = typed.with_columns(pl.lit(None, dtype=_polars_type(col)).alias(col.name))
    if ds is CENSUS and "urban_rural_code" not in typed.columns:
        typed = typed.with_columns(pl.lit(None, dtype=pl.String).alias("urban_rural_code"))
    typed = typed.with_columns(pl.lit(year, dtype=pl.Int32).alias("year"))
    if extras:
        extra_frame = pl.DataFrame([cells_of(i).alias(h) for h, i in extras.items()])
        encoded = [
            json.dumps({k: v for k, v in row.items() if v}, ensure_ascii=False) if any(row.values()) else None
            for row in extra_frame.iter_rows(named=True)
        ]
        typed = typed.with_columns(pl.Series("extra_columns", encoded, dtype=pl.String))
    else:
        typed = typed.with_columns(pl.lit(None, dtype=pl.String).alias("extra_columns"))
    out.frame = typed.with_columns(
        pl.lit(grid.rel_path).alias("source_file"), pl.lit(grid.sha256).alias("source_sha256")
    )
    return out


def _polars_type(col: schema.Column) -> pl.DataType:
    return {"number": pl.Float64, "year": pl.Int32, "bool": pl.Boolean}.get(col.kind, pl.String)


def _type_columns(
    raw: pl.DataFrame, ds: Dataset, year: int, header_text: dict[str, str], rel: str
) -> tuple[pl.DataFrame, list[Problem]]:
    """Cast every present column; return the typed frame and one problem per bad cell."""
    exprs: list[pl.Expr] = [pl.col("source_row")]
    checks: list[tuple[str, pl.Expr, pl.Expr]] = []  # (column, bad-cell predicate, message expr)
    by_name = {c.name: c for c in ds.columns}
    for name in raw.columns:
        if name == "source_row":
            continue
        col = by_name[name]
        s = pl.col(name).str.strip_chars()
        empty = s == ""
        is_required = name in ds.required or name in ds.identity
        if col.kind in ("code10", "code6"):
            width = 10 if col.kind == "code10" else 6
            typed = pl.when(empty).then(None).otherwise(s)
            bad = ~s.str.contains(rf"^\d{{{width}}}$")
            msg = pl.format(f"应为{width}位数字代码（不补零、不猜测）/ expected a {width}-digit code, got “{{}}”", s)
        elif col.kind == "enum":
            mapping = schema.ENUMS[col.enum]
            typed = s.str.to_lowercase().replace_strict({k.lower(): v for k, v in mapping.items()}, default=None)
            bad = typed.is_null() if is_required else (~empty & typed.is_null())
            accepted = "、".join(k for k in mapping if not k.isascii()) + " / " + ", ".join(
                sorted({v for v in mapping.values()})
            )
            msg = pl.format(f"未知的取值“{{}}”，应为 {accepted} / unknown value", s)
            if col.enum == "urban_rural":
                exprs.append(
                    pl.when(s.str.contains(r"^\d{3}$")).then(s).otherwise(None).alias("urban_rural_code")
                )
        elif col.kind == "number":
            cleaned = pl.when(s.str.contains(_THOUSANDS)).then(s.str.replace_all(",", "")).otherwise(s)
            typed = pl.when(cleaned.str.contains(_PLAIN_NUMBER)).then(cleaned).otherwise(None).cast(pl.Float64)
            bad = ~empty & typed.is_null()
            msg = pl.format("应为数字 / expected a number, got “{}”", s)
        elif col.kind == "year":
            typed = pl.when(s.str.contains(r"^\d{4}(\.0+)?$")).then(s.str.slice(0, 4)).otherwise(None).cast(pl.Int32)
            bad = ~empty & (typed.is_null() | (typed != year))
            msg = pl.format(f"统计年度应为 {year}（与文件夹一致）/ year must equal the folder's year {year}, got “{{}}”", s)
            typed = pl.lit(year, dtype=pl.Int32)
        elif col.kind == "bool":
            typed = s.str.to_lowercase().replace_strict(schema.BOOL_VALUES, default=None, return_dtype=pl.Boolean)
            bad = ~empty & typed.is_null()
            msg = pl.format("应为 是/否（yes/no, 1/0, true/false）/ expected yes or no, got “{}”", s)
        else:  # text
            typed = pl.when(empty).then(None).otherwise(s)
            bad = empty if is_required else pl.lit(False)
            msg = pl.lit("必需的值为空 / required value is empty")
        if is_required and col.kind not in ("enum", "number"):
            # Identity cells must hold a value; an empty count is "not reported" (spec §1).
            bad = bad | empty
        exprs.append(typed.alias(name))
        checks.append((name, bad, msg))

    flagged = raw.select(
        pl.col("source_row"),
        *[pl.when(bad).then(msg).otherwise(None).alias(name) for name, bad, msg in checks],
    )
    problems: list[Problem] = []
    hit_counts = flagged.select(pl.col(name).is_not_null().sum() for name, _, _ in checks).row(0) if checks else ()
    for (name, _, _), n in zip(checks, hit_counts):
        if not n:
            continue
        hits = flagged.filter(pl.col(name).is_not_null()).select("source_row", name)
        for row, message in hits.iter_rows():
            problems.append(Problem(rel, row, header_text[name], message))
    typed_frame = raw.select(exprs) if not problems else raw.head(0)
    return typed_frame, problems
