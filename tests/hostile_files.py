"""Hostile files for the tests of issue 11: what a sender (or anyone with write access to the data folder) can put
there. Each is built from the census_files shapes and then damaged at the byte level, the way real tools and real
attackers damage them: XLSX members rewritten (a stale <dimension>, a formula without a saved value, sizes that lie
in the zip directory), zip bombs, text in two encodings, lines of 100 MB."""

from __future__ import annotations

import csv
import io
import re
import struct
import zipfile
from pathlib import Path
from typing import Callable, Iterable

import openpyxl

from census_files import SCHOOLS, census_rows, write_xlsx

DATA_SHEET = "xl/worksheets/sheet2.xml"  # write_xlsx: sheet1 is the "说明" sheet, sheet2 the data sheet "学校"


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8", sep: str = ",", newline: str = "\n") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, lineterminator=newline).writerows(rows)
    return buf.getvalue().encode(encoding)


def rewrite_members(path: Path, changes: dict[str, Callable[[bytes], bytes | Iterable[bytes]]]) -> Path:
    """Rewrite members of a zip (an XLSX) in place; a change may return the new bytes or an iterable of chunks
    (streamed into the member, for members far larger than memory should hold)."""
    src = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename not in changes:
                out.writestr(info.filename, data)
                continue
            new = changes[info.filename](data)
            if isinstance(new, bytes):
                out.writestr(info.filename, new)
            else:
                with out.open(info.filename, "w", force_zip64=True) as member:
                    for chunk in new:
                        member.write(chunk)
    return path


def lie_about_size(path: Path, member: str, size: int) -> Path:
    """Make the zip directory (and the member's local header) claim `member` inflates to `size` bytes."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        info = z.getinfo(member)
    assert data[info.header_offset:info.header_offset + 4] == b"PK\x03\x04"
    if info.file_size >= 0xFFFFFFFF or info.extra:  # zip64: the size is in the extra field
        raise ValueError("write the member without zip64 to lie about its size")
    struct.pack_into("<I", data, info.header_offset + 22, size)
    name = member.encode()
    i = data.find(b"PK\x01\x02")
    while i != -1:
        n = struct.unpack_from("<H", data, i + 28)[0]
        if bytes(data[i + 46:i + 46 + n]) == name:
            struct.pack_into("<I", data, i + 24, size)
            break
        i = data.find(b"PK\x01\x02", i + 4)
    else:
        raise AssertionError(f"{member} not in the central directory")
    path.write_bytes(bytes(data))
    return path


def census_xlsx(path: Path, schools: list[dict] | None = None, title: str | None = None) -> Path:
    return write_xlsx(path, census_rows("zh", SCHOOLS if schools is None else schools), title=title)


def bomb_sheet(sheet_xml: bytes, megabytes: int) -> Iterable[bytes]:
    """The sheet's own rows, then `megabytes` MB of identical empty-ish rows (deflate: ~1000:1)."""
    head, tail = sheet_xml.split(b"</sheetData>")
    yield head
    block = b"<row><c t=\"inlineStr\"><is><t>1</t></is></c></row>" * 20_000  # ~1 MB
    for _ in range(megabytes):
        yield block
    yield b"</sheetData>" + tail


def zip_bomb_xlsx(path: Path, megabytes: int = 300) -> Path:
    """A valid census XLSX whose data sheet inflates to `megabytes` MB more (a few hundred KB on disk)."""
    census_xlsx(path)
    return rewrite_members(path, {DATA_SHEET: lambda xml: bomb_sheet(xml, megabytes)})


def dimension_bomb_xlsx(path: Path) -> Path:
    """A small census XLSX whose <dimension> claims the whole sheet A1:XFD1048576 (17 billion cells), with a header
    cell in the last column: a reader that trusts the dimension, or pads rows to it, runs out of memory."""
    census_xlsx(path)

    def damage(xml: bytes) -> bytes:
        xml = re.sub(rb'<dimension ref="[^"]*"\s*/>', b'<dimension ref="A1:XFD1048576"/>', xml)
        return xml.replace(b"</row>", b'<c r="XFD1" t="inlineStr"><is><t>' + "末尾".encode() + b"</t></is></c></row>", 1)

    return rewrite_members(path, {DATA_SHEET: damage})


def stale_dimension_xlsx(path: Path, schools: list[dict]) -> Path:
    """An XLSX whose <dimension> stops before its last rows (as some exporters write it)."""
    census_xlsx(path, schools)
    return rewrite_members(path, {DATA_SHEET: lambda xml: re.sub(rb'<dimension ref="A1:([A-Z]+)\d+"\s*/>',
                                                                   rb'<dimension ref="A1:\g<1>2"/>', xml)})


def formula_xlsx(path: Path, cell: str, formula: str, cached: str | None = None, full_calc_on_load: bool = True,
                 schools: list[dict] | None = None, total_formula: str | None = None) -> Path:
    """A census XLSX with a formula in `cell` of the data sheet; `cached`: the value saved with it (None: no value,
    as a program writes it); `full_calc_on_load=False`: as Excel saves it (no request to recalculate on opening).
    `total_formula`: a 合计 line below the schools whose second cell holds that formula (no saved value)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "学校"
    for row in census_rows("zh", SCHOOLS if schools is None else schools):
        ws.append(row)
    ws[cell] = formula
    if total_formula:
        ws.append(["合计", total_formula])
    wb.save(path)
    changes = {}
    if cached is not None:
        changes["xl/worksheets/sheet1.xml"] = lambda xml: re.sub(
            rf'(<c r="{cell}"[^>]*>\s*<f>[^<]*</f>\s*)<v\s*/>'.encode(), rb"\g<1><v>" + cached.encode() + b"</v>", xml)
    if not full_calc_on_load:
        changes["xl/workbook.xml"] = lambda xml: xml.replace(b' fullCalcOnLoad="1"', b"")
    return rewrite_members(path, changes) if changes else path


def hidden_sheet_xlsx(path: Path, hidden: list[dict], visible: list[dict], hidden_title: str = "旧数据",
                      visible_title: str = "Sheet2") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = hidden_title
    for row in census_rows("zh", hidden):
        ws.append(row)
    ws.sheet_state = "hidden"
    shown = wb.create_sheet(visible_title)
    for row in census_rows("zh", visible):
        shown.append(row)
    wb.save(path)
    return path


def two_sheet_xlsx(path: Path, first: list[dict], second: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "一县"
    for row in census_rows("zh", first):
        ws.append(row)
    other = wb.create_sheet("二县")
    for row in census_rows("zh", second):
        other.append(row)
    wb.save(path)
    return path
