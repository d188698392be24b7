"""County report and province summary: content (the figures are the marts', the headline says why, trends leave the
flagged parts out, the ranking puts the verdict first), formats, the workbook, CLI exit codes (fixture warehouse)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import openpyxl
import pytest

import marts_reference as ref
from junheng.reports import data as D
from junheng.reports.county import (
    county_context,
    main_report,
    province_context,
    render_county_report,
    render_province_report,
)
from junheng.reports.query import connect_read_only
from report_fixture import SLIP, write_report_fixture

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return write_report_fixture(tmp_path_factory.mktemp("wh") / "report.duckdb")


def _ctx(warehouse, county, year):
    con = connect_read_only(warehouse)
    try:
        return county_context(con, county, year)
    finally:
        con.close()


def _province(warehouse, year, province=None):
    con = connect_read_only(warehouse)
    try:
        return province_context(con, year, province)
    finally:
        con.close()


def _query(warehouse, sql, params=()):
    con = connect_read_only(warehouse)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def ctx(warehouse):
    return _ctx(warehouse, "431230", 2024)


def test_balance_table_matches_marts(warehouse, ctx):
    cv = {(l, i): (x, c) for l, i, x, c in _query(
        warehouse, "SELECT level, indicator, county_value, cv FROM marts.county_indicator_cv "
                   "WHERE county_code = '431230' AND year = 2024 AND method = 'basic'")}
    comp = dict(_query(warehouse, "SELECT level, composite_cv FROM marts.county_balance "
                                  "WHERE county_code = '431230' AND year = 2024"))
    assert [b["level"] for b in ctx["basic"]] == ["primary", "junior"]
    for lv in ctx["basic"]:
        for cell in lv["cells"]:
            x, c = cv[(lv["level"], cell["code"])]
            assert cell["cv"] == f"{c:.3f}"
            assert cell["value"] == (f"{x:,.2f}" if cell["code"] == "B3" else f"{x:,.3f}")
        assert lv["composite"] == comp[lv["level"]]  # the mart's composite, not a recomputation
        assert lv["verdict"] == ("met" if comp[lv["level"]] <= lv["threshold"] else "not_met")
    b3 = next(c for c in ctx["basic"][0]["cells"] if c["code"] == "B3")
    assert re.fullmatch(r"\d{1,3}(,\d{3})*\.\d{2}", b3["value"])
    assert all(re.fullmatch(r"\d\.\d{3}", c["cv"]) for lv in ctx["quality"] for c in lv["cells"])


def test_scorecard_has_41_items_and_counts_from_the_verdict_mart(warehouse, ctx):
    assert [p["part"] for p in ctx["card_parts"]] == ["resource", "government", "quality", "recognition"]
    assert ctx["card_total"] == 41 == sum(p["total"] for p in ctx["card_parts"])
    resource = [it["item"] for it in ctx["card_parts"][0]["items"]]
    assert resource.count("QS") == 2 and len(resource) == 16
    (met, total, nd), = _query(warehouse, "SELECT items_met, items_total, items_no_data FROM marts.quality_verdict "
                                          "WHERE county_code = '431230' AND year = 2024")
    assert (ctx["card_counts"]["met"], ctx["card_total"], ctx["card_counts"]["no_data"]) == (met, total, nd)
    assert sum(ctx["card_counts"].values()) == ctx["card_total"]
    assert all(CJK.search(it["name"]) for p in ctx["card_parts"] for it in p["items"])
    # a headline "N of 41 met" never says all met while the verdict is not met
    for county in ("431230", "431229", "431228", "340103"):
        c = _ctx(warehouse, county, 2024)
        assert (c["card_counts"]["met"] == c["card_total"]) == (c["overall"] == "met"), county


def test_headline_says_why_when_qs_decides(warehouse):
    """靖州 meets every CV and every county-return item; one school fails the 6-of-7 rule: the verdict is not met and
    the headline names the item and the school."""
    c = _ctx(warehouse, "431229", 2024)
    assert c["overall"] == "not_met" and c["card_counts"]["met"] == 40
    assert all(q["cv_verdict"] == "met" for q in c["quality"])
    (school,), = _query(warehouse, "SELECT s.school_name FROM marts.school_item_failures f JOIN marts.dim_school_year s "
                                   "USING (school_code, year) WHERE f.county_code = '431229' AND f.year = 2024 "
                                   "AND f.item = 'QS'")
    assert len(c["reasons"]) == 1
    assert "QS" in c["reasons"][0] and "每所学校资源配置达标" in c["reasons"][0] and school in c["reasons"][0]
    html, _ = render_county_report(warehouse, "431229", 2024, warehouse.parent / "out_qs")
    page = html.read_text(encoding="utf-8")
    head = page[page.index('id="summary"'):page.index('id="basic"')]
    assert "未达到优质均衡的原因" in head and "QS" in head and school in head
    # a county that meets everything has no reasons
    assert _ctx(warehouse, "431228", 2024)["reasons"] == []


def test_trend_with_a_flagged_slip_moves_no_more_than_the_clean_series(warehouse):
    """通道 2022: one primary school's equipment value entered in yuan (flagged): official Q6 CV 9.1. In the 2023 report
    the last change is the official one (−8.x, labelled as such, with the clean change beside it); the trend is the
    Theil–Sen slope of the clean series and no steeper than the clean series' own year-to-year changes."""
    county, year, level = SLIP
    c = _ctx(warehouse, county, year + 1)
    row = next(t for t in c["trend_table"] if t["code"] == "Q6" and t["level_zh"] == "小学")
    clean = [(y, cv) for y, cv in _query(warehouse, "SELECT year, cv_clean FROM marts.county_indicator_cv WHERE "
                                                    "county_code = ? AND level = ? AND indicator = 'Q6' AND year <= ? "
                                                    "ORDER BY year", [county, level, year + 1])]
    official = dict(_query(warehouse, "SELECT year, cv FROM marts.county_indicator_cv WHERE county_code = ? AND "
                                      "level = ? AND indicator = 'Q6'", [county, level]))
    assert official[year] > 5  # the slip
    slope = row["raw"]["trend_slope"]
    assert slope == pytest.approx(ref.theil_sen_slope(clean))
    clean_steps = [abs(b - a) / (y2 - y1) for (y1, a), (y2, b) in zip(clean, clean[1:])]
    assert abs(slope) <= max(clean_steps)
    assert abs(row["raw"]["cv_last_change"]) > 5  # the official last change shows the slip ...
    assert "剔除后" in row["change"]  # ... beside the clean one
    assert row["slope"].endswith("/年") and row["slope"] != row["change"]
    # the page says so, and lists the flagged school
    assert "剔除数据待核实学校" in c["trend_note"] and "泰尔—森" in c["trend_note"]
    flagged = [f for f in c["flagged"] if f["year"] == year]
    assert len(flagged) == 1 and "Q6" in flagged[0]["effect"] and "9.100" in flagged[0]["effect"]
    (name,), = _query(warehouse, "SELECT school_name FROM marts.dim_school_year WHERE school_code = ? AND year = ?",
                      [flagged[0]["code"], year])
    assert flagged[0]["name"] == name and flagged[0]["rule_id"] == "R_UNIT_SLIP_10K_YUAN"
    assert CJK.search(flagged[0]["rule"])  # the rule in Chinese, from expectations/rules.yml


def test_projection_is_the_marts(warehouse, ctx):
    rows = {(lv, ind): (st, py) for lv, ind, st, py in _query(
        warehouse, "SELECT level, indicator, projection_status, projected_year FROM marts.indicator_trend "
                   "WHERE county_code = '431230' AND year = 2024")}
    for t in ctx["trend_table"]:
        lv = "primary" if t["level_zh"] == "小学" else "junior"
        status, year = rows[(lv, t["code"])]
        assert t["raw"]["projection_status"] == status
        if status == "projected":
            assert t["projected"] == f"预计{year}年达标"


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


def test_trend_chart_outlier_and_clean_series(warehouse):
    from junheng.reports.charts import _axis_top

    assert _axis_top([0.3, 0.35, 9.1, 0.32], [0.5, 0.45]) == pytest.approx(0.5 * 1.12)
    assert _axis_top([0.3, 0.62], [0.5]) == pytest.approx(0.62 * 1.12)
    charts = {c["code"]: c for c in _ctx(warehouse, "431230", 2024)["charts"]}
    assert charts["Q6"]["has_clean"] and not charts["Q1"]["has_clean"]
    assert "<path" in charts["Q6"]["svg"]


def test_theil_decomposition(ctx):
    assert len(ctx["theil"]) == 14
    for t in ctx["theil"]:
        assert t["t"] == pytest.approx(t["between"] + t["within"])
        shares = [g for g in t["groups"] if g]
        assert sum(g["students"] for g in shares) == pytest.approx(1.0)
        assert sum(g["resource"] for g in shares) == pytest.approx(1.0)


def test_quality_composite_shown_as_information_where_configured(warehouse):
    anhui = _ctx(warehouse, "340103", 2024)
    hunan = _ctx(warehouse, "431230", 2024)
    got = dict(_query(warehouse, "SELECT level, quality_composite_cv FROM marts.county_balance "
                                 "WHERE county_code = '340103' AND year = 2024"))
    assert {q["level"]: q["composite_info"] for q in anhui["quality"]} == got
    assert all(q["composite_info"] is None for q in hunan["quality"])
    page = render_county_report(warehouse, "340103", 2024, warehouse.parent / "out_ah")[0].read_text(encoding="utf-8")
    assert "七项差异系数平均值" in page and "仅供参考" in page


EXPECTED_SHEETS = ["校际均衡（基本均衡）", "资源配置（优质均衡）", "优质均衡评估表", "差异系数趋势", "各年度差异系数",
                   "影响均衡的学校", "未达标学校", "达标缺口", "分校缺口", "达标所需投入", "城乡差距", "数据待核实学校", "说明"]


def test_plan_section_and_sheet_are_the_plan_marts(warehouse, tmp_path):
    """达标所需投入: the totals by category and the ten largest additions on the page, every addition in the workbook,
    all read from marts.investment_plan(_summary); a county that meets §4.1 says it needs nothing."""
    summary = _query(warehouse, "SELECT cost_total, lower_bound, schools_with_additions FROM marts.investment_plan_summary "
                                "WHERE county_code = '431230' AND year = 2024")
    additions = _query(warehouse, "SELECT school_code, cost FROM marts.investment_plan "
                                  "WHERE county_code = '431230' AND year = 2024 ORDER BY cost DESC, school_code")
    assert summary and len(additions) >= 3
    c = _ctx(warehouse, "431230", 2024)["plan"]
    assert c["cost_total"] == summary[0][0] and c["lower_bound"] == summary[0][1]
    assert [(a["code"], a["cost"]) for a in c["additions"]] == additions
    assert sum(x["cost"] for x in c["categories"] if x["cost"] is not None) == pytest.approx(summary[0][0])
    html, xlsx = render_county_report(warehouse, "431230", 2024, tmp_path)
    page = html.read_text(encoding="utf-8")
    section = page[page.index('id="plan-section"'):page.index('id="theil-section"')]
    assert "七、达标所需投入" in section and f"{summary[0][0] / 10000:,.1f} 万元" in section
    assert section.count("<tr>") - 2 == len(c["categories"]) + min(10, len(additions))  # two header rows
    ws = openpyxl.load_workbook(xlsx)["达标所需投入"]
    rows = [r for r in ws.iter_rows(min_row=4, values_only=True) if r[0] is not None]
    assert [(r[1], r[7]) for r in rows] == additions
    met = _ctx(warehouse, "431228", 2024)
    assert met["plan"] is None and not met["plan_needed"]


def test_workbook_typed_filtered_frozen(warehouse, tmp_path):
    html, xlsx = render_county_report(warehouse, "431230", 2024, tmp_path)
    wb = openpyxl.load_workbook(xlsx)
    assert wb.sheetnames == EXPECTED_SHEETS
    assert not any("拖后腿" in n for n in wb.sheetnames)
    for ws in wb.worksheets[:-1]:
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A3:"), ws.title  # header row 3, filtered
        assert ws.freeze_panes and re.fullmatch(r"[A-Z]4", ws.freeze_panes), (ws.title, ws.freeze_panes)  # header frozen
    # the published inter-school layout: 学段, 项目, the eight indicators, 综合; rows 县平均值 / 差异系数 per level
    ws = wb["校际均衡（基本均衡）"]
    header = [c.value for c in ws[3]]
    assert header[:11] == ["学段", "项目", "生均教学及辅助用房面积", "生均体育运动场馆面积", "生均教学仪器设备值",
                           "每百名学生拥有计算机台数", "生均图书册数", "师生比", "生均高于规定学历教师数",
                           "生均中级及以上专业技术职务教师数", "综合"]
    assert [(r[0].value, r[1].value) for r in ws.iter_rows(min_row=4, max_row=7)] == [
        ("小学", "县平均值"), ("小学", "差异系数"), ("初中", "县平均值"), ("初中", "差异系数")]
    assert all(isinstance(c.value, float) and c.number_format == "0.000" for c in ws[5][2:11])
    # typed cells: numbers are numbers, text is text without a guard apostrophe, never a formula
    for sheet in wb:
        for row in sheet.iter_rows():
            for c in row:
                assert c.data_type != "f"
                if isinstance(c.value, str):
                    assert not c.value.startswith("'"), (sheet.title, c.coordinate, c.value)
                    # a signed or decimal number stored as text (codes are digit strings and stay text)
                    assert not re.fullmatch(r"[−+-]\d[\d,]*(\.\d+)?|\d[\d,]*\.\d+", c.value), (sheet.title, c.coordinate)
    flagged = wb["数据待核实学校"]
    assert flagged.max_row >= 4 and isinstance(flagged["I4"].value, (int, float))  # the submitted value, a number
    page = html.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert not re.search(r"url\(\s*['\"]?[^#'\"\s]", page), "only in-page url(#id) references"
    assert "@import" not in page and "拖后腿" not in page


def test_school_names_are_plain_strings_in_the_workbook(tmp_path):
    wh = write_report_fixture(tmp_path / "w.duckdb")
    con = duckdb.connect(str(wh))
    code = con.execute("SELECT min(school_code) FROM marts.dim_school_year WHERE county_code = '431230'").fetchone()[0]
    con.execute("UPDATE marts.dim_school_year SET school_name = '=HYPERLINK(\"http://x\",\"点\")' WHERE school_code = ?",
                [code])
    con.close()
    _, xlsx = render_county_report(wh, "431230", 2024, tmp_path / "out")
    wb = openpyxl.load_workbook(xlsx)
    hits = [c for s in wb for row in s.iter_rows() for c in row if isinstance(c.value, str) and "HYPERLINK" in c.value]
    assert hits and all(c.data_type == "s" for c in hits)  # string cells, never formulas
    assert any(c.value == '=HYPERLINK("http://x","点")' for c in hits)  # as submitted, no guard character


def _altered_copy(warehouse: Path, copy: Path, *statements: str) -> Path:
    """`copy`: the fixture warehouse with `statements` applied (an older or partial build of the marts)."""
    shutil.copy(warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        for sql in statements:
            con.execute(sql)
    return copy


def _refused(wh: Path, match: str) -> None:
    con = connect_read_only(wh)
    try:
        with pytest.raises(D.ReportError, match=match):
            county_context(con, "431230", 2024)
    finally:
        con.close()


def test_a_warehouse_without_a_mart_column_is_refused_by_name(warehouse, tmp_path):
    wh = _altered_copy(warehouse, tmp_path / "old.duckdb", "ALTER TABLE marts.indicator_trend DROP COLUMN trend_slope",
                       "DROP TABLE marts.flagged_school_impact")
    _refused(wh, r"marts\.indicator_trend\.trend_slope.*marts\.flagged_school_impact|"
                 r"marts\.flagged_school_impact.*marts\.indicator_trend\.trend_slope")
    assert main_report(["--county", "431230", "--year", "2024", "--warehouse", str(wh), "--out", str(tmp_path)]) == 1


def test_a_warehouse_loaded_without_plans_reports_the_plan_as_still_to_come(warehouse, tmp_path):
    """The plan marts are plan_job's (a load with --no-plans, or before plans_sensor ran, has none): the report is
    made, and its plan section says how to compute the plan; a plan mart that exists but lacks a column is refused."""
    wh = _altered_copy(warehouse, tmp_path / "planless.duckdb", "DROP TABLE marts.investment_plan",
                       "DROP TABLE marts.investment_plan_summary")
    c = _ctx(wh, "431230", 2024)
    assert c["plan"] is None and c["plan_needed"]
    html, _ = render_county_report(wh, "431230", 2024, tmp_path)
    page = html.read_text(encoding="utf-8")
    section = page[page.index('id="plan-section"'):page.index('id="theil-section"')]
    assert "尚无该县该年度的投入方案" in section and "junheng run --plans-only" in section
    wh = _altered_copy(warehouse, wh, "ALTER TABLE marts.investment_plan_summary DROP COLUMN lower_bound")
    _refused(wh, r"marts\.investment_plan_summary\.lower_bound")


def test_province_ranking_puts_the_verdict_first(warehouse):
    grouped = _province(warehouse, 2024)
    assert grouped["grouped"] and [g["code"] for g in grouped["groups"]] == ["34", "43"]
    order = {"met": 1, "incomplete": 2, "not_met": 3}
    for g in grouped["groups"]:
        verdicts = [order[c["overall"]] for c in g["counties"]]
        assert verdicts == sorted(verdicts)  # every met county above every not-met one
        assert [c["rank"] for c in g["counties"]] == list(range(1, len(verdicts) + 1))
        keys = [ref.progress_key(c["overall"], c["items_met"], c["ratio"]) for c in g["counties"]]
        assert keys == sorted(keys)
    hunan = _province(warehouse, 2024, "43")
    assert not hunan["grouped"] and hunan["scope"] == "湖南省"
    codes = [c["code"] for c in hunan["counties"]]
    assert codes[0] == "431228"  # the one county that reaches high-quality balance, ahead of ...
    assert codes.index("431229") > codes.index("431228")  # ... 靖州 with 40 of 41 items
    for c in hunan["counties"]:
        assert bool(c["reasons"]) == (c["overall"] != "met"), c["code"]
    jz = next(c for c in hunan["counties"] if c["code"] == "431229")
    assert len(jz["reasons"]) == 1 and "QS" in jz["reasons"][0] and "菁芜洲小学" in jz["reasons"][0]


def test_province_default_is_the_data_province(warehouse, tmp_path):
    wh = tmp_path / "hunan.duckdb"
    shutil.copy(warehouse, wh)
    con = duckdb.connect(str(wh))
    for table in ("county_progress_rank", "dim_county"):
        con.execute(f"DELETE FROM marts.{table} WHERE province_code = '34'")
    con.close()
    ctx = _province(wh, 2024)
    assert not ctx["grouped"] and ctx["scope"] == "湖南省" and len(ctx["counties"]) == 3
    html, xlsx = render_province_report(wh, 2024, tmp_path / "out")
    assert html.name == "province_43_2024.html"
    ws = openpyxl.load_workbook(xlsx)["县域排名"]
    assert ws.auto_filter.ref.startswith("A3:") and ws["A3"].value == "省份"  # filterable by province
    assert [ws.cell(r, 1).value for r in range(4, 7)] == ["湖南省"] * 3


def test_main_report(warehouse, tmp_path, capsys):
    out = tmp_path / "o"
    assert main_report(["--county", "431230", "--year", "2024", "--warehouse", str(warehouse), "--out", str(out)]) == 0
    assert (out / "county_431230_2024.html").exists() and (out / "county_431230_2024.xlsx").exists()
    assert main_report(["--warehouse", str(warehouse), "--out", str(out)]) == 0  # latest year, grouped by province
    assert (out / "province_all_2024.html").exists()
    assert main_report(["--province", "湖南省", "--year", "2023", "--warehouse", str(warehouse), "--out", str(out)]) == 0
    assert (out / "province_43_2023.xlsx").exists()
    capsys.readouterr()
    assert main_report(["--county", "999999", "--year", "2024", "--warehouse", str(warehouse), "--out", str(out)]) == 1
    assert "没有" in capsys.readouterr().err
    assert main_report(["--province", "火星", "--warehouse", str(warehouse), "--out", str(out)]) == 1
    assert main_report(["--county", "4312", "--year", "2024", "--warehouse", str(warehouse)]) == 1
    assert main_report(["--county", "431230", "--year", "2024", "--warehouse", str(tmp_path / "none.duckdb")]) == 1
    assert main_report(["--year", "abc"]) == 2
    assert main_report(["--bogus"]) == 2


def test_help_is_bilingual(capsys):
    assert main_report(["--help"]) == 0
    text = capsys.readouterr().out
    for zh, en in (("县级行政区划代码", "county code"), ("统计年度", "statistical year"), ("省份", "province"),
                   ("输出目录", "output directory"), ("数据仓库文件", "warehouse file")):
        assert zh in text and en in text, (zh, en)
