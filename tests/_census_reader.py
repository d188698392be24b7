"""A small, independent reader of the generator's files, so the generator's tests do not depend on
the ingestion code (which is tested on its own): header row search, zh/en headers, 合计 lines,
thousands separators, BOM / GB18030, XLSX sheets."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import openpyxl

from junheng.lib.schema import CENSUS_COLUMNS, RETURN_COLUMNS, TOTAL_LINE_MARKERS


def _norm(h: str) -> str:
    return str(h).strip().replace("(", "（").replace(")", "）")


def _names(columns) -> dict[str, str]:
    m = {}
    for c in columns:
        m[c.name] = c.name
        m[_norm(c.zh)] = c.name
        m[re.sub(r"（.*?）", "", c.zh)] = c.name
    return m


def decode(raw: bytes) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030")


def read_rows(path: Path) -> list[list[object]]:
    if path.suffix == ".csv":
        return [list(r) for r in csv.reader(io.StringIO(decode(path.read_bytes())))]
    wb = openpyxl.load_workbook(path, read_only=True)
    names = [n for n in wb.sheetnames if n in ("学校", "schools", "县", "counties")]
    ws = wb[names[0]] if names else wb[wb.sheetnames[0]]
    return [list(r) for r in ws.iter_rows(values_only=True)]


def read(path: Path, returns: bool = False) -> list[dict[str, object]]:
    """Records keyed by English column name; numbers as float, codes and text as str, empty as None."""
    cols = RETURN_COLUMNS if returns else CENSUS_COLUMNS
    names = _names(cols)
    kinds = {c.name: c.kind for c in cols}
    rows = read_rows(path)
    ident = "county_code" if returns else "school_code"
    h = next(i for i, r in enumerate(rows) if ident in [names.get(_norm(x)) for x in r if x is not None])
    header = [names.get(_norm(x)) if x is not None else None for x in rows[h]]
    out = []
    for r in rows[h + 1:]:
        if any(str(x).strip() in TOTAL_LINE_MARKERS for x in r if x is not None):
            continue
        rec = {}
        for name, v in zip(header, r):
            if name is None:
                continue
            if v is None or v == "":
                rec[name] = None
            elif kinds[name] == "number":
                rec[name] = float(str(v).replace(",", ""))
            else:
                rec[name] = str(v)
        out.append(rec)
    return out
