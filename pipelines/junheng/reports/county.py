"""`junheng report`: the county report (HTML + XLSX, in Chinese) and the province summary.

The HTML page is self-contained: inline CSS, charts as inline SVG (matplotlib, glyphs drawn as paths with a
CJK font), no external URL. The XLSX workbook holds the same tables as numbers with number formats.
The warehouse is opened read-only, so a report can be made while a load runs.
"""

from __future__ import annotations

import datetime as _dt
import re
import sys
from pathlib import Path
from typing import Any, Sequence

import duckdb
from jinja2 import Environment, FileSystemLoader, select_autoescape

from junheng.lib.argparsing import ArgParser, parse_or_exit_code
from junheng.lib.schema import RETURN_COLUMNS
from junheng.reports import data as D
from junheng.reports import labels as L
from junheng.reports.charts import cv_trend_svg, ranking_svg
from junheng.reports.query import connect_read_only, default_warehouse, neutralise

TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_OUT = Path("reports_out")
TOP_SCHOOLS = 3  # schools listed per indicator as holding the county back
SCHOOL_GAPS_PER_INDICATOR = 3  # largest per-school gaps shown on the page per level and indicator (all in the workbook)
CHART_COUNTIES = 20  # a province chart with more than twice this many counties shows the first and last ones
FAILING_ROWS = 30  # non-compliant schools listed on the page (all in the workbook)


def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        cv=L.fmt_cv, pct=L.fmt_pct, num=L.fmt_num,
    )
    env.globals.update(L=L)
    return env


# ================================================================== county: data -> context


def county_context(con: duckdb.DuckDBPyConnection, county_code: str, year: int) -> dict[str, Any]:
    cv_rows = D.indicator_cv(con, county_code, year)
    if not cv_rows:
        have = [str(y) for y in D.years(con)]
        raise D.ReportError(
            f"数据仓库中没有县级行政区划代码 {county_code} 在 {year} 年的指标数据"
            + (f"（仓库中的年度：{'、'.join(have)}）" if have else "")
        )
    names = D.county_names(con)
    county_name = names.get(county_code, county_code)
    cv = {(r["level"], r["method"], r["indicator"]): r for r in cv_rows}
    bal = D.balance(con, county_code, year)
    comp_thr = D.composite_thresholds(con, county_code)
    std = D.standards(con, county_code, year)
    comp_rows = D.compliance(con, county_code, year)
    snames = D.school_names(con, county_code, year)
    sattrs = D.school_attrs(con, county_code, year)
    levels = [lv for lv in L.LEVELS if any(k[0] == lv for k in cv)]
    notes: list[str] = []

    # ---- 1. inter-school balance, 2012 method (county-report layout) and 2017 resource allocation
    basic, quality = [], []
    for lv in levels:
        b = bal.get(lv, {})
        ind = [cv.get((lv, "basic", c), {}) for c in L.BASIC]
        composite = D.pick(b, "composite_cv", "basic_composite_cv", "composite")
        if composite is None and all(r.get("cv") is not None for r in ind):
            composite = sum(r["cv"] for r in ind) / len(ind)
        threshold = D.pick(b, "composite_threshold", "basic_threshold") or comp_thr.get(lv)
        met = D.pick(b, "basic_met", "basic_verdict", "meets_composite", "composite_met")
        if met is None and composite is not None and threshold is not None:
            met = composite <= threshold
        schools = max((r.get("schools") or 0 for r in ind), default=0)
        basic.append({
            "level": lv, "level_zh": L.LEVELS[lv], "schools": schools,
            "students": max((r.get("students") or 0 for r in ind), default=0),
            "cells": [{"code": c, "value": L.fmt_value(c, r.get("county_value")), "cv": L.fmt_cv(r.get("cv")),
                       "raw_value": r.get("county_value"), "raw_cv": r.get("cv")}
                      for c, r in zip(L.BASIC, ind)],
            "composite": composite, "threshold": threshold, "verdict": D.verdict(met),
            "composite_clean": b.get("composite_cv_clean"), "provisional": bool(b.get("basic_provisional")),
        })

        q_ind = [cv.get((lv, "quality", c), {}) for c in L.QUALITY]
        lv_comp = [r for r in comp_rows if r.get("level") == lv]
        n_ok = sum(1 for r in lv_comp if r.get("compliant") is True)
        n_open = sum(1 for r in lv_comp if r.get("compliant") is None)
        cv_ok = D.pick(b, "quality_cv_met", "quality_cvs_met", "all_cvs_met")
        if cv_ok is None and all(r.get("meets_cv") is not None for r in q_ind):
            cv_ok = all(r["meets_cv"] for r in q_ind)
        res = D.pick(b, "quality_resource_met", "quality_resource_verdict", "resource_verdict", "resource_met")
        provisional = any(r.get("provisional") for r in q_ind)
        quality.append({
            "level": lv, "level_zh": L.LEVELS[lv],
            "schools": max((r.get("schools") or 0 for r in q_ind), default=0),
            "total_schools": max((r.get("total_schools") or 0 for r in q_ind), default=0) or None,
            "students": max((r.get("students") or 0 for r in q_ind), default=0),
            "total_students": max((r.get("total_students") or 0 for r in q_ind), default=0) or None,
            "cells": [{
                "code": c, "value": L.fmt_value(c, r.get("county_value")), "standard": L.fmt_standard(c, std.get((lv, c))),
                "cv": L.fmt_cv(r.get("cv")), "threshold": L.fmt_threshold(r.get("cv_threshold")),
                "meets": D.verdict(r.get("meets_cv")), "provisional": bool(r.get("provisional")),
                "raw_value": r.get("county_value"), "raw_cv": r.get("cv"), "raw_threshold": r.get("cv_threshold"),
                "raw_standard": std.get((lv, c)),
            } for c, r in zip(L.QUALITY, q_ind)],
            "compliant": n_ok, "compliance_total": len(lv_comp), "compliance_open": n_open,
            "cv_verdict": D.verdict(cv_ok), "verdict": D.verdict(res), "provisional": provisional,
        })

    # ---- 2. scorecard
    card = D.scorecard(con, county_code, year)
    overall, overall_from_mart = D.overall_verdict(con, county_code, year, card)
    card_parts: list[dict] = []
    for part, part_zh in L.PARTS.items():
        items = [r for r in card if r.get("part") == part]
        if not items:
            continue
        card_parts.append({
            "part": part, "part_zh": part_zh,
            "met": sum(1 for r in items if D.verdict(r["status"]) == "met"), "total": len(items),
            "items": [_card_item(r) for r in items],
        })
    counts = {s: sum(1 for r in card if D.verdict(r["status"]) == s) for s in ("met", "not_met", "no_data")}

    # ---- 3. trends
    trend_rows, trend_from_mart = D.trend(con, county_code, year)
    if not trend_from_mart:
        notes.append("趋势：仓库中没有趋势数据表，图中差异系数按各年度指标表绘制，未计算年均变化与预计达标年份。")
    clean_series = D.clean_cv_series(con, county_code, year)
    charts, trend_table, series_rows = [], [], []
    for method, codes in (("quality", L.QUALITY), ("basic", ["composite"])):
        for code in codes:
            series, thresholds = {}, {}
            for lv in levels:
                pts = [r for r in trend_rows if r["method"] == method and r["indicator"] == code and r["level"] == lv]
                if not pts:
                    continue
                series[lv] = [(int(r["year"]), r["cv"]) for r in pts]
                series_rows.append({"code": code if code != "composite" else "综合", "name": _ind_name(code),
                                    "level_zh": L.LEVELS[lv], "points": series[lv]})
                thresholds[lv] = next((r["cv_threshold"] for r in reversed(pts) if r.get("cv_threshold") is not None), None)
                last = pts[-1]
                trend_table.append({
                    "code": code, "name": _ind_name(code), "level_zh": L.LEVELS[lv], "year": last["year"],
                    "cv": L.fmt_cv(last["cv"]), "threshold": L.fmt_threshold(thresholds[lv]),
                    "change": _fmt_change(last.get("cv_change_per_year")),
                    "projected": _fmt_projection(last, thresholds[lv]),
                    "first_year": pts[0]["year"], "first_cv": L.fmt_cv(pts[0]["cv"]),
                    "raw": last,
                })
            if series:
                title = f"{code if code != 'composite' else '基本均衡'} {_ind_name(code)}"
                summary = [f"{t['level_zh']} {t['cv']}（年均 {t['change']}，{_projection_phrase(t['projected'])}）"
                           for t in trend_table if t["code"] == code]
                clean = {lv: clean_series[(lv, method, code)] for lv in series if (lv, method, code) in clean_series}
                charts.append({"code": code, "title": title, "summary": summary, "has_clean": bool(clean),
                               "svg": cv_trend_svg(title, series, thresholds, L.LEVELS, clean)})

    # ---- 4. who holds the county back
    school_values = D.school_quality_values(con, county_code, year)
    share_rows = D.shares(con, county_code, year)
    holders = []
    if share_rows is None:
        notes.append("拖后腿学校：仓库中没有学校差异贡献数据表，仅列出未达标学校。")
    else:
        for lv in levels:
            for code in L.QUALITY:
                rs = [r for r in share_rows if r["level"] == lv and r["indicator"] == code and r.get("share")][:TOP_SCHOOLS]
                c = cv.get((lv, "quality", code), {})
                holders.append({
                    "level_zh": L.LEVELS[lv], "code": code, "name": L.INDICATORS[code][0],
                    "cv": L.fmt_cv(c.get("cv")), "meets": D.verdict(c.get("meets_cv")),
                    "county_value": L.fmt_value(code, c.get("county_value")), "raw_cv": c.get("cv"),
                    "raw_county_value": c.get("county_value"),
                    "schools": [{"name": snames.get(r["school_code"], r["school_code"]), "code": r["school_code"],
                                 "share": r["share"], "share_zh": L.fmt_pct(r["share"]),
                                 "value": L.fmt_value(code, r.get("value")),
                                 "raw_value": r.get("value"), "direction": _direction(r, c)} for r in rs],
                })
    missed: dict[tuple[str, str], list[dict]] = {}
    for r in school_values:
        if r.get("meets") is False:
            missed.setdefault((r["school_code"], r["level"]), []).append(r)
    failing = []
    for r in comp_rows:
        if r.get("compliant") is True:
            continue
        miss = sorted(missed.get((r["school_code"], r["level"]), []), key=lambda m: m["indicator"])
        attrs = sattrs.get(r["school_code"], {})
        failing.append({
            "name": snames.get(r["school_code"], r["school_code"]), "code": r["school_code"],
            "level_zh": L.LEVELS.get(r["level"], r["level"]),
            "urban_rural": L.URBAN_RURAL.get(r.get("urban_rural") or attrs.get("urban_rural"), ""),
            "met": r.get("indicators_met"), "lowest": L.fmt_pct(r.get("lowest_share_missed")),
            "raw_lowest": r.get("lowest_share_missed"),
            "missed": "；".join(
                f"{m['indicator']} {L.fmt_value(m['indicator'], m['value'])}/{L.fmt_standard(m['indicator'], m['standard'])}"
                for m in miss),
            "verdict": "待定" if r.get("compliant") is None else "未达标",
        })
    failing.sort(key=lambda f: (f["met"] if f["met"] is not None else 99, f["raw_lowest"] or 0))
    failing_dist = []
    for lv in levels:
        lv_rows = [r for r in comp_rows if r.get("level") == lv]
        if lv_rows:
            failing_dist.append({
                "level_zh": L.LEVELS[lv],
                "by_met": [sum(1 for r in lv_rows if r.get("compliant") is not True and r.get("indicators_met") == k)
                           for k in range(8)],
                "compliant": sum(1 for r in lv_rows if r.get("compliant") is True),
            })

    # ---- 5. gap to standard in physical units
    gap_totals, gap_schools, gap_from_mart = D.gaps(con, county_code, year, school_values)
    gaps = []
    for lv in levels:
        for code in L.QUALITY:
            t = next((g for g in gap_totals if g["level"] == lv and g["indicator"] == code), None)
            unit = L.unit_zh(D.pick(t or {}, "unit", "gap_unit"), code)
            gaps.append({
                "level_zh": L.LEVELS[lv], "code": code, "name": L.INDICATORS[code][0], "unit": unit,
                "schools_below": (D.pick(t, "schools_below", "schools") if t else 0) or 0,
                "gap": L.fmt_gap(unit, t["gap"]) if t else "0", "raw_gap": t["gap"] if t else 0.0,
            })
    school_gaps = []
    for g in sorted(gap_schools, key=lambda g: (g["level"] != "primary", g["indicator"], -(g["gap"] or 0))):
        unit = L.unit_zh(D.pick(g, "unit", "gap_unit"), g["indicator"])
        school_gaps.append({
            "name": snames.get(g["school_code"], g["school_code"]), "code": g["school_code"],
            "level_zh": L.LEVELS.get(g["level"], g["level"]), "indicator": g["indicator"],
            "value": L.fmt_value(g["indicator"], g.get("value")), "standard": L.fmt_standard(g["indicator"], g.get("standard")),
            "gap": L.fmt_gap(unit, g["gap"]), "unit": unit,
            "raw_value": g.get("value"), "raw_standard": g.get("standard"), "raw_gap": g["gap"],
        })

    # ---- 6. urban / town / rural inequality (Theil-T decomposition)
    theil_rows = []
    got = D.theil(con, county_code, year)
    if got is not None:
        t_rows, g_rows = got
        for lv in levels:
            for code in L.QUALITY:
                t = next((r for r in t_rows if r["level"] == lv and r["indicator"] == code), None)
                if t is None:
                    continue
                groups = {r["urban_rural"]: r for r in g_rows if r["level"] == lv and r["indicator"] == code}
                T, between = t.get("theil_t"), t.get("theil_between")
                theil_rows.append({
                    "level_zh": L.LEVELS[lv], "code": code, "name": L.INDICATORS[code][0],
                    "t": T, "between": between, "within": t.get("theil_within"),
                    "between_share": (between / T) if T and between is not None else None,
                    "groups": [{"zh": L.URBAN_RURAL[g], "resource": groups[g].get("resource_share"),
                                "students": groups[g].get("student_share")} if g in groups else None
                               for g in L.URBAN_RURAL],
                })

    top_gaps, seen = [], {}
    for g in school_gaps:  # already sorted by level, indicator, gap descending
        k = (g["level_zh"], g["indicator"])
        seen[k] = seen.get(k, 0) + 1
        if seen[k] <= SCHOOL_GAPS_PER_INDICATOR:
            top_gaps.append(g)

    return {
        "theil": theil_rows, "top_school_gaps": top_gaps, "gaps_per_indicator": SCHOOL_GAPS_PER_INDICATOR, "has_theil": got is not None,
        "county_code": county_code, "county_name": county_name, "province_name": L.province_name(county_code),
        "year": year, "generated": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "basic": basic, "quality": quality, "indicators": L.INDICATORS, "BASIC": L.BASIC, "QUALITY": L.QUALITY,
        "card_parts": card_parts, "card_counts": counts, "card_total": len(card),
        "overall": overall, "overall_zh": L.OVERALL.get(overall, L.STATUS.get(overall, overall)),
        "overall_from_mart": overall_from_mart,
        "charts": charts, "trend_table": trend_table, "series": series_rows, "trend_from_mart": trend_from_mart,
        "holders": holders, "has_shares": share_rows is not None, "failing": failing,
        "failing_rows": FAILING_ROWS, "failing_dist": failing_dist,
        "gaps": gaps, "school_gaps": school_gaps, "gap_from_mart": gap_from_mart,
        "notes": notes,
    }


def _ind_name(code: str) -> str:
    return "综合差异系数" if code == "composite" else L.INDICATORS[code][0]


def _fmt_change(x: Any) -> str:
    if x is None:
        return L.DASH
    return f"{float(x):+.3f}"


def _fmt_projection(last: dict, threshold: Any) -> str:
    proj = D.pick(last, "projected_year", "projected_crossing_year", "crossing_year")
    if proj is not None:
        return f"{int(proj)}年"
    if last.get("cv") is not None and threshold is not None and last["cv"] <= threshold:
        return "已达标"
    if "projected_year" in last or "projected_crossing_year" in last:
        return "按现趋势无法达标"
    return L.DASH


def _projection_phrase(p: str) -> str:
    if p.endswith("年"):
        return f"预计{p}达标"
    return p if p != L.DASH else "预计达标年份无数据"


def _direction(share_row: dict, cv_row: dict) -> str:
    v, x = share_row.get("value"), D.pick(share_row, "county_value") or cv_row.get("county_value")
    if v is None or x is None:
        return ""
    return "偏高" if v > x else "偏低"


RETURN_ZH = {c.name: re.sub(r"（.*?）$", "", c.zh) for c in RETURN_COLUMNS}
BOOL_FIELDS = {c.name for c in RETURN_COLUMNS if c.kind == "bool"}
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _requirement_zh(req: Any) -> str:
    """The Chinese half of a bilingual "中文 / English" requirement."""
    if req is None:
        return ""
    zh = str(req).split(" / ")[0].strip().replace("差异系数 CV", "差异系数")
    return zh if _CJK.search(zh) or re.search(r"[≤≥<>%]", zh) else ""


def _plain(v: float) -> str:
    return (f"{v:,.3f}" if abs(v) < 1 else f"{v:,.2f}").rstrip("0").rstrip(".")


def _field_value(field: str, raw: str) -> str:
    raw = raw.strip()
    if raw.upper() == "NULL" or raw == "":
        return "未填报"
    try:
        v = float(raw)
    except ValueError:
        return raw
    if field in BOOL_FIELDS:
        return "是" if v else "否"
    return _plain(v) + ("%" if field.endswith(("_rate", "_share")) and field != "monitoring_between_school_rate" else "")


def _detail_zh(item: str, detail: Any) -> tuple[str, list[str]]:
    """(Chinese text, the return fields named) from the scorecard's detail column."""
    if not detail:
        return "", []
    d = str(detail)
    m = re.search(r"schools failing:\s*(\d+)\s*/\s*(\d+).*?not reported:\s*(\d+)", d)
    if m:
        a, b, c = m.groups()
        return f"不达标 {a} 所（共 {b} 所）" + (f"，未报 {c} 所" if c != "0" else ""), []
    m = re.search(r"county value:\s*(\S+?);.*?standard:\s*(\S+?);.*?below standard:\s*(\d+)\s*/\s*(\d+)", d)
    if m:
        x, st, b, n = m.groups()
        xs = L.fmt_value(item, float(x)) if x != "NULL" else L.DASH
        ss = L.fmt_standard(item, float(st)) if st != "NULL" else L.DASH
        return f"县平均值 {xs}，标准 {ss}，低于标准 {b}/{n} 所", []
    pairs = re.findall(r"([a-z_0-9]+)=([^;]*)", d)
    if pairs:
        return "；".join(f"{RETURN_ZH.get(k, k)} {_field_value(k, v)}" for k, v in pairs), [k for k, _ in pairs]
    return (d if _CJK.search(d) else ""), []


def _card_item(r: dict) -> dict:
    item = r["item"]
    status = D.verdict(r["status"])
    level = r.get("level")
    requirement = _requirement_zh(r.get("requirement_zh") or r.get("requirement"))
    detail, fields = _detail_zh(item, r.get("detail_zh") or r.get("detail"))
    v = r.get("value")
    if item in L.INDICATORS:
        name = f"{L.INDICATORS[item][0]}差异系数（{L.LEVELS.get(level, '')}）"
        value = L.fmt_cv(v)
    else:
        name = L.ITEMS.get(item) or r.get("name_zh") or item
        if v is None:
            value = "未填报" if status == "no_data" else L.DASH
        elif item in ("G03", "G04", "G05"):
            value = f"{int(v)} 所"
        elif (fields and fields[0] in BOOL_FIELDS) or (not fields and requirement == "是"):
            value = "是" if v else "否"
        elif "%" in requirement:
            value = _plain(float(v)) + "%"
        elif "元" in requirement:
            value = f"{float(v):,.0f} 元"
        else:
            value = _plain(float(v))
    return {
        "item": item, "name": name, "value": value, "detail": detail,
        "requirement": requirement, "status": status, "status_zh": L.STATUS.get(status, status),
        "cls": L.STATUS_CLASS.get(status, "na"), "raw_value": v, "provisional": bool(r.get("provisional")),
    }


# ================================================================== county: render


def render_county_report(
    warehouse: Path, county_code: str, year: int, out_dir: Path = DEFAULT_OUT
) -> tuple[Path, Path]:
    """Write ``county_<code>_<year>.html`` and ``.xlsx`` under ``out_dir``; return both paths."""
    county_code = str(county_code).strip()
    if not re.fullmatch(r"\d{6}", county_code):
        raise D.ReportError(f"县级行政区划代码应为6位数字：{county_code!r}")
    con = connect_read_only(Path(warehouse))
    try:
        ctx = county_context(con, county_code, int(year))
    finally:
        con.close()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / f"county_{county_code}_{year}.html"
    xlsx_path = out_dir / f"county_{county_code}_{year}.xlsx"
    html_path.write_text(_env().get_template("county.html.j2").render(**ctx), encoding="utf-8")
    _county_xlsx(xlsx_path, ctx)
    return html_path, xlsx_path


class _Book:
    """xlsxwriter workbook with the report's formats; text through neutralise(), numbers as numbers."""

    def __init__(self, path: Path):
        import xlsxwriter

        self.wb = xlsxwriter.Workbook(str(path), {
            "strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False,
            "nan_inf_to_errors": True,
        })
        f = self.wb.add_format
        base = {"font_name": "等线", "font_size": 10, "border": 1, "valign": "vcenter"}
        self.f = {
            "title": f({"font_name": "等线", "bold": True, "font_size": 14}),
            "sub": f({"font_name": "等线", "italic": True, "font_color": "#555555"}),
            "head": f({**base, "bold": True, "bg_color": "#DCE6F1", "align": "center", "text_wrap": True}),
            "text": f({**base, "text_wrap": True}),
            "center": f({**base, "align": "center"}),
            "cv": f({**base, "num_format": "0.000"}),
            "v3": f({**base, "num_format": "#,##0.000"}),
            "v2": f({**base, "num_format": "#,##0.00"}),
            "v1": f({**base, "num_format": "#,##0.0"}),
            "v0": f({**base, "num_format": "#,##0"}),
            "pct": f({**base, "num_format": "0.0%"}),
            "ok": f({**base, "align": "center", "font_color": "#1B5E20", "bg_color": "#E8F5E9"}),
            "bad": f({**base, "align": "center", "font_color": "#B71C1C", "bg_color": "#FDECEA"}),
            "na": f({**base, "align": "center", "font_color": "#616161", "bg_color": "#F2F2F2"}),
        }

    def sheet(self, name: str, widths: Sequence[float]):
        ws = self.wb.add_worksheet(name)
        for j, w in enumerate(widths):
            ws.set_column(j, j, w)
        return ws

    def put(self, ws, r: int, c: int, v: Any, fmt: str = "text") -> None:
        if v is None:
            ws.write_blank(r, c, None, self.f[fmt])
        elif isinstance(v, bool):
            ws.write_string(r, c, "是" if v else "否", self.f["center"])
        elif isinstance(v, (int, float)):
            ws.write_number(r, c, v, self.f[fmt if fmt != "text" else "v3"])
        else:
            ws.write_string(r, c, neutralise(str(v)), self.f[fmt])

    def row(self, ws, r: int, values: Sequence[Any], fmts: Sequence[str] | str = "text") -> None:
        for c, v in enumerate(values):
            self.put(ws, r, c, v, fmts if isinstance(fmts, str) else fmts[c])

    def close(self) -> None:
        self.wb.close()


def _vfmt(code: str) -> str:
    return "v2" if L.INDICATORS.get(code, ("", "", 3))[2] == 2 else "v3"


def _county_xlsx(path: Path, ctx: dict) -> None:
    b = _Book(path)
    title = f"{ctx['province_name']}{ctx['county_name']}（{ctx['county_code']}）{ctx['year']}年县域义务教育均衡发展监测"
    try:
        # -- 1. balance tables
        ws = b.sheet("校际均衡", [10, 10] + [14] * 9 + [16])
        ws.write_string(0, 0, title, b.f["title"])
        ws.write_string(1, 0, "一、义务教育学校校际间均衡状况（基本均衡，2012年办法）", b.f["sub"])
        r = 2
        b.row(ws, r, ["学段", "项目"] + [L.INDICATORS[c][0] for c in L.BASIC] + ["综合", "评估结论"], "head")
        ws.set_row(r, 45)
        r += 1
        for lv in ctx["basic"]:
            b.put(ws, r, 0, f"{lv['level_zh']}\n{lv['schools']}所", "text")
            b.put(ws, r, 1, "县平均值")
            for j, cell in enumerate(lv["cells"]):
                b.put(ws, r, 2 + j, cell["raw_value"], _vfmt(cell["code"]))
            b.put(ws, r, 10, "—", "center")
            b.put(ws, r + 1, 0, "", "text")
            b.put(ws, r + 1, 1, "差异系数")
            for j, cell in enumerate(lv["cells"]):
                b.put(ws, r + 1, 2 + j, cell["raw_cv"], "cv")
            b.put(ws, r + 1, 10, lv["composite"], "cv")
            verdict = _basic_verdict_zh(lv)
            ws.merge_range(r, 11, r + 1, 11, verdict, b.f[L.STATUS_CLASS.get(lv["verdict"], "na")])
            ws.merge_range(r, 0, r + 1, 0, f"{lv['level_zh']}（{lv['schools']}所）", b.f["center"])
            r += 2
        r += 1
        ws.write_string(r, 0, "二、资源配置（优质均衡，2017年办法）", b.f["sub"])
        r += 1
        b.row(ws, r, ["学段", "项目"] + [L.INDICATORS[c][0] for c in L.QUALITY] + ["评估结论"], "head")
        ws.set_row(r, 45)
        r += 1
        for lv in ctx["quality"]:
            labels = ["县平均值", "标准", "差异系数", "差异系数要求", "是否达标"]
            ws.merge_range(r, 0, r + 4, 0, f"{lv['level_zh']}（{lv['schools']}所）", b.f["center"])
            for k, lab in enumerate(labels):
                b.put(ws, r + k, 1, lab)
            for j, cell in enumerate(lv["cells"]):
                b.put(ws, r, 2 + j, cell["raw_value"], _vfmt(cell["code"]))
                b.put(ws, r + 1, 2 + j, cell["raw_standard"], _vfmt(cell["code"]))
                b.put(ws, r + 2, 2 + j, cell["raw_cv"], "cv")
                b.put(ws, r + 3, 2 + j, cell["raw_threshold"], "cv")
                b.put(ws, r + 4, 2 + j, L.STATUS.get(cell["meets"], "无数据"), L.STATUS_CLASS.get(cell["meets"], "na"))
            ws.merge_range(r, 9, r + 4, 9, _quality_verdict_zh(lv), b.f[L.STATUS_CLASS.get(lv["verdict"], "na")])
            r += 5
        ws.freeze_panes(3, 2)

        # -- 2. scorecard
        ws = b.sheet("优质均衡评估表", [8, 8, 52, 8, 14, 30, 36, 10])
        ws.write_string(0, 0, f"{title}：优质均衡评估（2017年办法）", b.f["title"])
        ws.write_string(1, 0, f"总体结论：{ctx['overall_zh']}；达标 {ctx['card_counts']['met']} 项，"
                              f"未达标 {ctx['card_counts']['not_met']} 项，无数据 {ctx['card_counts']['no_data']} 项，"
                              f"共 {ctx['card_total']} 项", b.f["sub"])
        b.row(ws, 2, ["部分", "编号", "评估内容", "学段", "数值", "说明", "要求", "结果"], "head")
        r = 3
        for part in ctx["card_parts"]:
            for it in part["items"]:
                level = next((lvz for code, lvz in L.LEVELS.items() if f"（{lvz}）" in it["name"]), "")
                is_cv = it["item"] in L.INDICATORS
                b.row(ws, r, [part["part_zh"], it["item"], it["name"], level,
                              it["raw_value"] if is_cv else it["value"], it["detail"], it["requirement"], it["status_zh"]],
                      ["text", "center", "text", "center", "cv" if is_cv else "center", "text", "text", it["cls"]])
                r += 1
        ws.freeze_panes(3, 0)

        # -- 3. trends
        ws = b.sheet("差异系数趋势", [10, 44, 8, 8, 12, 12, 14, 16])
        ws.write_string(0, 0, f"{title}：差异系数趋势", b.f["title"])
        b.row(ws, 2, ["指标", "名称", "学段", "年度", "差异系数", "标准", "年均变化", "预计达标年份"], "head")
        r = 3
        for t in ctx["trend_table"]:
            b.row(ws, r, [t["code"] if t["code"] != "composite" else "综合", t["name"], t["level_zh"], t["year"],
                          t["raw"]["cv"], t["raw"].get("cv_threshold"), t["raw"].get("cv_change_per_year"),
                          t["projected"]],
                  ["center", "text", "center", "center", "cv", "cv", "cv", "center"])
            r += 1
        r += 1
        ws.write_string(r, 0, "各年度差异系数", b.f["sub"])
        r += 1
        series = ctx["series"]
        if series:
            yrs = sorted({y for s in series for y, _ in s["points"]})
            b.row(ws, r, ["指标", "名称", "学段"] + [f"{y}年" for y in yrs], "head")
            r += 1
            for s in series:
                pts = dict(s["points"])
                b.row(ws, r, [s["code"], s["name"], s["level_zh"]] + [pts.get(y) for y in yrs],
                      ["center", "text", "center"] + ["cv"] * len(yrs))
                r += 1

        # -- 4. schools holding the county back
        ws = b.sheet("拖后腿学校", [8, 8, 40, 10, 12, 28, 12, 12, 10])
        ws.write_string(0, 0, f"{title}：影响均衡的学校", b.f["title"])
        r = 2
        if ctx["has_shares"]:
            ws.write_string(1, 0, "各指标差异系数中学校所占份额（份额 = 该校学生权重 × 偏离县均值的平方 ÷ 加权方差）", b.f["sub"])
            b.row(ws, r, ["学段", "指标", "名称", "差异系数", "县平均值", "学校", "该校数值", "偏离方向", "份额"], "head")
            r += 1
            for h in ctx["holders"]:
                for s in h["schools"]:
                    b.row(ws, r, [h["level_zh"], h["code"], h["name"], h["raw_cv"], h["raw_county_value"], s["name"],
                                  s["raw_value"], s["direction"], s["share"]],
                          ["center", "center", "text", "cv", _vfmt(h["code"]), "text", _vfmt(h["code"]), "center", "pct"])
                    r += 1
            r += 1
        ws.write_string(r, 0, "未达到“至少6项达标、未达标项不低于标准85%”的学校", b.f["sub"])
        r += 1
        b.row(ws, r, ["学段", "城乡", "学校", "学校标识码", "达标项数", "未达标指标（数值/标准）", "最低达标比例", "认定"], "head")
        r += 1
        for f in ctx["failing"]:
            b.row(ws, r, [f["level_zh"], f["urban_rural"], f["name"], f["code"], f["met"], f["missed"],
                          f["raw_lowest"], f["verdict"]],
                  ["center", "center", "text", "text", "v0", "text", "pct", "bad"])
            r += 1

        # -- 5. gaps
        ws = b.sheet("达标缺口", [8, 8, 44, 14, 14, 10, 30, 14])
        ws.write_string(0, 0, f"{title}：距2017年标准的缺口（缺什么补什么）", b.f["title"])
        b.row(ws, 2, ["学段", "指标", "名称", "未达标学校数", "缺口合计", "单位"], "head")
        r = 3
        for g in ctx["gaps"]:
            b.row(ws, r, [g["level_zh"], g["code"], g["name"], g["schools_below"], g["raw_gap"], g["unit"]],
                  ["center", "center", "text", "v0", "v0" if g["unit"] == "元" else "v1", "center"])
            r += 1
        r += 1
        ws.write_string(r, 0, "分校缺口", b.f["sub"])
        r += 1
        b.row(ws, r, ["学段", "指标", "学校", "该校数值", "标准", "缺口", "学校标识码", "单位"], "head")
        r += 1
        for g in ctx["school_gaps"]:
            b.row(ws, r, [g["level_zh"], g["indicator"], g["name"], g["raw_value"], g["raw_standard"], g["raw_gap"],
                          g["code"], g["unit"]],
                  ["center", "center", "text", _vfmt(g["indicator"]), _vfmt(g["indicator"]),
                   "v0" if g["unit"] == "元" else "v1", "text", "center"])
            r += 1

        # -- 6. Theil
        if ctx["theil"]:
            ws = b.sheet("城乡差距", [8, 8, 44, 12, 12, 12, 14] + [12] * 6)
            ws.write_string(0, 0, f"{title}：城乡差距（泰尔指数分解）", b.f["title"])
            b.row(ws, 2, ["学段", "指标", "名称", "泰尔指数", "城乡间", "城乡内", "城乡间占比"]
                  + [f"{z}{k}" for z in L.URBAN_RURAL.values() for k in ("资源占比", "学生占比")], "head")
            for i, t in enumerate(ctx["theil"], start=3):
                shares = [x for g in t["groups"] for x in ((g["resource"], g["students"]) if g else (None, None))]
                b.row(ws, i, [t["level_zh"], t["code"], t["name"], t["t"], t["between"], t["within"],
                              t["between_share"], *shares],
                      ["center", "center", "text", "v3", "v3", "v3", "pct"] + ["pct"] * 6)

        # -- notes
        ws = b.sheet("说明", [100])
        lines = [
            title,
            f"生成时间：{ctx['generated']}",
            "差异系数：按在校生数加权的总体差异系数（县平均值 = 资源总量 ÷ 学生总数），保留三位小数。",
            "基本均衡：综合差异系数 = 八项指标差异系数的算术平均；小学 ≤ 0.65、初中 ≤ 0.55 为达标（以仓库配置为准）。",
            "优质均衡资源配置：七项指标差异系数小学 ≤ 0.50、初中 ≤ 0.45，且每所学校至少6项达标、余项不低于标准的85%。",
            "缺口：每所未达标学校（标准 − 数值）× 在校生数（“每百名学生”指标再 ÷ 100），按县、学段汇总。",
            *ctx["notes"],
        ]
        for i, line in enumerate(lines):
            ws.write_string(i, 0, neutralise(line), b.f["title"] if i == 0 else b.wb.add_format({"text_wrap": True}))
    finally:
        b.close()


def _num(s: str) -> Any:
    try:
        return float(s)
    except (TypeError, ValueError):
        return s


def _basic_verdict_zh(lv: dict) -> str:
    thr = L.fmt_threshold(lv["threshold"]) if lv["threshold"] is not None else "标准"
    return {
        "met": f"综合差异系数 {L.fmt_cv(lv['composite'])} ≤ {thr}，达到基本均衡",
        "not_met": f"综合差异系数 {L.fmt_cv(lv['composite'])} > {thr}，未达到基本均衡",
    }.get(lv["verdict"], "数据不全，无法认定")


def _quality_verdict_zh(lv: dict) -> str:
    cv_part = {"met": "七项差异系数均达标", "not_met": "有差异系数未达标"}.get(lv["cv_verdict"], "差异系数数据不全")
    sch = f"学校达标 {lv['compliant']}/{lv['compliance_total']} 所"
    head = {"met": "达到", "not_met": "未达到"}.get(lv["verdict"], "暂不能认定")
    return f"{head}资源配置要求：{cv_part}；{sch}"


# ================================================================== province summary


def province_context(con: duckdb.DuckDBPyConnection, year: int, province: str | None) -> dict[str, Any]:
    ranked, from_mart = D.ranking(con, year, province)
    if not ranked:
        raise D.ReportError(f"数据仓库中没有 {year} 年{('（' + L.province_name(province) + '）') if province else ''}的县级数据")
    prev, _ = D.ranking(con, year - 1, province)
    prev_by = {r["county_code"]: r for r in prev}
    names = D.county_names(con)
    bal = {}
    if D.has(con, "balance", "county_code", "year", "level"):
        for r in D.rows(con, f"SELECT * FROM {D.TABLES['balance']} WHERE year = ?", [year]):
            bal[(r["county_code"], r["level"])] = r
    thresholds: dict[str, dict] = {}
    verdicts = D.overall_verdicts(con, year, province)
    counties = []
    rank_key = ("province_rank", "progress_rank", "rank") if province else ("progress_rank", "rank")
    for r in sorted(ranked, key=lambda r: D.pick(r, *rank_key) or 0):
        code = r["county_code"]
        overall = verdicts.get(code, "no_data")
        p = prev_by.get(code)
        levels = {}
        for lv in L.LEVELS:
            b = bal.get((code, lv))
            if b is None:
                continue
            if code[:2] not in thresholds:
                thresholds[code[:2]] = D.composite_thresholds(con, code)
            comp = D.pick(b, "composite_cv", "basic_composite_cv", "composite")
            thr = D.pick(b, "composite_threshold") or thresholds[code[:2]].get(lv)
            met = D.pick(b, "basic_met", "basic_verdict", "meets_composite", "composite_met")
            if met is None and comp is not None and thr is not None:
                met = comp <= thr
            levels[lv] = {
                "composite": L.fmt_cv(comp), "basic": D.verdict(met),
                "resource": D.verdict(D.pick(b, "quality_resource_met", "quality_resource_verdict",
                                             "resource_verdict", "resource_met")),
            }
        rank = D.pick(r, *rank_key)
        prev_rank = D.pick(p, *rank_key) if p else None
        items_met = D.pick(r, "items_met")
        items_total = D.pick(r, "items_total")
        prev_met = D.pick(p, "items_met") if p else None
        counties.append({
            "rank": rank, "code": code, "name": names.get(code, code), "province": L.province_name(code),
            "items_met": items_met, "items_total": items_total,
            "ratio": D.pick(r, "mean_cv_ratio", "mean_cv_to_threshold"), "ratio_zh": L.fmt_cv(D.pick(r, "mean_cv_ratio", "mean_cv_to_threshold")),
            "items_change": None if prev_met is None or items_met is None else items_met - prev_met,
            "rank_change": None if prev_rank is None or rank is None else prev_rank - rank,
            "levels": levels, "overall": overall, "overall_zh": L.OVERALL.get(overall, L.STATUS.get(overall, overall)),
        })
    chart = None
    with_ratio = [c for c in counties if c["ratio"] is not None]
    part = ""
    if len(with_ratio) > 2 * CHART_COUNTIES:  # a national summary: the first and the last counties only
        with_ratio = with_ratio[:CHART_COUNTIES] + with_ratio[-CHART_COUNTIES:]
        part = f"（排名前 {CHART_COUNTIES} 位与后 {CHART_COUNTIES} 位）"
    if with_ratio:
        chart = ranking_svg(
            f"{year}年各县资源配置差异系数与标准之比{part}（均值，越低越均衡）",
            [f"{c['rank']}. {c['name']}" for c in with_ratio], [c["ratio"] for c in with_ratio],
            "七项指标、两个学段差异系数 ÷ 标准 的平均值", reference=1.0,
        )
    scope = L.province_name(province) if province else "全部县（区）"
    return {
        "year": year, "province": province, "scope": scope, "counties": counties, "chart": chart,
        "from_mart": from_mart, "generated": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "has_prev": bool(prev), "levels": L.LEVELS,
        "counts": {k: sum(1 for c in counties if c["overall"] == k) for k in ("met", "not_met", "incomplete")},
    }


def _province_code(province: str | None) -> str | None:
    if province is None or not str(province).strip():
        return None
    p = str(province).strip()
    if re.fullmatch(r"\d{2}(\d{4})?", p):
        return p[:2]
    for code, name in L.PROVINCES.items():
        if p in (name, name.rstrip("省市"), name[:2]) or (len(p) >= 2 and name.startswith(p)):
            return code
    raise D.ReportError(f"无法识别的省份：{province!r}（请用两位代码如 43，或省名如 湖南省）")


def render_province_report(
    warehouse: Path, year: int, out_dir: Path = DEFAULT_OUT, province: str | None = None
) -> tuple[Path, Path]:
    """Counties of ``year`` (optionally one province) ranked by progress; HTML + XLSX under ``out_dir``."""
    prov = _province_code(province)
    con = connect_read_only(Path(warehouse))
    try:
        ctx = province_context(con, int(year), prov)
    finally:
        con.close()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"province_{prov or 'all'}_{year}"
    html_path, xlsx_path = out_dir / f"{stem}.html", out_dir / f"{stem}.xlsx"
    html_path.write_text(_env().get_template("province.html.j2").render(**ctx), encoding="utf-8")
    b = _Book(xlsx_path)
    try:
        ws = b.sheet("县域排名", [6, 10, 28, 12, 12, 14, 12, 12, 12, 12, 12, 12, 18])
        ws.write_string(0, 0, f"{ctx['scope']}{year}年县域义务教育优质均衡进展排名", b.f["title"])
        ws.write_string(1, 0, "排序：先按2017年办法四部分达标项数（多者在前），再按七项资源指标两个学段差异系数与标准之比的平均值（低者在前）", b.f["sub"])
        b.row(ws, 2, ["排名", "代码", "县（区）", "达标项数", "评估项数", "差异系数/标准", "较上年项数",
                      "较上年名次", "小学综合CV", "初中综合CV", "小学基本均衡", "初中基本均衡", "优质均衡结论"], "head")
        for i, c in enumerate(ctx["counties"], start=3):
            lv = c["levels"]
            b.row(ws, i, [c["rank"], c["code"], c["name"], c["items_met"], c["items_total"], c["ratio"],
                          c["items_change"], c["rank_change"],
                          _num(lv.get("primary", {}).get("composite")), _num(lv.get("junior", {}).get("composite")),
                          L.STATUS.get(lv.get("primary", {}).get("basic"), "无数据"),
                          L.STATUS.get(lv.get("junior", {}).get("basic"), "无数据"), c["overall_zh"]],
                  ["v0", "text", "text", "v0", "v0", "cv", "v0", "v0", "cv", "cv",
                   L.STATUS_CLASS.get(lv.get("primary", {}).get("basic"), "na"),
                   L.STATUS_CLASS.get(lv.get("junior", {}).get("basic"), "na"),
                   {"met": "ok", "not_met": "bad"}.get(c["overall"], "na")])
        ws.freeze_panes(3, 3)
    finally:
        b.close()
    return html_path, xlsx_path


# ================================================================== CLI




def main_report(argv: Sequence[str] | None = None) -> int:
    p = ArgParser(
        prog="junheng report",
        description="生成县域义务教育均衡发展报告（HTML 网页 + Excel 工作簿）；不给 --county 则生成全省（全部县）进展排名。",
    )
    p.add_argument("--county", default=None, help="县级行政区划代码（6位）")
    p.add_argument("--year", type=int, default=None, help="统计年度（默认：仓库中最新年度）")
    p.add_argument("--province", default=None, help="省份（两位代码或省名），仅用于全省汇总")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"输出目录（默认 {DEFAULT_OUT}）")
    p.add_argument("--warehouse", type=Path, default=None, help="数据仓库文件（默认同 junheng query）")
    args = parse_or_exit_code(p, argv)
    if isinstance(args, int):
        return args
    warehouse = args.warehouse or default_warehouse()
    try:
        year = args.year
        if year is None:
            con = connect_read_only(warehouse)
            try:
                ys = D.years(con)
            finally:
                con.close()
            if not ys:
                raise D.ReportError("数据仓库中没有任何年度的指标数据")
            year = ys[-1]
        if args.county:
            html, xlsx = render_county_report(warehouse, args.county, year, args.out)
        else:
            html, xlsx = render_province_report(warehouse, year, args.out, args.province)
    except FileNotFoundError as e:
        print(f"junheng report: 错误: {e}", file=sys.stderr)
        return 1
    except D.ReportError as e:
        print(f"junheng report: 错误: {e}", file=sys.stderr)
        return 1
    except duckdb.Error as e:
        print(f"junheng report: 读取数据仓库失败: {e}", file=sys.stderr)
        return 1
    print(f"报告网页: {html}")
    print(f"Excel 工作簿: {xlsx}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main_report())
