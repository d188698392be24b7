"""Reading one submitted file (CSV in any accepted encoding, or XLSX) into a grid of text cells.

Nothing here knows the census columns: it returns every physical row with its spreadsheet row number
(spec §1: the file's first physical line is row 1) so that later steps can name rows in messages.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from junheng.lib.ingest.problems import Problem


@dataclass
class Grid:
    path: Path
    rel_path: str  # path relative to the data directory, as shown to users and stored as lineage
    sha256: str
    rows: list[tuple[int, list[str]]]  # (spreadsheet row number, cells as text; "" = empty)


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


def _read_csv(raw: bytes, rel: str) -> list[tuple[int, list[str]]]:
    text = _decode(raw, rel)
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for cells in reader:
            rows.append((start, [c.strip() for c in cells]))
            start = reader.line_num + 1  # a quoted cell may span lines: the next record starts after it
    except csv.Error as exc:
        raise FileUnreadable(Problem(rel, start, None, f"CSV 格式错误 / malformed CSV: {exc}")) from exc
    return rows


def _xlsx_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        # A code kept as a number reads back as its digits (spec §1), never as 3.41e9 or "341024.0".
        return str(int(value))
    return str(value).strip()


def _read_xlsx(path: Path, rel: str, preferred_sheets: tuple[str, ...]) -> list[tuple[int, list[str]]]:
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
        return [
            (first + i, [_xlsx_cell(v) for v in values])
            for i, values in enumerate(ws.iter_rows(values_only=True))
        ]
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
        rows = _read_xlsx(path, rel, preferred_sheets)
    else:
        rows = _read_csv(raw, rel)
    if not any(any(c for c in cells) for _, cells in rows):
        raise FileUnreadable(Problem(rel, None, None, "文件没有任何数据 / the file holds no cells"))
    return Grid(path=path, rel_path=rel, sha256=sha, rows=rows)
