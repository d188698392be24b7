"""Reading one submitted file (CSV in any accepted encoding, or XLSX) into a grid of text cells.

Nothing here knows the census columns: it returns every physical row with its spreadsheet row number
(spec §1: the file's first physical line is row 1) so that later steps can name rows in messages.

The grid is columnar (a polars frame: `row` + one text column per cell position), so a national file of 200,000
schools is split and stripped in bulk. A CSV without quote characters (every record one physical line) is split
by polars directly; one with quotes (a cell may span lines) goes through the csv module, which knows where each
record starts. Both give the same cells.

What a file holds is read as its sender sees it, or the file is refused with the place named (issue 11):

- Size. The limits of `limits.py` (file bytes, decompressed XLSX bytes, line bytes, rows, columns, cells) are
  checked before the large thing they bound is read or built, so a load's memory follows the data, not what a file
  claims. The file is read once, from one open descriptor, at most its stat size + 1 bytes.
- Text encodings. UTF-8 (with or without BOM), GB18030/GBK, and UTF-16/UTF-32 with a BOM (Excel's "Unicode text",
  tab-separated). A file whose bytes are not valid in its encoding names the rows where they are not; a GB18030
  file with UTF-8 rows (or the reverse) names the rows in the other encoding instead of storing mojibake.
- XLSX. Rows are read as they are in the sheet XML (a stale `<dimension>` is ignored, rows past it are read); a
  formula cell without a saved value is reported with its cell (the grid's `formulas`), never read as empty;
  hidden sheets are never read; the zip directory's sizes are checked before inflating, and the members are
  inflated in 1 MiB chunks with a running count (a member larger than its directory entry fails its CRC check).
  Cells are parsed by openpyxl's own cell parser (shared strings, dates, booleans, error values), driven here by a
  streaming XML parse that keeps one cell in memory at a time (openpyxl 3.1.5 internals: `WorkSheetParser`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

# The C parser. Entity bombs are refused by expat itself (≥ 2.4: "limit on input amplification factor"), and
# ElementTree never fetches external entities; defusedxml's pure-Python parser would halve the speed.
from xml.etree.ElementTree import iterparse

import polars as pl

from junheng.lib.ingest.limits import Limits, env_name, human_bytes
from junheng.lib.ingest.problems import Problem

# How io.StringIO(newline="") splits lines for csv.reader.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_BYTES_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
# Characters for which the bulk split would differ from csv.reader + str.strip: quotes (cells spanning lines,
# quoted commas), NUL, and the separators \x1c-\x1f that str.strip removes but polars' strip keeps.
_NEEDS_CSV_MODULE = re.compile(r'["\x00\x1c-\x1f]')
# Non-ASCII characters that are not CJK text, CJK/full-width punctuation or the middle dot of names: a line of
# valid UTF-8 made only of ASCII and these is UTF-8 Chinese, not GB18030 bytes that happen to be valid UTF-8.
_NOT_CJK_TEXT = r"[^\x00-\x7F\u00B7\u2010-\u206F\u3000-\u303F\u3400-\u4DBF\u4E00-\u9FFF\uF900-\uFAFF\uFF00-\uFFEF]"
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
_ZIP_CHUNK = 1024 * 1024
HEADER_PROBE_ROWS = 30  # rows of a sheet looked at to tell whether it holds the header (parse.HEADER_SEARCH_ROWS)


@dataclass(frozen=True)
class FormulaCell:
    """An XLSX formula cell without a saved (cached) value: Excel would show its result, the file does not hold it."""

    row: int
    index: int  # 0-based cell position, as the grid's c<index>
    coordinate: str  # "B7"
    formula: str  # the formula text ("" for a shared formula's dependent cell)
    # "uncached": no saved value; "recalc": the workbook asks Excel to recalculate every formula when it is opened
    # (calcPr fullCalcOnLoad, as files written by programs do), so the saved value need not be what Excel shows
    reason: str = "uncached"


@dataclass
class Grid:
    path: Path
    rel_path: str  # path relative to the data directory, as shown to users and stored as lineage
    sha256: str
    # `row` (spreadsheet row number) and c0, c1, … the cells as stripped text, "" = empty or absent
    cells: pl.DataFrame
    formulas: list[FormulaCell] = field(default_factory=list)  # XLSX cells that hold no value, to be reported
    sheet: str | None = None  # the XLSX sheet read
    hidden_sheets: list[str] = field(default_factory=list)  # XLSX sheets not read because they are hidden

    @property
    def width(self) -> int:
        return self.cells.width - 1

    def head(self, n: int) -> list[tuple[int, list[str]]]:
        """The first n physical rows as (row number, cells)."""
        return [(row, list(cells)) for row, *cells in self.cells.head(n).iter_rows()]

    @property
    def rows(self) -> list[tuple[int, list[str]]]:
        return self.head(self.cells.height)


def column_letter(index: int) -> str:
    """0-based cell position → spreadsheet column letters (0 → A, 26 → AA)."""
    n, out = index + 1, ""
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out


def _cell_name(i: int) -> str:
    return f"c{i}"


def _frame_from_rows(rows: list[tuple[int, list[str]]]) -> pl.DataFrame:
    width = max((len(cells) for _, cells in rows), default=0)
    columns: dict[str, list] = {"row": [r for r, _ in rows]}
    for i in range(width):
        columns[_cell_name(i)] = [cells[i] if i < len(cells) else "" for _, cells in rows]
    return pl.DataFrame(columns, schema={"row": pl.Int32, **{_cell_name(i): pl.String for i in range(width)}})


class FileUnreadable(Exception):
    """The file cannot be read as its sender sees it; `problems` name where (one or more)."""

    def __init__(self, problem: Problem | list[Problem]):
        problems = problem if isinstance(problem, list) else [problem]
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems
        self.problem = problems[0]


_WHAT = {
    "file": ("文件大小", "file size"),
    "rows": ("行数", "rows"),
    "line": ("此行长度", "line length"),
    "row_cells": ("此行单元格数", "cells in this row"),
    "cells": ("单元格数（行数×最宽行）", "cells (rows × widest row)"),
    "xlsx": ("XLSX 解压后大小", "decompressed XLSX size"),
    "column": ("列号", "column number"),
}


def _over_limit(rel: str, row: int | None, column: str | None, what: str, value: str, limit_field: str,
                limit: str) -> FileUnreadable:
    zh, en = _WHAT[what]
    return FileUnreadable(Problem(
        rel, row, column,
        f"超出上限：{zh} {value}，上限 {limit}（可用环境变量 {env_name(limit_field)} 调整）/ over the limit: {en} {value}, "
        f"limit {limit} (set {env_name(limit_field)} to change it)",
    ))


# ------------------------------------------------------------------ bytes


def read_file_bytes(path: Path, rel: str, limits: Limits) -> bytes:
    """The file's bytes, read once from one descriptor after checking it is a regular file within the size limit."""
    try:
        # O_NONBLOCK: a FIFO put in a year folder must not block the load (it is refused below, as not a file).
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise FileUnreadable(
            Problem(rel, None, None, f"无法打开文件：{exc.strerror} / cannot open the file: {exc.strerror}")
        ) from exc
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise FileUnreadable(Problem(rel, None, None, "不是普通文件 / not a regular file"))
        if st.st_size > limits.max_file_bytes:
            raise _over_limit(rel, None, None, "file", human_bytes(st.st_size), "max_file_bytes",
                              human_bytes(limits.max_file_bytes))
        try:
            raw = fh.read(st.st_size + 1)
        except OSError as exc:
            raise FileUnreadable(
                Problem(rel, None, None, f"读取文件失败：{exc.strerror} / cannot read the file: {exc.strerror}")
            ) from exc
    if len(raw) > st.st_size:
        raise FileUnreadable(Problem(rel, None, None, "文件在读取时仍在变化，请稍后重试 / the file changed while it was read"))
    return raw


# ------------------------------------------------------------------ text


def _lines_of(text: str) -> list[str]:
    """Physical lines as csv.reader sees them (\\r\\n, \\r or \\n), without the last line's terminator."""
    n_cr = text.count("\r")
    if n_cr == 0:
        lines = text.split("\n")
    elif n_cr == text.count("\r\n") == text.count("\n"):
        lines = text.split("\r\n")
    else:
        lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()  # the terminator of the last line
    return lines


def _bad_rows(body: bytes, encoding: str) -> list[int]:
    """Physical rows (1-based) of an 8-bit-safe encoding whose bytes do not decode (only on the error path)."""
    rows = []
    for i, line in enumerate(_BYTES_LINE_BREAK.split(body), start=1):
        try:
            line.decode(encoding)
        except UnicodeDecodeError:
            rows.append(i)
    return rows


def _encoding_problems(rel: str, rows: list[int], message: str) -> FileUnreadable:
    return FileUnreadable([Problem(rel, r, None, message) for r in rows])


def _decode(raw: bytes, rel: str) -> tuple[str, str]:
    """The text and its cell separator ("," or, for Excel's UTF-16 "Unicode text", usually a tab)."""
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            body = memoryview(raw)[len(bom):]
            try:
                text = str(body, encoding)
            except UnicodeDecodeError as exc:
                if encoding == "utf-8":
                    rows = _bad_rows(bytes(body), encoding)
                else:  # 16/32-bit units: line breaks are not single bytes; find the rows on the replaced text
                    replaced = str(body, encoding, "replace")
                    rows = [i for i, line in enumerate(_lines_of(replaced), start=1) if "\ufffd" in line]
                raise _encoding_problems(
                    rel, rows or [1],
                    f"此行不是有效的 {encoding.upper()} 文本（文件以 {encoding.upper()} 的 BOM 开头）/ this row is not "
                    f"valid {encoding.upper()} although the file starts with a {encoding.upper()} byte-order mark "
                    f"(byte {exc.start + len(bom)})",
                ) from exc
            if encoding.startswith(("utf-16", "utf-32")):
                head = _lines_of(text[:65536])[:HEADER_PROBE_ROWS]
                return text, "\t" if any("\t" in line for line in head) else ","
            return text, ","
    sample = raw[:65536]
    nuls = sample.count(b"\x00")
    if nuls * 10 > len(sample) and max(sample[0::2].count(b"\x00"), sample[1::2].count(b"\x00")) * 10 >= nuls * 9:
        # ASCII characters in UTF-16 carry a NUL byte, always on the same side: UTF-16 without its byte-order mark
        raise FileUnreadable(Problem(
            rel, None, None,
            "文件看起来是没有 BOM 的 UTF-16 文本：请另存为“CSV UTF-8”或带 BOM 的“Unicode 文本” / the file looks like UTF-16 "
            "text without a byte-order mark: save it as CSV UTF-8, or as Unicode text (which has the mark)",
        ))
    try:
        return raw.decode("utf-8"), ","
    except UnicodeDecodeError:
        pass
    # Not UTF-8 as a whole. Per line (vectorised): lines with invalid UTF-8 vs lines that are valid UTF-8 Chinese.
    lines = pl.Series("line", _lines_of(raw.decode("utf-8", "replace")), dtype=pl.String)
    invalid = lines.str.contains("\ufffd", literal=True)
    utf8_cjk = ~invalid & lines.str.contains(r"[^\x00-\x7F]") & ~lines.str.contains(_NOT_CJK_TEXT)
    n_invalid, n_utf8 = int(invalid.sum()), int(utf8_cjk.sum())
    if n_utf8 and n_utf8 >= n_invalid:
        rows = (invalid.arg_true() + 1).to_list()
        raise _encoding_problems(
            rel, rows,
            "此行不是有效的 UTF-8（看起来是 GB18030/GBK），而文件其余各行是 UTF-8：请以同一编码保存整个文件 / this row is not "
            "valid UTF-8 (it looks like GB18030/GBK) while the rest of the file is UTF-8: save the whole file in one encoding",
        )
    if n_utf8:
        rows = (utf8_cjk.arg_true() + 1).to_list()
        raise _encoding_problems(
            rel, rows,
            "此行是 UTF-8 编码，而文件其余各行是 GB18030/GBK：请以同一编码保存整个文件 / this row is UTF-8 while the rest of "
            "the file is GB18030/GBK: save the whole file in one encoding",
        )
    del lines, invalid, utf8_cjk
    try:
        # Older exports: GBK / GB18030 (a superset of GBK and GB2312).
        return raw.decode("gb18030"), ","
    except UnicodeDecodeError as exc:
        raise _encoding_problems(
            rel, _bad_rows(raw, "gb18030") or [1],
            f"无法识别的文本编码：此行既不是 UTF-8 也不是 GB18030 / undecodable text: this row is neither UTF-8 nor "
            f"GB18030 (byte {exc.start})",
        ) from exc


def _check_text_shape(lines: pl.Series, sep: str, rel: str, limits: Limits, count_cells: bool) -> None:
    """Rows, line length and (for a file split in bulk) columns and cells, before any cell is split out."""
    if lines.len() > limits.max_rows:
        raise _over_limit(rel, None, None, "rows", f"{lines.len():,}", "max_rows", f"{limits.max_rows:,}")
    if not lines.len():
        return
    lengths = lines.str.len_bytes()
    longest = int(lengths.max() or 0)
    if longest > limits.max_line_bytes:
        row = int(lengths.arg_max()) + 1
        raise _over_limit(rel, row, None, "line", human_bytes(longest), "max_line_bytes",
                          human_bytes(limits.max_line_bytes))
    if count_cells:
        counts = lines.str.count_matches(sep, literal=True)
        width = int(counts.max() or 0) + 1
        if width > limits.max_columns:
            row = int(counts.arg_max()) + 1
            raise _over_limit(rel, row, None, "row_cells", f"{width:,}", "max_columns",
                              f"{limits.max_columns:,}")
        if width * lines.len() > limits.max_cells:
            raise _over_limit(rel, None, None, "cells",
                              f"{width * lines.len():,}", "max_cells", f"{limits.max_cells:,}")


def _split_plain_csv(text: str, rel: str = "", limits: Limits | None = None, sep: str = ",") -> pl.DataFrame:
    """A CSV without quotes: one record per physical line, cells split on the separator and stripped, in bulk."""
    lines = pl.Series("line", _lines_of(text), dtype=pl.String)
    _check_text_shape(lines, sep, rel, limits or Limits(), count_cells=True)
    split = lines.str.split(sep)
    del lines
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


def _read_text(text: str, sep: str, rel: str, limits: Limits) -> pl.DataFrame:
    if _NEEDS_CSV_MODULE.search(text) is None:
        return _split_plain_csv(text, rel, limits, sep)
    _check_text_shape(pl.Series("line", _lines_of(text), dtype=pl.String), sep, rel, limits, count_cells=False)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    width = 0
    try:
        for cells in reader:
            if len(cells) > limits.max_columns:
                raise _over_limit(rel, start, None, "row_cells", f"{len(cells):,}", "max_columns",
                                  f"{limits.max_columns:,}")
            width = max(width, len(cells))
            if width * (len(rows) + 1) > limits.max_cells:
                raise _over_limit(rel, start, None, "cells",
                                  f"> {limits.max_cells:,}", "max_cells", f"{limits.max_cells:,}")
            rows.append((start, [c.strip() for c in cells]))
            start = reader.line_num + 1  # a quoted cell may span lines: the next record starts after it
    except csv.Error as exc:
        raise FileUnreadable(Problem(rel, start, None, f"CSV 格式错误 / malformed CSV: {exc}")) from exc
    return _frame_from_rows(rows)


def _read_csv(raw: bytes, rel: str, limits: Limits | None = None) -> pl.DataFrame:
    text, sep = _decode(raw, rel)
    return _read_text(text, sep, rel, limits or Limits())


# ------------------------------------------------------------------ XLSX


def _xlsx_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"  # as Excel shows it; a yes/no column reads true/false
    if isinstance(value, float):
        if value.is_integer():
            # A code kept as a number reads back as its digits (spec §1), never as 3.41e9 or "341024.0".
            return str(int(value))
        # Excel shows (and computes with) 15 significant digits: 0.1 + 0.2 is 0.3 there, and here.
        return f"{value:.15g}"
    return str(value).strip()


_FULL_CALC_ON_LOAD = re.compile(rb"""<(?:\w+:)?calcPr\b[^>]*\bfullCalcOnLoad\s*=\s*["'](?:1|true)["']""")


def _check_zip(raw: bytes, rel: str, limits: Limits) -> bool:
    """Sizes from the zip directory, before inflating anything; then every member inflated in bounded chunks.
    Returns whether the workbook asks for every formula to be recalculated on opening (calcPr fullCalcOnLoad)."""
    if raw.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileUnreadable(Problem(
            rel, None, None,
            "这是加密的工作簿或旧版 .xls 文件（扩展名却是 .xlsx）：请在 Excel 中去掉密码并另存为 .xlsx / an encrypted "
            "workbook or an old .xls file named .xlsx: remove the password and save it as .xlsx in Excel",
        ))
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            members = zf.infolist()
            declared = sum(m.file_size for m in members)
            if declared > limits.max_xlsx_bytes:
                raise _over_limit(rel, None, None, "xlsx", human_bytes(declared),
                                  "max_xlsx_bytes", human_bytes(limits.max_xlsx_bytes))
            total = 0
            full_calc = False
            for m in members:
                workbook_part = m.filename.lower().endswith("workbook.xml")
                with zf.open(m) as member:
                    while chunk := member.read(_ZIP_CHUNK):
                        if workbook_part and _FULL_CALC_ON_LOAD.search(chunk):
                            full_calc = True
                        total += len(chunk)
                        if total > limits.max_xlsx_bytes:
                            raise _over_limit(rel, None, None, "xlsx",
                                              f"> {human_bytes(limits.max_xlsx_bytes)}", "max_xlsx_bytes",
                                              human_bytes(limits.max_xlsx_bytes))
            return full_calc
    except FileUnreadable:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, ValueError, EOFError,
            RuntimeError) as exc:
        # RuntimeError: an encrypted member; BadZipFile: a damaged member, or one larger than its directory entry
        raise FileUnreadable(Problem(rel, None, None, f"无法打开的 XLSX 文件 / corrupt or unreadable XLSX: {exc}")) from exc
    except Exception as exc:  # zlib.error and the like: damaged compressed data
        raise FileUnreadable(Problem(rel, None, None, f"无法打开的 XLSX 文件 / corrupt or unreadable XLSX: {exc}")) from exc


class _SheetReader:
    """Streams one worksheet's rows: (row number, cell texts, formula cells without a value), within the limits."""

    def __init__(self, ws, rel: str, limits: Limits, recalc: bool = False):
        self.ws, self.rel, self.limits, self.recalc = ws, rel, limits, recalc

    def rows(self, max_rows: int | None = None) -> Iterator[tuple[int, list[str], list[FormulaCell]]]:
        from openpyxl.utils import get_column_letter
        from openpyxl.worksheet._reader import CELL_TAG, DATA_TAG, FORMULA_TAG, ROW_TAG, VALUE_TAG, WorkSheetParser

        ws, rel, limits = self.ws, self.rel, self.limits
        wb = ws.parent
        with ws._get_source() as src:
            parser = WorkSheetParser(src, ws._shared_strings, data_only=True, epoch=wb.epoch,
                                     date_formats=wb._date_formats, timedelta_formats=wb._timedelta_formats)
            row_number, n_rows, width = 0, 0, 0
            values: dict[int, str] = {}
            formulas: list[FormulaCell] = []
            sheet_data = row_elem = None
            for event, elem in iterparse(src, events=("start", "end")):
                tag = elem.tag
                if event == "start":
                    if tag == ROW_TAG:
                        row_elem = elem
                        r = elem.get("r")
                        try:
                            row_number = int(r) if r is not None else row_number + 1
                        except ValueError:
                            row_number = int(float(r))
                        parser.row_counter, parser.col_counter = row_number, 0
                        values, formulas = {}, []
                    elif tag == DATA_TAG:
                        sheet_data = elem
                    continue
                if tag == CELL_TAG:
                    try:
                        cell = parser.parse_cell(elem)
                    except Exception as exc:
                        coordinate = elem.get("r") or f"{get_column_letter(parser.col_counter + 1)}{row_number}"
                        raise FileUnreadable(Problem(rel, row_number, coordinate,
                                                     f"无法读取的单元格 {coordinate} / unreadable cell {coordinate}: {exc}")) from exc
                    col = cell["column"]
                    if col > limits.max_columns:
                        raise _over_limit(rel, row_number, get_column_letter(min(col, 18278)), "column",
                                          f"{col:,}", "max_columns", f"{limits.max_columns:,}")
                    text = _xlsx_cell(cell["value"])
                    if text:
                        values[col - 1] = text
                    if elem.find(FORMULA_TAG) is not None:
                        cached = elem.findtext(VALUE_TAG)
                        # <v/> is no value, except for a formula whose text result is "" (t="str")
                        uncached = cached is None or (cached == "" and elem.get("t") != "str")
                        if uncached or self.recalc:
                            formulas.append(FormulaCell(row_number, col - 1, f"{get_column_letter(col)}{row_number}",
                                                        (elem.findtext(FORMULA_TAG) or "").strip(),
                                                        "uncached" if uncached else "recalc"))
                    if row_elem is not None:
                        row_elem.clear()  # one cell in memory at a time, however long the row
                elif tag == ROW_TAG:
                    n_rows += 1
                    if n_rows > limits.max_rows:
                        raise _over_limit(rel, row_number, None, "rows", f"> {limits.max_rows:,}", "max_rows",
                                          f"{limits.max_rows:,}")
                    row_width = max(values, default=-1) + 1
                    if max(width, row_width) * n_rows > limits.max_cells:
                        raise _over_limit(rel, row_number, None, "cells",
                                          f"> {limits.max_cells:,}", "max_cells", f"{limits.max_cells:,}")
                    width = max(width, row_width)
                    cells = [""] * row_width
                    for i, v in values.items():
                        cells[i] = v
                    yield row_number, cells, formulas
                    elem.clear()
                    row_elem = None
                    if sheet_data is not None:
                        sheet_data.clear()
                    if max_rows is not None and n_rows >= max_rows:
                        return


def _read_xlsx(raw: bytes, rel: str, preferred_sheets: tuple[str, ...], limits: Limits,
               header_probe: Callable[[list[list[str]]], bool] | None = None
               ) -> tuple[pl.DataFrame, list[FormulaCell], str, list[str]]:
    import openpyxl

    recalc = _check_zip(raw, rel, limits)
    try:
        wb = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types on damaged workbook XML
        raise FileUnreadable(Problem(rel, None, None, f"无法打开的 XLSX 文件 / corrupt or unreadable XLSX: {exc}")) from exc
    try:
        sheets = wb.worksheets
        visible = [ws for ws in sheets if ws.sheet_state == "visible"]
        hidden = [ws.title for ws in sheets if ws.sheet_state != "visible"]
        if not visible:
            raise FileUnreadable(Problem(rel, None, None, "工作簿没有可见的工作表（隐藏的工作表不读取）/ no visible sheet "
                                                          "(hidden sheets are never read)"))
        by_name = {ws.title.strip().lower(): ws for ws in visible}
        sheet = next((by_name[s] for s in preferred_sheets if s in by_name), None)
        if sheet is None and len(visible) > 1 and header_probe is not None:
            holders = [ws for ws in visible if header_probe(
                [cells for _, cells, _ in _SheetReader(ws, rel, limits, recalc).rows(max_rows=HEADER_PROBE_ROWS)])]
            if len(holders) > 1:
                names = "、".join(f"“{ws.title}”" for ws in holders)
                wanted = " / ".join(preferred_sheets)
                raise FileUnreadable(Problem(
                    rel, None, None,
                    f"多个可见工作表都有表头：{names}；请把数据工作表命名为 {wanted}，或只保留一个 / several visible sheets "
                    f"hold a header row ({names}): name the data sheet {wanted}, or keep the data on one sheet",
                ))
            sheet = holders[0] if holders else None
        sheet = sheet or visible[0]
        rows: list[tuple[int, list[str]]] = []
        formulas: list[FormulaCell] = []
        for number, cells, cell_formulas in _SheetReader(sheet, rel, limits, recalc).rows():
            rows.append((number, cells))
            formulas.extend(cell_formulas)
        return _frame_from_rows(rows), formulas, sheet.title, hidden
    except FileUnreadable:
        raise
    except Exception as exc:  # damaged sheet XML, an XML bomb refused by defusedxml, …
        raise FileUnreadable(Problem(rel, None, None, f"无法读取的 XLSX 工作表 / unreadable XLSX sheet: {exc}")) from exc
    finally:
        wb.close()


def read_grid(path: Path, data_dir: Path, preferred_sheets: tuple[str, ...], *,
              header_probe: Callable[[list[list[str]]], bool] | None = None, limits: Limits | None = None) -> Grid:
    """One file as a grid of text cells, or FileUnreadable naming where it cannot be read as its sender sees it.

    `header_probe(rows)` tells whether the first rows of an XLSX sheet hold the header row: with several visible
    sheets and none named as the dataset's, the one sheet that holds the header is read."""
    limits = limits or Limits.from_env()
    rel = path.relative_to(data_dir).as_posix() if path.is_relative_to(data_dir) else str(path)
    raw = read_file_bytes(path, rel, limits)
    sha = hashlib.sha256(raw).hexdigest()
    if not raw or raw.isspace():
        raise FileUnreadable(Problem(rel, None, None, "空文件 / the file is empty"))
    formulas: list[FormulaCell] = []
    sheet, hidden = None, []
    if path.suffix.lower() == ".xlsx":
        cells, formulas, sheet, hidden = _read_xlsx(raw, rel, preferred_sheets, limits, header_probe)
    else:
        text, sep = _decode(raw, rel)
        del raw
        cells = _read_text(text, sep, rel, limits)
        del text
    if (cells.width < 2 or not cells.select(pl.any_horizontal(pl.all().exclude("row") != "").any()).item()) \
            and not formulas:
        raise FileUnreadable(Problem(rel, None, None, "文件没有任何数据 / the file holds no cells"))
    return Grid(path=path, rel_path=rel, sha256=sha, cells=cells, formulas=formulas, sheet=sheet, hidden_sheets=hidden)
