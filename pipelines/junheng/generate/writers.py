"""Writing census and county-return files in the shapes real exports come in (spec §1).

Sample mode writes a small number of files and varies the shape per file (encoding, header
language, title line, 合计 line, thousands separators, enum spellings, column order, XLSX sheets),
row by row through `csv` / xlsxwriter. National mode writes plain UTF-8 CSV through polars.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import xlsxwriter

from junheng.lib.schema import AUTHORITY, CENSUS_COLUMNS, OWNERSHIP, RETURN_COLUMNS, SCHOOL_TYPE_ZH, URBAN_RURAL

ZH = {c.name: c.zh for c in CENSUS_COLUMNS}
RZH = {c.name: c.zh for c in RETURN_COLUMNS}
AUTH_ZH = {v: k for k, v in AUTHORITY.items()}
OWN_ZH = {v: k for k, v in OWNERSHIP.items()}
UR_ZH = {v: k for k, v in URBAN_RURAL.items()}
UR_EN = {111: "urban", 112: "urban", 121: "town", 122: "town", 123: "town", 210: "rural", 220: "rural"}
_FIXED_TIME = dt.datetime(2024, 12, 31, 0, 0, 0)  # xlsx document properties: same bytes every run


@dataclass
class Style:
    """How one file looks. Every field maps to a variation the contract allows."""

    fmt: str = "csv"  # csv | xlsx
    encoding: str = "utf-8"  # utf-8 | utf-8-sig | gb18030
    headers: str = "en"  # en | zh | zh_loose (unit left out or half-width brackets on some columns)
    title: bool = False  # a title line above the header
    total: bool = False  # a trailing 合计 line
    thousands: bool = False  # "1,234" in number cells (CSV)
    enums: str = "zh"  # zh | en | mixed
    ur_code: bool = False  # 城乡分类 as the 3-digit code
    shuffle: bool = False
    extra: bool = False  # a 备注 column the contract does not know
    na_zero: bool = False  # sections the type lacks written as 0 instead of empty
    drop_optional: bool = False  # no county_name / year columns
    sheets: tuple[str, ...] = ("学校",)  # xlsx: sheet names; the data goes to the last
    numeric_codes: bool = False  # xlsx: codes as number cells (only where no leading zero)

    def label(self) -> str:
        parts = [self.fmt, self.encoding if self.fmt == "csv" else "/".join(self.sheets), self.headers]
        flags = ("title", "total", "thousands", "ur_code", "shuffle", "extra", "na_zero", "drop_optional", "numeric_codes")
        parts += [f for f in flags if getattr(self, f)]
        parts.append(f"enums={self.enums}")
        return " ".join(parts)


def loose_header(zh: str, r: float) -> str:
    """Drop the bracketed unit (1/3) or use half-width brackets (1/3), as hand-edited exports do."""
    if "（" not in zh:
        return zh
    if r < 1 / 3:
        return re.sub(r"（.*?）", "", zh)
    if r < 2 / 3:
        return zh.replace("（", "(").replace("）", ")")
    return zh


def header_names(cols: list[str], style: Style, zh: dict[str, str], rng: np.random.Generator) -> list[str]:
    if style.headers == "en":
        return list(cols)
    draws = rng.random(len(cols))
    if style.headers == "zh":
        return [zh.get(c, c) for c in cols]
    return [loose_header(zh.get(c, c), r) for c, r in zip(cols, draws)]


def _num(v: float, thousands: bool) -> str:
    if v != v:  # NaN
        return ""
    if float(v).is_integer():
        return f"{int(v):,}" if thousands else str(int(v))
    return f"{v:,.2f}" if thousands else f"{v:.2f}".rstrip("0").rstrip(".")


def census_table(
    frame: pl.DataFrame, style: Style, year: int, rng: np.random.Generator
) -> tuple[list[str], list[list[object]]]:
    """Header names and rows (python values) for one census file; codes stay str."""
    cols = [c.name for c in CENSUS_COLUMNS if c.name in frame.columns]
    if style.drop_optional:
        cols = [c for c in cols if c not in ("county_name", "year")]
    if style.shuffle and not style.total:
        keep = cols[:2]  # code and name first reads naturally; the rest in any order
        rest = cols[2:]
        cols = keep + [rest[i] for i in rng.permutation(len(rest))]
        cols = [cols[i] for i in rng.permutation(len(cols))] if rng.random() < 0.5 else cols
    enum_draw = rng.random()
    rows: list[list[object]] = []
    data = {c: frame[c].to_list() for c in cols}
    n = frame.height
    for i in range(n):
        row: list[object] = []
        for c in cols:
            v = data[c][i]
            if c == "school_type":
                v = v if style.enums == "en" or (style.enums == "mixed" and i % 3 == 0) else SCHOOL_TYPE_ZH[v]
            elif c == "ownership":
                v = v if style.enums == "en" else OWN_ZH[v]
            elif c == "authority":
                v = v if style.enums == "en" or (style.enums == "mixed" and enum_draw < 0.5) else AUTH_ZH[v]
            elif c == "urban_rural":
                code = int(frame["urban_rural_code"][i])
                v = str(code) if style.ur_code else (UR_EN[code] if style.enums == "en" else UR_ZH[UR_EN[code]])
            elif v is None and style.na_zero:
                v = 0.0
            row.append(v)
        rows.append(row)
    header = header_names(cols, style, ZH, rng)
    if style.extra:
        header.append("备注")
        notes = ["", "", "", "新校区", "", "数据已核对", "", ""]
        for i, r in enumerate(rows):
            r.append(notes[int(rng.integers(0, len(notes)))] if i % 4 == 0 else "")
    if style.total and rows:
        tot: list[object] = ["合计"] + [""] * (len(header) - 1)
        for j, c in enumerate(cols):
            if c.endswith("_students") or c.endswith("_teachers") or c.endswith("_classes"):
                tot[j] = float(sum(x for x in data[c] if x is not None and x == x))
        rows.append(tot)
    return header, rows


def write_table(path: Path, header: list[str], rows: list[list[object]], style: Style, title: str | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if style.fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n" if style.encoding == "gb18030" else "\n")
        if title:
            w.writerow([title] + [""] * (len(header) - 1) if style.encoding == "gb18030" else [title])
        w.writerow(header)
        for r in rows:
            w.writerow(["" if v is None else _num(v, style.thousands) if isinstance(v, float) else v for v in r])
        path.write_bytes(buf.getvalue().encode(style.encoding))
        return
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_urls": False})
    wb.set_properties({"created": _FIXED_TIME, "author": "junheng generate"})
    for name in style.sheets[:-1]:
        note = wb.add_worksheet(name)
        note.write_string(0, 0, "填报说明：本表由县教育局统计股导出，金额单位万元，面积单位平方米。")
    ws = wb.add_worksheet(style.sheets[-1])
    r0 = 0
    if title:
        ws.write_string(0, 0, title)
        r0 = 1
    for j, h in enumerate(header):
        ws.write_string(r0, j, h)
    code_cols = {j for j, h in enumerate(header) if h in ("school_code", "county_code", "学校标识码", "县级行政区划代码")}
    for i, r in enumerate(rows, start=r0 + 1):
        for j, v in enumerate(r):
            if v is None or (isinstance(v, float) and v != v) or v == "":
                continue
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                ws.write_number(i, j, v)
            elif style.numeric_codes and j in code_cols and not str(v).startswith("0") and str(v).isdigit():
                ws.write_number(i, j, int(v))  # the one file whose codes came out of Excel as numbers
            else:
                ws.write_string(i, j, str(v))
    wb.close()


# ------------------------------------------------------------------ county returns
def returns_table(frame: pl.DataFrame, style: Style, bools: tuple[str, str], rng: np.random.Generator):
    cols = [c.name for c in RETURN_COLUMNS if c.name in frame.columns]
    kinds = {c.name: c.kind for c in RETURN_COLUMNS}
    header = header_names(cols, style, RZH, rng)
    rows = []
    for rec in frame.select(cols).iter_rows():
        row = []
        for c, v in zip(cols, rec):
            if v is None:
                row.append(None)
            elif kinds[c] == "bool":
                row.append(bools[0] if v else bools[1])
            else:
                row.append(v)
        rows.append(row)
    if style.extra:
        header.append("备注")
        for r in rows:
            r.append("")
    return header, rows


# ------------------------------------------------------------------ national: polars, no per-row Python
def write_national_csv(path: Path, frame: pl.DataFrame) -> None:
    """Plain UTF-8 CSV with Chinese headers and Chinese enums."""
    path.parent.mkdir(parents=True, exist_ok=True)
    out = frame.with_columns(
        pl.col("school_type").replace_strict(SCHOOL_TYPE_ZH),
        pl.col("ownership").replace_strict(OWN_ZH),
        pl.col("authority").replace_strict(AUTH_ZH),
        pl.col("urban_rural").replace_strict(UR_ZH),
    ).drop("urban_rural_code")
    decimals = ("equipment_value_10k_yuan", "sports_area_m2")  # 万元 has cents; a 亩 slip has decimals
    ints = [c for c, t in out.schema.items() if t == pl.Float64 and c not in decimals]
    out = out.with_columns(pl.col(ints).round(0).cast(pl.Int64))
    out = out.rename({c: ZH[c] for c in out.columns if c in ZH})
    out.write_csv(path)
