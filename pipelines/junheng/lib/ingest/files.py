"""Reading one submitted file (CSV in any accepted encoding, or XLSX) into a grid of text cells.

Nothing here knows the census columns: it returns every physical row with its spreadsheet row number
(spec §1: the file's first physical line is row 1) so that later steps can name rows in messages.

The grid is columnar (a polars frame: `row` + one text column per cell position), so a national file of 200,000
schools is split and stripped in bulk. A CSV without quote characters (every record one physical line) is split
by polars directly; one with quotes (a cell may span lines) goes through the csv module, which knows where each
record starts. Both give the same cells.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from junheng.lib.ingest.problems import Problem

# How io.StringIO(newline="") splits lines for csv.reader.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Characters for which the bulk split would differ from csv.reader + str.strip: quotes (cells spanning lines,
# quoted commas), NUL, and the separators \x1c-\x1f that str.strip removes but polars' strip keeps.
_NEEDS_CSV_MODULE = re.compile(r'["\x00\x1c-\x1f]')


@dataclass
class Grid:
    path: Path
    rel_path: str  # path relative to the data directory, as shown to users and stored as lineage
    sha256: str
    # `row` (spreadsheet row number) and c0, c1, … the cells as stripped text, "" = empty or absent
    cells: pl.DataFrame

    @property
    def width(self) -> int:
        return self.cells.width - 1

    def head(self, n: int) -> list[tuple[int, list[str]]]:
        """The first n physical rows as (row number, cells)."""
        return [(row, list(cells)) for row, *cells in self.cells.head(n).iter_rows()]

    @property
    def rows(self) -> list[tuple[int, list[str]]]:
        return self.head(self.cells.height)


def _cell_name(i: int) -> str:
    return f"c{i}"


def _frame_from_rows(rows: list[tuple[int, list[str]]]) -> pl.DataFrame:
    width = max((len(cells) for _, cells in rows), default=0)
    columns: dict[str, list] = {"row": [r for r, _ in rows]}
    for i in range(width):
        columns[_cell_name(i)] = [cells[i] if i < len(cells) else "" for _, cells in rows]
    return pl.DataFrame(columns, schema={"row": pl.Int32, **{_cell_name(i): pl.String for i in range(width)}})


def _split_plain_csv(text: str) -> pl.DataFrame:
    """A CSV without quotes: one record per physical line, cells split on commas and stripped, in bulk."""
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()  # the terminator of the last line
    split = pl.Series("line", lines, dtype=pl.String).str.split(",")
    width = int(split.list.len().max() or 0)
    frame = pl.DataFrame({"cells": split}).with_row_index("row", offset=1)
    return frame.select(
        pl.col("row").cast(pl.Int32),
        # csv.reader gives [] for an empty line: no cells, which reads as "" everywhere
        *[
            pl.col("cells").list.get(i, null_on_oob=True).fill_null("").str.strip_chars().alias(_cell_name(i))
            for i in range(width)
        ],
    )


class FileUnreadable(Exception):
    def __init__(self, problem: Problem):
        super().__init__(problem.message)
        self.problem = problem


def _decode(raw: bytes, rel: str) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8")  # a BOM that is followed by invalid UTF-8 is an error too
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        # Older exports: GBK / GB18030 (a superset of GBK and GB2312).
        return raw.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise FileUnreadable(
            Problem(rel, None, None, f"无法识别的文本编码（应为 UTF-8 或 GB18030）/ undecodable text at byte {exc.start}")
        ) from exc


def _read_csv(raw: bytes, rel: str) -> pl.DataFrame:
    text = _decode(raw, rel)
    if _NEEDS_CSV_MODULE.search(text) is None:
        return _split_plain_csv(text)
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for cells in reader:
            rows.append((start, [c.strip() for c in cells]))
            start = reader.line_num + 1  # a quoted cell may span lines: the next record starts after it
    except csv.Error as exc:
        raise FileUnreadable(Problem(rel, start, None, f"CSV 格式错误 / malformed CSV: {exc}")) from exc
    return _frame_from_rows(rows)


def _xlsx_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        # A code kept as a number reads back as its digits (spec §1), never as 3.41e9 or "341024.0".
        return str(int(value))
    return str(value).strip()


def _read_xlsx(path: Path, rel: str, preferred_sheets: tuple[str, ...]) -> pl.DataFrame:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise FileUnreadable(Problem(rel, None, None, f"无法打开的 XLSX 文件 / corrupt or unreadable XLSX: {exc}")) from exc
    try:
        names = {name.strip().lower(): name for name in wb.sheetnames}
        sheet = next((names[s] for s in preferred_sheets if s in names), wb.sheetnames[0])
        ws = wb[sheet]
        first = ws.min_row or 1
        return _frame_from_rows([
            (first + i, [_xlsx_cell(v) for v in values])
            for i, values in enumerate(ws.iter_rows(values_only=True))
        ])
    except Exception as exc:  # openpyxl raises many types on damaged sheet XML
        raise FileUnreadable(Problem(rel, None, None, f"无法读取的 XLSX 工作表 / unreadable XLSX sheet: {exc}")) from exc
    finally:
        wb.close()


def read_grid(path: Path, data_dir: Path, preferred_sheets: tuple[str, ...]) -> Grid:
    rel = path.relative_to(data_dir).as_posix() if path.is_relative_to(data_dir) else str(path)
    raw = path.read_bytes()
    sha = hashlib.sha256(raw).hexdigest()
    if not raw.strip():
        raise FileUnreadable(Problem(rel, None, None, "空文件 / the file is empty"))
    if path.suffix.lower() == ".xlsx":
        cells = _read_xlsx(path, rel, preferred_sheets)
    else:
        cells = _read_csv(raw, rel)
    if cells.width < 2 or not cells.select(pl.any_horizontal(pl.all().exclude("row") != "").any()).item():
        raise FileUnreadable(Problem(rel, None, None, "文件没有任何数据 / the file holds no cells"))
    return Grid(path=path, rel_path=rel, sha256=sha, cells=cells)
