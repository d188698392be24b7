"""The HTML reports rendered in headless Chromium (Debian's `chromium`, fonts-noto-cjk).

Checks from the DOM Chromium dumps that the tables and charts are on the page, and saves screenshots under
tests/artifacts/ (gitignored). System packages: scripts/install_system_deps.sh.
"""

from __future__ import annotations

import os
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from junheng.reports.county import render_county_report, render_province_report
from chromium import ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS
from report_fixture import write_report_fixture


class _Dom(HTMLParser):
    """Ids, tag counts, per-table row counts and the visible text of a dumped DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, str] = {}
        self.tags: dict[str, int] = {}
        self.svg_paths_in: dict[str, int] = {}
        self.table_rows: dict[str, int] = {}
        self.text: list[str] = []
        self.external: list[str] = []
        self.row_verdicts: dict[str, list[str]] = {}  # table id -> data-verdict of its rows, in order
        self.text_in: dict[str, list[str]] = {}  # element id -> its text
        self._open: list[tuple[str, str]] = []
        self._table: list[str] = []
        self._figure: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if a.get("id"):
            self.ids[a["id"]] = tag
        for k in ("src", "href", "xlink:href"):
            v = a.get(k) or ""
            if v and not v.startswith("#") and not v.startswith("data:"):
                self.external.append(v)
        if tag == "table":
            self._table.append(a.get("id") or "")
        if tag == "tr" and self._table:
            self.table_rows[self._table[-1]] = self.table_rows.get(self._table[-1], 0) + 1
            if a.get("data-verdict"):
                self.row_verdicts.setdefault(self._table[-1], []).append(a["data-verdict"])
        if a.get("id") in ("headline-reasons", "overall-verdict", "trend-note", "flagged"):
            self._open.append((tag, a["id"]))
        if tag == "figure":
            self._figure = a.get("id")
        if tag == "path" and self._figure:
            self.svg_paths_in[self._figure] = self.svg_paths_in.get(self._figure, 0) + 1

    def handle_endtag(self, tag):
        if self._open and self._open[-1][0] == tag:
            self._open.pop()
        if tag == "table" and self._table:
            self._table.pop()
        if tag == "figure":
            self._figure = None

    def handle_data(self, data):
        self.text.append(data)
        for _, element in self._open:
            self.text_in.setdefault(element, []).append(data)


def _chromium(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run scripts/install_system_deps.sh")
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'chromium-profile'}", *args],
        capture_output=True, text=True, timeout=180,
    )


def _render(html: Path, shot: Path, tmp: Path) -> _Dom:
    dom = _chromium(["--dump-dom", html.resolve().as_uri()], tmp)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<html" in dom.stdout
    shot.parent.mkdir(parents=True, exist_ok=True)
    if shot.exists():
        shot.unlink()
    s = _chromium([f"--screenshot={shot}", "--window-size=1280,4000", html.resolve().as_uri()], tmp)
    assert s.returncode == 0 and shot.exists(), s.stderr[-2000:]
    parsed = _Dom()
    parsed.feed(dom.stdout)
    return parsed


def _image_is_not_blank(png: Path) -> None:
    from PIL import Image

    im = Image.open(png).convert("RGB")
    assert im.size == (1280, 4000)
    colours = im.resize((320, 1000)).getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 50, "screenshot looks blank"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return write_report_fixture(tmp_path_factory.mktemp("wh") / "report.duckdb")


def test_county_report_in_chromium(warehouse, tmp_path):
    html, xlsx = render_county_report(warehouse, "431230", 2024, tmp_path / "out")
    assert xlsx.exists()
    dom = _render(html, ARTIFACTS / "county_report_431230_2024.png", tmp_path)
    text = "".join(dom.text)

    # The tables, each with its rows.
    for table, min_rows in {
        "balance-basic": 1 + 2 * 2,  # header + (县平均值, 差异系数) per level
        "balance-quality": 1 + 5 * 2,
        "scorecard": 1 + 4 + 41,  # header + part headings + the 41 items
        "trend": 1 + 8 * 2,
        "holders": 1 + 7 * 2,
        "failing": 2,
        "failing-dist": 1 + 2,
        "school-gaps": 2,
        "gaps": 1 + 7 * 2,
        "theil": 1 + 7 * 2,
        "flagged": 2,
    }.items():
        assert dom.ids.get(table) == "table", f"table {table} missing"
        assert dom.table_rows.get(table, 0) >= min_rows, (table, dom.table_rows.get(table))

    # One chart per 2017 indicator plus the 2012 composite, each an inline SVG with drawn content.
    charts = [f"chart-Q{i}" for i in range(1, 8)] + ["chart-composite"]
    for c in charts:
        assert dom.ids.get(c) == "figure", f"chart {c} missing"
        assert dom.svg_paths_in.get(c, 0) > 20, f"chart {c} is empty"
    assert dom.tags.get("svg", 0) >= len(charts)

    # Chinese throughout; county-report layout labels; neutral names; no external resource.
    for label in ("县平均值", "差异系数", "综合", "通道侗族自治县", "优质均衡", "缺口", "生均教学仪器设备值",
                  "影响均衡的学校", "数据待核实学校", "最近一年变化", "年均变化（趋势）"):
        assert label in text, label
    assert "拖后腿" not in text
    # The trends say they leave the flagged schools out, and the flagged school of the planted slip is listed.
    assert "剔除数据待核实学校" in "".join(dom.text_in["trend-note"])
    assert "R_UNIT_SLIP_10K_YUAN" in "".join(dom.text_in["flagged"]) and "2022" in "".join(dom.text_in["flagged"])
    assert dom.external == []
    assert dom.tags.get("script", 0) == 0
    _image_is_not_blank(ARTIFACTS / "county_report_431230_2024.png")


def test_headline_says_why_in_chromium(warehouse, tmp_path):
    """靖州: 40 of 41 items; one school fails the school rule (QS). The page's headline says so."""
    html, _ = render_county_report(warehouse, "431229", 2024, tmp_path / "out")
    dom = _render(html, ARTIFACTS / "county_report_431229_2024.png", tmp_path)
    assert "".join(dom.text_in["overall-verdict"]).strip() == "未达到优质均衡"
    reasons = "".join(dom.text_in["headline-reasons"])
    assert "QS" in reasons and "每所学校资源配置达标" in reasons and "菁芜洲小学" in reasons
    assert "达标 40 项" in "".join(dom.text)


def test_province_report_in_chromium(warehouse, tmp_path):
    html, _ = render_province_report(warehouse, 2024, tmp_path / "out")
    dom = _render(html, ARTIFACTS / "province_report_2024.png", tmp_path)
    # grouped by province (the fixture holds two), each ranked within itself
    assert dom.ids.get("ranking") == "table" and dom.ids.get("ranking-43") == "table"
    assert dom.table_rows["ranking"] + dom.table_rows["ranking-43"] == 2 * 2 + 4  # two header rows each + 4 counties
    order = {"met": 1, "incomplete": 2, "not_met": 3}
    for table, verdicts in dom.row_verdicts.items():
        ranks = [order[v] for v in verdicts]
        assert ranks == sorted(ranks), (table, verdicts)  # every met county above every not-met one
    assert dom.row_verdicts["ranking-43"][0] == "met"
    assert dom.ids.get("chart-ranking") == "figure" and dom.svg_paths_in.get("chart-ranking", 0) > 20
    text = "".join(dom.text)
    assert "芷江侗族自治县" in text and "排名" in text and "菁芜洲小学" in text  # 靖州's reason names its school
    assert dom.external == []
    _image_is_not_blank(ARTIFACTS / "province_report_2024.png")


@pytest.mark.skipif(not os.environ.get("JUNHENG_REPORT_WAREHOUSE"),
                    reason="set JUNHENG_REPORT_WAREHOUSE to a warehouse built by `junheng run` to render it too")
def test_real_warehouse_report_in_chromium(tmp_path):
    import duckdb

    wh = Path(os.environ["JUNHENG_REPORT_WAREHOUSE"])
    con = duckdb.connect(str(wh), read_only=True)
    try:
        year, county = con.execute(
            "SELECT year, min(county_code) FROM marts.county_indicator_cv GROUP BY year ORDER BY year DESC LIMIT 1"
        ).fetchone()
    finally:
        con.close()
    html, _ = render_county_report(wh, county, year, tmp_path / "out")
    dom = _render(html, ARTIFACTS / f"county_report_real_{county}_{year}.png", tmp_path)
    for table in ("balance-basic", "balance-quality", "scorecard", "trend", "gaps", "flagged"):
        assert dom.ids.get(table) == "table", table
    assert dom.ids.get("chart-Q1") == "figure" and dom.svg_paths_in.get("chart-Q1", 0) > 20
    html, _ = render_province_report(wh, year, tmp_path / "out")
    dom = _render(html, ARTIFACTS / f"province_report_real_{year}.png", tmp_path)
    assert dom.ids.get("ranking") == "table"
