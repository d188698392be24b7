"""`junheng query`: read-only SQL against the published warehouse, printed as a table or exported.

The warehouse is opened with ``read_only=True`` (DuckDB: many readers, never a writer, so a query never
blocks a load) and with external access switched off and the configuration locked, so a query can neither
write the warehouse nor write or read other files (``COPY ... TO``, ``ATTACH``, ``read_csv``).

An export never writes over a database: ``--csv F`` / ``--xlsx F`` is refused (exit code 2, nothing written) when
F ends in ``.duckdb`` or ``.duckdb.wal``, is the warehouse being queried or one of its companion files
(``<warehouse>.wal``, ``.building``, ``.lock``, … and hard links to it), or is an existing DuckDB database under any
name (the magic bytes ``DUCK`` at offset 8).

Exports neutralise spreadsheet formula injection (OWASP "CSV injection"): a *text* cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``. Numbers are written as numbers,
so a negative number stays a number.
"""

from __future__ import annotations

import csv
import datetime as _dt
import decimal
import math
import os
import sys
import unicodedata
from pathlib import Path
from typing import Any, Sequence, TextIO

import duckdb

from junheng.lib.argparsing import ArgParser, parse_or_exit_code

DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
DEFAULT_WAREHOUSE = Path("data/junheng.duckdb")  # the CLI's default; see default_warehouse()
WAREHOUSE_ENV = "JUNHENG_WAREHOUSE"
EXPORT_PREVIEW_ROWS = 50  # rows printed when the result also goes to a file


# ------------------------------------------------------------------ connection


def connect_read_only(warehouse: Path) -> duckdb.DuckDBPyConnection:
    """Open the warehouse strictly read-only; raise FileNotFoundError if it does not exist."""
    warehouse = Path(warehouse)
    if not warehouse.is_file():
        raise FileNotFoundError(f"找不到数据仓库文件 (warehouse not found): {warehouse}")
    return duckdb.connect(
        str(warehouse),
        read_only=True,
        config={"enable_external_access": False, "lock_configuration": True},
    )


def run_query(
    warehouse: Path, sql: str, *, out: TextIO | None = None, echo: bool = True, max_rows: int | None = None
) -> tuple[list[str], list[tuple]]:
    """Run ``sql`` on a read-only connection; print the result as a table (unless ``echo`` is False)."""
    conn = connect_read_only(warehouse)
    try:
        cur = conn.execute(sql)
        if cur.description is None:  # a statement without a result set
            columns: list[str] = []
            rows: list[tuple] = []
        else:
            columns = [d[0] for d in cur.description]
            rows = [tuple(r) for r in cur.fetchall()]
    finally:
        conn.close()
    if echo:
        print_table(columns, rows, out=out, max_rows=max_rows)
    return columns, rows


# ------------------------------------------------------------------ table printing


def display_width(text: str) -> int:
    """Terminal columns: East Asian wide/full-width characters take two, combining marks none."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * max(0, width - display_width(text))
    return fill + text if right else text + fill


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, decimal.Decimal)) and not isinstance(v, bool)


def format_cell(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return str(v)
        return repr(v) if abs(v) < 1e16 else f"{v:.6g}"
    if isinstance(v, (_dt.date, _dt.datetime, _dt.time)):
        return v.isoformat(sep=" ") if isinstance(v, _dt.datetime) else v.isoformat()
    # Control characters would break the grid.
    return str(v).replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], max_rows: int | None = None) -> str:
    shown = rows if max_rows is None else rows[:max_rows]
    cells = [[format_cell(v) for v in row] for row in shown]
    numeric = [
        bool(rows) and all(r[i] is None or _is_number(r[i]) for r in rows) for i in range(len(columns))
    ]
    widths = [display_width(c) for c in columns]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], display_width(c))
    sep = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    lines = [sep, "| " + " | ".join(_pad(c, widths[i], False) for i, c in enumerate(columns)) + " |", sep]
    for row in cells:
        lines.append("| " + " | ".join(_pad(c, widths[i], numeric[i]) for i, c in enumerate(row)) + " |")
    if cells:
        lines.append(sep)
    if len(shown) < len(rows):
        lines.append(f"(共 {len(rows)} 行，仅显示前 {len(shown)} 行)")
    else:
        lines.append(f"({len(rows)} 行)")
    return "\n".join(lines)


def print_table(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], out: TextIO | None = None, max_rows: int | None = None
) -> None:
    out = out or sys.stdout
    if not columns:
        print("(语句已执行，无结果集)", file=out)
        return
    print(format_table(columns, rows, max_rows), file=out)


# ------------------------------------------------------------------ exports


def neutralise(text: str) -> str:
    """Prefix text a spreadsheet would execute with ``'`` (OWASP CSV-injection guidance)."""
    if text and text.startswith(DANGEROUS_PREFIXES):
        return "'" + text
    return text


def _export_value(v: Any, guard=neutralise) -> Any:
    """None, a number (int/float), a bool, or text passed through `guard` (CSV: neutralised; XLSX: as is, since a
    typed string cell is never evaluated and an apostrophe would show)."""
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, decimal.Decimal):
        return int(v) if v == v.to_integral_value() and abs(v) < 2**53 else float(v)
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, _dt.datetime):
        return guard(v.isoformat(sep=" "))
    if isinstance(v, (_dt.date, _dt.time)):
        return guard(v.isoformat())
    if isinstance(v, (bytes, bytearray)):
        return guard(v.hex())
    return guard(str(v))


def export_csv(path: Path, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    """UTF-8 with BOM (Excel then reads Chinese correctly); text neutralised; numbers plain."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        w.writerow([neutralise(str(c)) for c in columns])
        for row in rows:
            out = []
            for v in row:
                e = _export_value(v)
                if e is None:
                    out.append("")
                elif isinstance(e, bool):
                    out.append("TRUE" if e else "FALSE")
                elif isinstance(e, float):
                    out.append(repr(e) if math.isfinite(e) else "")
                else:
                    out.append(e)
            w.writerow(out)
    return path


def export_xlsx(
    path: Path, columns: Sequence[str], rows: Sequence[Sequence[Any]], sheet_name: str = "查询结果"
) -> Path:
    """One sheet; numbers as number cells, text as typed string cells (never formulas, so nothing to neutralise and
    no visible apostrophe), an autofilter and a frozen header."""
    import xlsxwriter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(
        str(path),
        {
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
            "nan_inf_to_errors": True,
        },
    )
    try:
        ws = wb.add_worksheet(sheet_name)
        head = wb.add_format({"bold": True, "bg_color": "#E8EEF7", "border": 1})
        widths = [display_width(str(c)) for c in columns]
        for j, c in enumerate(columns):
            ws.write_string(0, j, str(c), head)
        for i, row in enumerate(rows, start=1):
            for j, v in enumerate(row):
                e = _export_value(v, guard=str)
                if e is None:
                    ws.write_blank(i, j, None)
                elif isinstance(e, bool):
                    ws.write_boolean(i, j, e)
                elif isinstance(e, (int, float)):
                    ws.write_number(i, j, e)
                else:
                    ws.write_string(i, j, e)
                    widths[j] = max(widths[j], min(60, display_width(e)))
                if isinstance(e, (int, float)) and not isinstance(e, bool):
                    widths[j] = max(widths[j], min(20, len(format_cell(e))))
        for j, w in enumerate(widths):
            ws.set_column(j, j, max(8, w + 2))
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, len(rows), max(len(columns) - 1, 0))
    finally:
        wb.close()
    return path


# ------------------------------------------------------------------ export targets

DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file
DATABASE_SUFFIXES = (".duckdb", ".duckdb.wal")


def is_duckdb_file(path: Path) -> bool:
    """Whether `path` is an existing file that starts like a DuckDB database (magic "DUCK" at offset 8)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(12)[8:12] == DUCKDB_MAGIC
    except OSError:
        return False


def export_target_problem(target: Path, warehouse: Path) -> str | None:
    """Why exporting to `target` could destroy a database (the one queried or any other), or None when it is safe."""
    target, warehouse = Path(target), Path(warehouse)
    if target.name.lower().endswith(DATABASE_SUFFIXES):
        return f"导出文件名以 .duckdb / .duckdb.wal 结尾，不写入 / an export never writes a .duckdb or .duckdb.wal file: {target}"
    real_target, real_wh = Path(os.path.realpath(target)), Path(os.path.realpath(warehouse))
    if real_target.parent == real_wh.parent and real_target.name.startswith(real_wh.name):
        return f"导出文件是正在查询的数据仓库或其附属文件，不写入 / the export file is the warehouse being queried or one of its files: {target}"
    try:
        if target.exists() and warehouse.exists() and os.path.samefile(target, warehouse):
            return f"导出文件就是正在查询的数据仓库（硬链接），不写入 / the export file is the warehouse being queried (a hard link): {target}"
    except OSError:
        pass
    if is_duckdb_file(target):
        return f"导出文件是一个已有的 DuckDB 数据库，不覆盖 / the export file is an existing DuckDB database, not overwritten: {target}"
    return None


# ------------------------------------------------------------------ CLI


def default_warehouse() -> Path:
    """$JUNHENG_WAREHOUSE, else the warehouse `junheng run` publishes by default."""
    if os.environ.get(WAREHOUSE_ENV):
        return Path(os.environ[WAREHOUSE_ENV])
    try:
        from junheng.cli import DEFAULT_WAREHOUSE as cli_default

        return Path(cli_default)
    except Exception:  # pragma: no cover - the CLI module is optional here
        return DEFAULT_WAREHOUSE




def main_query(argv: Sequence[str] | None = None) -> int:
    p = ArgParser(
        prog="junheng query",
        description="只读查询数据仓库并打印结果表；可导出 CSV / XLSX（已防公式注入）/ read-only SQL on the warehouse, "
                    "printed as a table; optional CSV / XLSX export (formula-injection safe)",
    )
    p.add_argument("sql", help="SQL 语句（只读）/ the SQL statement (read-only)")
    p.add_argument("--warehouse", type=Path, default=None, help=f"数据仓库文件（默认 ${WAREHOUSE_ENV} 或 {DEFAULT_WAREHOUSE}）/ the warehouse file "
                        f"(default ${WAREHOUSE_ENV} or {DEFAULT_WAREHOUSE})")
    p.add_argument("--csv", type=Path, default=None, help="导出 CSV 文件（UTF-8 带 BOM）/ also write the result as CSV (UTF-8 with BOM)")
    p.add_argument("--xlsx", type=Path, default=None, help="导出 Excel 文件 / also write the result as an Excel workbook")
    p.add_argument("--max-rows", type=int, default=None,
                   help=f"屏幕最多显示的行数（默认全部；导出时默认 {EXPORT_PREVIEW_ROWS}）/ rows shown on screen "
                        f"(default all; {EXPORT_PREVIEW_ROWS} when exporting)")
    args = parse_or_exit_code(p, argv)
    if isinstance(args, int):
        return args
    if not args.sql.strip():
        print("junheng query: 错误 / error: SQL 语句为空 / the SQL is empty", file=sys.stderr)
        return 2
    warehouse = args.warehouse or default_warehouse()
    for target in (args.csv, args.xlsx):
        problem = export_target_problem(target, warehouse) if target is not None else None
        if problem:
            print(f"junheng query: 错误: {problem}", file=sys.stderr)
            return 2
    try:
        max_rows = args.max_rows
        if max_rows is None and (args.csv or args.xlsx):
            max_rows = EXPORT_PREVIEW_ROWS
        columns, rows = run_query(warehouse, args.sql, max_rows=max_rows)
    except FileNotFoundError as e:
        print(f"junheng query: 错误: {e}", file=sys.stderr)
        return 1
    except duckdb.Error as e:
        print(f"junheng query: 查询失败 (query failed): {e}", file=sys.stderr)
        return 1
    try:
        if args.csv:
            export_csv(args.csv, columns, rows)
            print(f"已导出 CSV: {args.csv}", file=sys.stderr)
        if args.xlsx:
            export_xlsx(args.xlsx, columns, rows)
            print(f"已导出 Excel: {args.xlsx}", file=sys.stderr)
    except OSError as e:
        print(f"junheng query: 导出失败 (export failed): {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main_query())
