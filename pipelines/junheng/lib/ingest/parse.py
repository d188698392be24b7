"""From a grid of text cells to typed, normalised rows of the contract, or the list of what is wrong.

Validation is columnar (polars), so a national file of 200,000 schools costs a few vector passes,
not a Python loop per cell. Every problem is collected; nothing stops at the first.

Numbers, codes, years, yes/no and enum cells are read as people type them: full-width characters (１２３, －５,
１，２３４, ＰＵＢＬＩＣ, the ideographic space) and the minus sign − are folded to their ASCII forms before validation
(the width part of Unicode NFKC). The rest of NFKC is deliberately not applied: it would turn 10² into 102 and ① into
1, values the sender did not write; such cells stay as written and are refused. Digits are ASCII digits ([0-9], not
the regex class \\d, which also matches other scripts' digits). A number must be finite and within its column's
physical range (schema.number_limit), else it is refused like a non-number. Text cells (names) are kept as written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import polars as pl

from junheng.lib import schema
from junheng.lib.ingest.files import HEADER_PROBE_ROWS, Grid, column_letter
from junheng.lib.ingest.problems import Problem

HEADER_SEARCH_ROWS = HEADER_PROBE_ROWS
# Full-width ASCII forms (U+FF01–U+FF5E), the ideographic space and the minus sign → ASCII.
WIDE = {**{chr(cp): chr(cp - 0xFEE0) for cp in range(0xFF01, 0xFF5F)}, "\u3000": " ", "\u2212": "-"}
_WIDE_FROM, _WIDE_TO = list(WIDE), list(WIDE.values())
_FOLD = str.maketrans(WIDE)
_UNIT = re.compile(r"\(.*?\)$")
_THOUSANDS = r"^[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?$"
_PLAIN_NUMBER = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_NON_ASCII = r"[^\x00-\x7F]"
_SHOWN = 80  # characters of a bad value quoted in a message


def fold_width(text: str) -> str:
    """Full-width forms to ASCII (the width part of NFKC), as `_type_columns` does in bulk."""
    return text.translate(_FOLD)


def normalise_header(text: str) -> str:
    """Spec §1: spaces around, full-width brackets and the bracketed unit do not matter."""
    return re.sub(r"\s+", "", fold_width(text)).lower()


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


def header_position(rows: list[list[str]], ds: Dataset) -> tuple[int, list[str | None]] | None:
    """The position (among `rows`) of the first row that holds the identity columns, and each cell's column."""
    lookup = ds.header_lookup()
    for pos, cells in enumerate(rows[:HEADER_SEARCH_ROWS]):
        mapped = [lookup.get(normalise_header(c)) if c else None for c in cells]
        if all(name in mapped for name in ds.identity):
            return pos, mapped
    return None


def header_probe(ds: Dataset):
    """For files.read_grid: whether a sheet's first rows hold this dataset's header row."""
    return lambda rows: header_position(rows, ds) is not None


def _find_header(grid: Grid, ds: Dataset) -> tuple[int, list[str | None]] | None:
    return header_position([cells for _, cells in grid.head(HEADER_SEARCH_ROWS)], ds)


def _total_line(cells: list[str]) -> pl.Expr:
    return pl.any_horizontal(
        [pl.col(c).str.starts_with(m) for c in cells[:4] for m in schema.TOTAL_LINE_MARKERS]
    )


def _body(grid: Grid, header_pos: int) -> pl.DataFrame:
    """The rows below the header that hold any cell and are not a total line (合计 / 总计 in the first four cells)."""
    cells = [c for c in grid.cells.columns if c != "row"]
    return grid.cells.slice(header_pos + 1).filter(pl.any_horizontal(pl.col(cells) != "") & ~_total_line(cells))


def _formula_problems(grid: Grid, header_pos: int | None, header_cells: list[str]) -> list[Problem]:
    """XLSX formula cells without a saved value, at or below the header row (all of them if there is no header),
    except in a total line, which is not read."""
    if not grid.formulas:
        return []
    skip: set[int] = set()
    first_row = None
    if header_pos is not None:
        cells = [c for c in grid.cells.columns if c != "row"]
        first_row = grid.cells["row"][header_pos]
        skip = set(grid.cells.slice(header_pos + 1).filter(_total_line(cells))["row"].to_list())
    problems = []
    for f in grid.formulas:
        if (first_row is not None and f.row < first_row) or f.row in skip:
            continue
        header = header_cells[f.index] if f.index < len(header_cells) and header_cells[f.index] else column_letter(f.index)
        formula = f"（{f.formula[:60]}）" if f.formula else ""
        if f.reason == "uncached":
            why = ("但文件里没有保存它的计算结果", "holds a formula without a saved value")
        else:
            why = ("而文件要求 Excel 打开时重算全部公式（fullCalcOnLoad），保存的结果未必是 Excel 显示的值",
                   "holds a formula and the file asks Excel to recalculate every formula on opening (fullCalcOnLoad): "
                   "its saved value need not be what Excel shows")
        problems.append(Problem(
            grid.rel_path, f.row, header,
            f"单元格 {f.coordinate} 是公式{formula}，{why[0]}：请用 Excel 打开后保存，或将公式粘贴为数值 / cell "
            f"{f.coordinate} {why[1]}: open and save the file in Excel, or paste the formulas as values",
        ))
    return problems


# Columns read as people type them: full-width forms folded before validation (see the module docstring).
FOLDED_KINDS = ("code10", "code6", "enum", "number", "year", "bool")
_ORIGINAL = "\x00as written"  # suffix of the column that keeps a folded cell as written, for messages


def _fold_wide(raw: pl.DataFrame, ds: Dataset) -> pl.DataFrame:
    """Fold full-width forms in the columns of FOLDED_KINDS that hold any non-ASCII cell (one vector pass to find
    them; ASCII columns, the national bulk, are not touched). The cells as written are kept for messages."""
    kinds = {c.name: c.kind for c in ds.columns}
    candidates = [n for n in raw.columns if kinds.get(n) in FOLDED_KINDS]
    if not candidates or not raw.height:
        return raw
    wide = raw.select(pl.col(candidates).str.contains(_NON_ASCII).any()).row(0)
    to_fold = [n for n, w in zip(candidates, wide) if w]
    if not to_fold:
        return raw
    return raw.with_columns(
        *[pl.col(n).alias(n + _ORIGINAL) for n in to_fold],
        *[pl.col(n).str.replace_many(_WIDE_FROM, _WIDE_TO) for n in to_fold],
    )


def parse_grid(grid: Grid, ds: Dataset, year: int) -> ParsedFile:
    out = ParsedFile(grid.rel_path, grid.sha256, None)
    found = _find_header(grid, ds)
    if found is None:
        names = "、".join(f"{c.zh}({c.name})" for c in ds.columns if c.name in ds.identity)
        where = f"（工作表“{grid.sheet}”）" if grid.sheet else ""
        hidden = (f"；隐藏的工作表不读取：{'、'.join(grid.hidden_sheets)} / hidden sheets are never read: "
                  f"{', '.join(grid.hidden_sheets)}") if grid.hidden_sheets else ""
        out.problems.append(
            Problem(grid.rel_path, None, None, f"找不到表头{where}：前{HEADER_SEARCH_ROWS}行中没有必需的标识列 {names} / no header "
                                               f"row with the identity columns{hidden}")
        )
        out.problems.extend(_formula_problems(grid, None, []))
        return out
    header_pos, mapped = found
    header_row, header_cells = grid.head(header_pos + 1)[header_pos]
    body = _body(grid, header_pos)
    out.problems.extend(_formula_problems(grid, header_pos, header_cells))

    # Columns: contract columns by position; duplicates are an error; unknown headers are extras, and so are
    # values under no header (named by their column letter): kept and reported, never dropped.
    positions: dict[str, int] = {}
    extras: dict[str, int] = {}
    unheaded = [idx for idx, text in enumerate(header_cells) if not text]
    if unheaded:
        filled = body.select(pl.col(f"c{idx}").ne("").any() for idx in unheaded).row(0) if body.height else ()
        unheaded = [idx for idx, has in zip(unheaded, filled) if has]
    for idx, (name, text) in enumerate(zip(mapped, header_cells)):
        if name is None:
            if text:
                key = text if text not in extras else f"{text}（{column_letter(idx)}列）"
                extras[key] = idx
            elif idx in unheaded:
                extras[f"{column_letter(idx)}列（无表头）"] = idx
            continue
        if name in positions:
            out.problems.append(
                Problem(grid.rel_path, header_row, text, f"列重复：与第{positions[name] + 1}列同为 {name} / duplicate column")
            )
            continue
        positions[name] = idx
    out.extra_columns = list(extras)

    header_text = {name: header_cells[idx] for name, idx in positions.items()}

    def cells_of(idx: int) -> pl.Series:
        return body[f"c{idx}"]

    raw = _fold_wide(body.select(
        pl.col("row").cast(pl.Int32).alias("source_row"), *[pl.col(f"c{idx}").alias(n) for n, idx in positions.items()]
    ), ds)

    # Required columns (senior_students only where a school has a senior section).
    required = list(ds.required)
    if ds is CENSUS and "school_type" in raw.columns:
        types = raw["school_type"].str.strip_chars().str.to_lowercase().replace_strict(
            {k.lower(): v for k, v in schema.ENUMS["school_type"].items()}, default=None)
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


def _shown(expr: pl.Expr) -> pl.Expr:
    """A cell as quoted in a message: as written, cut to _SHOWN characters."""
    return pl.when(expr.str.len_chars() > _SHOWN).then(expr.str.slice(0, _SHOWN) + "…").otherwise(expr)


def _type_columns(
    raw: pl.DataFrame, ds: Dataset, year: int, header_text: dict[str, str], rel: str
) -> tuple[pl.DataFrame, list[Problem]]:
    """Cast every present column; return the typed frame and one problem per bad cell.

    Two vector passes: the first parses every cell (column `PARSED + name`), the second flags bad cells from the
    parsed values (so a number is parsed once, not once per check); messages are built only for flagged rows."""
    PARSED = "\x00parsed "
    parsed_exprs: list[pl.Expr] = []
    out_exprs: list[pl.Expr] = [pl.col("source_row")]
    checks: list[tuple[str, pl.Expr, pl.Expr]] = []  # (column, bad-cell predicate, message expr)
    by_name = {c.name: c for c in ds.columns}
    for name in raw.columns:
        if name == "source_row" or name not in by_name:
            continue
        col = by_name[name]
        s = pl.col(name).str.strip_chars()  # folded (full-width → ASCII) where FOLDED_KINDS
        v = pl.col(PARSED + name)
        written = _shown(pl.col(name + _ORIGINAL).str.strip_chars() if name + _ORIGINAL in raw.columns else s)
        empty = s == ""
        is_required = name in ds.required or name in ds.identity
        out = v
        if col.kind in ("code10", "code6"):
            width = 10 if col.kind == "code10" else 6
            parsed = pl.when(empty).then(None).otherwise(s)
            bad = ~s.str.contains(rf"^[0-9]{{{width}}}$")
            msg = pl.format(f"应为{width}位数字代码（不补零、不猜测）/ expected a {width}-digit code, got “{{}}”", written)
        elif col.kind == "enum":
            mapping = schema.ENUMS[col.enum]
            parsed = s.str.to_lowercase().replace_strict({k.lower(): v for k, v in mapping.items()}, default=None)
            bad = v.is_null() if is_required else (~empty & v.is_null())
            accepted = "、".join(k for k in mapping if not k.isascii()) + " / " + ", ".join(
                sorted({v for v in mapping.values()})
            )
            msg = pl.format(f"未知的取值“{{}}”，应为 {accepted} / unknown value", written)
            if col.enum == "urban_rural":
                parsed_exprs.append(
                    pl.when(s.str.contains(r"^[0-9]{3}$")).then(s).otherwise(None).alias(PARSED + "urban_rural_code")
                )
                out_exprs.append(pl.col(PARSED + "urban_rural_code").alias("urban_rural_code"))
        elif col.kind == "number":
            limit = schema.number_limit(col)
            cleaned = pl.when(s.str.contains(_THOUSANDS)).then(s.str.replace_all(",", "")).otherwise(s)
            parsed = pl.when(cleaned.str.contains(_PLAIN_NUMBER)).then(cleaned).otherwise(None).cast(
                pl.Float64, strict=False)
            out_of_range = v.is_not_null() & (~v.is_finite() | (v.abs() > limit))
            bad = ~empty & (v.is_null() | out_of_range)
            msg = pl.when(out_of_range).then(pl.format(
                f"超出该列的可能范围（绝对值不超过 {limit:,.0f}）/ outside this column's physical range (at most "
                f"{limit:,.0f} in absolute value), got “{{}}”", written)
            ).otherwise(pl.format("应为数字 / expected a number, got “{}”", written))
        elif col.kind == "year":
            parsed = pl.when(s.str.contains(r"^[0-9]{4}(\.0+)?$")).then(s.str.slice(0, 4)).otherwise(None).cast(
                pl.Int32, strict=False)
            bad = ~empty & (v.is_null() | (v != year))
            msg = pl.format(f"统计年度应为 {year}（与文件夹一致）/ year must equal the folder's year {year}, got “{{}}”", written)
            out = pl.lit(year, dtype=pl.Int32)
        elif col.kind == "bool":
            parsed = s.str.to_lowercase().replace_strict(schema.BOOL_VALUES, default=None, return_dtype=pl.Boolean)
            bad = ~empty & v.is_null()
            msg = pl.format("应为 是/否（yes/no, 1/0, true/false）/ expected yes or no, got “{}”", written)
        else:  # text
            parsed = pl.when(empty).then(None).otherwise(s)
            bad = empty if is_required else pl.lit(False)
            msg = pl.lit("必需的值为空 / required value is empty")
        if is_required and col.kind not in ("enum", "number"):
            # Identity cells must hold a value; an empty count is "not reported" (spec §1).
            bad = bad | empty
        parsed_exprs.append(parsed.alias(PARSED + name))
        out_exprs.append(out.alias(name))
        checks.append((name, bad, msg))

    frame = raw.with_columns(parsed_exprs)
    flag = "\x00bad "
    flags = frame.select(bad.alias(flag + name) for name, bad, _ in checks) if checks else pl.DataFrame()
    hit_counts = flags.select(pl.all().sum()).row(0) if checks else ()
    problems: list[Problem] = []
    for (name, _, msg), n in zip(checks, hit_counts):
        if not n:
            continue
        hits = frame.filter(flags[flag + name]).select("source_row", msg.alias("message"))
        for row, message in hits.iter_rows():
            problems.append(Problem(rel, row, header_text[name], message))
    typed_frame = frame.select(out_exprs) if not problems else raw.head(0)
    return typed_frame, problems
