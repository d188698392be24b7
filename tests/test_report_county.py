"""County report and province summary: content, formats, fallbacks, CLI exit codes (fixture warehouse)."""

from __future__ import annotations

import re
import shutil

import duckdb
import openpyxl
import pytest

from junheng.reports import data as D
from junheng.reports.county import (
    county_context,
    main_report,
    province_context,
    render_county_report,
)
from junheng.reports.query import connect_read_only
from report_fixture import write_report_fixture


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return write_report_fixture(tmp_path_factory.mktemp("wh") / "report.duckdb")


@pytest.fixture(scope="module")
def ctx(warehouse):
    con = connect_read_only(warehouse)
    try:
        yield county_context(con, "431230", 2024)
    finally:
        con.close()


def test_balance_table_matches_marts(warehouse, ctx):
    con = connect_read_only(warehouse)
    cv = {(l, i): (x, c) for l, i, x, c in con.execute(
        "SELECT level, indicator, county_value, cv FROM marts.county_indicator_cv "
        "WHERE county_code = '431230' AND year = 2024 AND method = 'basic'").fetchall()}
    comp = dict(con.execute("SELECT level, composite_cv FROM marts.county_balance "
                            "WHERE county_code = '431230' AND year = 2024").fetchall())
    con.close()
    assert [b["level"] for b in ctx["basic"]] == ["primary", "junior"]
    for lv in ctx["basic"]:
        for cell in lv["cells"]:
            x, c = cv[(lv["level"], cell["code"])]
            assert cell["cv"] == f"{c:.3f}"
            assert cell["value"] == (f"{x:,.2f}" if cell["code"] == "B3" else f"{x:,.3f}")
        assert lv["composite"] == pytest.approx(comp[lv["level"]])
        assert lv["verdict"] == ("met" if comp[lv["level"]] <= lv["threshold"] else "not_met")
    # yuan with thousands separators, CVs to three decimals
    b3 = next(c for c in ctx["basic"][0]["cells"] if c["code"] == "B3")
    assert re.fullmatch(r"\d{1,3}(,\d{3})*\.\d{2}", b3["value"])
    assert all(re.fullmatch(r"\d\.\d{3}", c["cv"]) for lv in ctx["quality"] for c in lv["cells"])


def test_scorecard_and_verdict(ctx):
    assert [p["part"] for p in ctx["card_parts"]] == ["resource", "government", "quality", "recognition"]
    assert ctx["card_total"] == 14 + 15 + 9 + 1
    assert sum(ctx["card_counts"].values()) == ctx["card_total"]
    assert ctx["overall"] in ("met", "not_met", "incomplete")
    assert ctx["overall_zh"] and re.search(r"[\u4e00-\u9fff]", ctx["overall_zh"])
    names = [it["name"] for p in ctx["card_parts"] for it in p["items"]]
    assert all(re.search(r"[\u4e00-\u9fff]", n) for n in names)


def test_trends_holders_gaps(ctx):
    assert [c["code"] for c in ctx["charts"]] == [f"Q{i}" for i in range(1, 8)] + ["composite"]
    assert all(c["svg"].startswith("<svg") and "http" not in c["svg"].split(">")[0].replace(
        'xmlns="http://www.w3.org/2000/svg"', "").replace('xmlns:xlink="http://www.w3.org/1999/xlink"', "")
        for c in ctx["charts"])
    assert len(ctx["holders"]) == 14 and all(len(h["schools"]) <= 3 for h in ctx["holders"])
    for h in ctx["holders"]:
        shares = [s["share"] for s in h["schools"]]
        assert shares == sorted(shares, reverse=True)
    units = {g["code"]: g["unit"] for g in ctx["gaps"]}
    assert units == {"Q1": "人", "Q2": "人", "Q3": "人", "Q4": "平方米", "Q5": "平方米", "Q6": "元", "Q7": "间"}
    for g in ctx["gaps"]:
        if g["unit"] == "元" and g["raw_gap"]:
            assert re.fullmatch(r"\d{1,3}(,\d{3})*", g["gap"])


def test_trend_chart_outlier_and_clean_series(ctx):
    from junheng.reports.charts import _axis_top

    # the planted 2022 slip (CV 9.1) does not set the axis; the CV without flagged parts is drawn
    assert _axis_top([0.3, 0.35, 9.1, 0.32], [0.5, 0.45]) == pytest.approx(0.5 * 1.12)
    assert _axis_top([0.3, 0.62], [0.5]) == pytest.approx(0.62 * 1.12)
    charts = {c["code"]: c for c in ctx["charts"]}
    assert charts["Q6"]["has_clean"] and not charts["Q1"]["has_clean"]
    assert "<path" in charts["Q6"]["svg"]


def test_theil_decomposition(ctx):
    assert len(ctx["theil"]) == 14
    for t in ctx["theil"]:
        assert t["t"] == pytest.approx(t["between"] + t["within"])
        shares = [g for g in t["groups"] if g]
        assert sum(g["students"] for g in shares) == pytest.approx(1.0)
        assert sum(g["resource"] for g in shares) == pytest.approx(1.0)


def test_workbook(warehouse, tmp_path):
    html, xlsx = render_county_report(warehouse, "431230", 2024, tmp_path)
    wb = openpyxl.load_workbook(xlsx)
    assert wb.sheetnames == ["校际均衡", "优质均衡评估表", "差异系数趋势", "拖后腿学校", "达标缺口", "城乡差距", "说明"]
    ws = wb["校际均衡"]
    cells = {c.value: c for row in ws.iter_rows() for c in row if isinstance(c.value, str)}
    assert "县平均值" in cells and "差异系数" in cells
    numeric_cv = [c for row in ws.iter_rows() for c in row if c.number_format == "0.000" and c.value is not None]
    assert numeric_cv and all(isinstance(c.value, float) for c in numeric_cv)
    assert all(c.data_type != "f" for s in wb for row in s.iter_rows() for c in row)
    page = html.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert not re.search(r"url\(\s*['\"]?[^#'\"\s]", page), "only in-page url(#id) references"
    assert "@import" not in page


def test_school_names_neutralised_in_workbook(tmp_path):
    wh = write_report_fixture(tmp_path / "w.duckdb")
    con = duckdb.connect(str(wh))
    con.execute("UPDATE raw.census_schools SET school_name = '=HYPERLINK(\"http://x\",\"点\")' "
                "WHERE school_code = (SELECT min(school_code) FROM raw.census_schools WHERE county_code = '431230')")
    con.close()
    _, xlsx = render_county_report(wh, "431230", 2024, tmp_path / "out")
    wb = openpyxl.load_workbook(xlsx)
    texts = [c.value for s in wb for row in s.iter_rows() for c in row if isinstance(c.value, str)]
    hits = [t for t in texts if "HYPERLINK" in t]
    assert hits and all(t.startswith("'=") for t in hits)


def test_report_without_optional_marts(warehouse, tmp_path):
    wh = tmp_path / "core_only.duckdb"
    shutil.copy(warehouse, wh)
    con = duckdb.connect(str(wh))
    for key in ("trend", "share", "gap_school", "gap_county", "rank", "verdict", "theil", "theil_group"):
        con.execute(f"DROP TABLE {D.TABLES[key]}")
    con.close()
    con = connect_read_only(wh)
    try:
        ctx = county_context(con, "431230", 2024)
        # the derived gaps equal the mart's
        full = connect_read_only(warehouse)
        try:
            want = county_context(full, "431230", 2024)
        finally:
            full.close()
        assert [(g["code"], g["gap"], g["schools_below"]) for g in ctx["gaps"]] == \
               [(g["code"], g["gap"], g["schools_below"]) for g in want["gaps"]]
        assert len(ctx["charts"]) == 8 and ctx["notes"]
        assert not ctx["has_shares"] and ctx["failing"]
        # the derived ranking is the mart's ranking
        derived = province_context(con, 2024, None)
    finally:
        con.close()
    con = connect_read_only(warehouse)
    try:
        from_mart = province_context(con, 2024, None)
    finally:
        con.close()
    assert [c["code"] for c in derived["counties"]] == [c["code"] for c in from_mart["counties"]]
    html, xlsx = render_county_report(wh, "431230", 2024, tmp_path / "out")
    assert html.exists() and xlsx.exists()


def test_province_ranking_order(warehouse):
    con = connect_read_only(warehouse)
    try:
        ctx = province_context(con, 2024, None)
        hunan = province_context(con, 2024, "43")
    finally:
        con.close()
    keys = [(-c["items_met"], c["ratio"]) for c in ctx["counties"]]
    assert keys == sorted(keys)
    assert [c["rank"] for c in ctx["counties"]] == list(range(1, len(keys) + 1))
    assert {c["code"][:2] for c in hunan["counties"]} == {"43"} and len(hunan["counties"]) == 3
    assert [c["rank"] for c in hunan["counties"]] == [1, 2, 3]  # ranked within the province
    assert [c["code"] for c in hunan["counties"]] == [c["code"] for c in ctx["counties"] if c["code"][:2] == "43"]


def test_main_report(warehouse, tmp_path, capsys):
    out = tmp_path / "o"
    assert main_report(["--county", "431230", "--year", "2024", "--warehouse", str(warehouse), "--out", str(out)]) == 0
    assert (out / "county_431230_2024.html").exists() and (out / "county_431230_2024.xlsx").exists()
    assert main_report(["--warehouse", str(warehouse), "--out", str(out)]) == 0  # latest year, all counties
    assert (out / "province_all_2024.html").exists()
    assert main_report(["--province", "湖南省", "--year", "2023", "--warehouse", str(warehouse), "--out", str(out)]) == 0
    assert (out / "province_43_2023.xlsx").exists()
    capsys.readouterr()
    assert main_report(["--county", "999999", "--year", "2024", "--warehouse", str(warehouse), "--out", str(out)]) == 1
    assert "没有" in capsys.readouterr().err
    assert main_report(["--county", "4312", "--year", "2024", "--warehouse", str(warehouse)]) == 1
    assert main_report(["--county", "431230", "--year", "2024", "--warehouse", str(tmp_path / "none.duckdb")]) == 1
    assert main_report(["--year", "abc"]) == 2
    assert main_report(["--bogus"]) == 2
