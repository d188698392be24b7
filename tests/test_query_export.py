"""junheng query: read-only enforcement, CJK table printing, formula-injection-safe CSV/XLSX exports."""

from __future__ import annotations

import csv
import io

import duckdb
import openpyxl
import pytest

from junheng.reports.query import (
    DANGEROUS_PREFIXES,
    display_width,
    export_csv,
    export_xlsx,
    format_table,
    main_query,
    neutralise,
    run_query,
)

DANGEROUS_TEXTS = ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx", "=HYPERLINK(\"http://x\",\"点我\")"]


@pytest.fixture()
def warehouse(tmp_path):
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.t (school_name VARCHAR, note VARCHAR, value DOUBLE, n INTEGER)")
    rows = [("第一小学", t, -1.5 * i, -i) for i, t in enumerate(DANGEROUS_TEXTS, start=1)]
    rows.append(("通道侗族自治县芙蓉中学", "正常文本", 2909.14, 26))
    rows.append(("空值学校", None, None, None))
    con.executemany("INSERT INTO marts.t VALUES (?, ?, ?, ?)", rows)
    con.close()
    return path


def test_every_prefix_neutralised():
    for p in DANGEROUS_PREFIXES:
        assert neutralise(p + "abc") == "'" + p + "abc"
    assert neutralise("正常") == "正常"
    assert neutralise("a=b") == "a=b"
    assert neutralise("") == ""


def test_csv_escapes_text_keeps_numbers(warehouse, tmp_path):
    cols, rows = run_query(warehouse, "SELECT * FROM marts.t ORDER BY n NULLS LAST", echo=False)
    out = export_csv(tmp_path / "o.csv", cols, rows)
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "CSV must carry a UTF-8 BOM for Excel"
    got = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert got[0] == ["school_name", "note", "value", "n"]
    body = {r[1]: r for r in got[1:]}
    for text in DANGEROUS_TEXTS:
        r = body["'" + text]
        assert r[1].startswith("'")
        # the numbers of the same row are plain negative numbers, not escaped text
        float(r[2])
        assert r[2].startswith("-") and r[3].startswith("-")
        int(r[3])
    assert "正常文本" in body and body["正常文本"][2] == "2909.14"
    assert ["空值学校", "", "", ""] in got


def test_xlsx_keeps_text_as_typed_strings_and_numbers_as_numbers(warehouse, tmp_path):
    cols, rows = run_query(warehouse, "SELECT * FROM marts.t", echo=False)
    out = export_xlsx(tmp_path / "o.xlsx", cols, rows)
    ws = openpyxl.load_workbook(out).active
    values = list(ws.iter_rows(values_only=True))
    assert values[0] == ("school_name", "note", "value", "n")
    seen = set()
    for cell_row in ws.iter_rows(min_row=2):
        name, note, value, n = cell_row
        if note.value is None:
            continue
        if note.value != "正常文本":
            assert note.data_type == "s", "dangerous text must stay a string cell, never a formula"
            # xlsxwriter stores a carriage return as the OOXML escape _x000D_, which Excel decodes
            # and openpyxl does not.
            text = note.value.replace("_x000D_", "\r")
            assert text in DANGEROUS_TEXTS  # exactly as stored: a string cell needs no apostrophe
            seen.add(text)
            assert value.data_type == "n" and isinstance(value.value, (int, float)) and value.value < 0
            assert n.data_type == "n" and isinstance(n.value, int) and n.value < 0
        else:
            assert value.value == pytest.approx(2909.14)
    assert seen == set(DANGEROUS_TEXTS)
    # No cell anywhere is a formula; the header row filters.
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)
    assert ws.auto_filter.ref == f"A1:D{ws.max_row}" and ws.freeze_panes == "A2"


def test_read_only_enforced(warehouse):
    for stmt in (
        "INSERT INTO marts.t VALUES ('x', 'y', 1, 1)",
        "CREATE TABLE marts.u (a INTEGER)",
        "DELETE FROM marts.t",
        "DROP TABLE marts.t",
    ):
        with pytest.raises(duckdb.Error):
            run_query(warehouse, stmt, echo=False)
    # Nor can a query write or read other files.
    with pytest.raises(duckdb.Error):
        run_query(warehouse, "COPY marts.t TO '/tmp/junheng_leak.csv'", echo=False)
    with pytest.raises(duckdb.Error):
        run_query(warehouse, "SET enable_external_access = true", echo=False)
    cols, rows = run_query(warehouse, "SELECT count(*) AS n FROM marts.t", echo=False)
    assert rows == [(len(DANGEROUS_TEXTS) + 2,)]


def test_main_query_exit_codes(warehouse, tmp_path, capsys):
    assert main_query([]) == 2
    assert main_query(["SELECT 1", "--bogus"]) == 2
    assert main_query(["SELECT 1", "--warehouse", str(tmp_path / "missing.duckdb")]) == 1
    assert "找不到" in capsys.readouterr().err
    assert main_query(["SELECT * FROM nowhere", "--warehouse", str(warehouse)]) == 1
    assert main_query(["DELETE FROM marts.t", "--warehouse", str(warehouse)]) == 1
    csv_path, xlsx_path = tmp_path / "q.csv", tmp_path / "q.xlsx"
    rc = main_query(
        ["SELECT * FROM marts.t", "--warehouse", str(warehouse), "--csv", str(csv_path), "--xlsx", str(xlsx_path)]
    )
    assert rc == 0 and csv_path.exists() and xlsx_path.exists()
    assert "通道侗族自治县芙蓉中学" in capsys.readouterr().out


def test_cjk_table_alignment():
    assert display_width("芙蓉中学") == 8
    assert display_width("ａ") == 2  # full-width Latin
    assert display_width("abc") == 3
    text = format_table(["学校", "value"], [("通道侗族自治县芙蓉中学", 1.5), ("a", -20.25), ("一小", None)])
    lines = text.splitlines()
    grid = [l for l in lines if l.startswith(("|", "+"))]
    widths = {display_width(l) for l in grid}
    assert len(widths) == 1, text  # every line of the grid has the same display width
    # numbers right-aligned
    row = next(l for l in lines if "a " in l and "-20.25" in l)
    assert row.rstrip().endswith("-20.25 |")
    assert lines[-1] == "(3 行)"
    short = format_table(["学校"], [("一小",), ("二小",), ("三小",)], max_rows=2)
    assert "三小" not in short and short.splitlines()[-1] == "(共 3 行，仅显示前 2 行)"
