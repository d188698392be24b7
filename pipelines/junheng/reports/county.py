"""`junheng report`: the county report (HTML + XLSX, in Chinese) and the province summary.

The pages select and lay out mart rows (reports/data.py names every column they read); every figure, verdict, trend,
projection, ranking and gap is computed by the dbt marts. The HTML page is self-contained: inline CSS, charts as
inline SVG (matplotlib, glyphs drawn as paths with a CJK font), no external URL. The XLSX workbook holds the same
tables with typed cells (numbers as numbers with number formats, text as plain strings: a string cell is never
evaluated, so it needs no formula guard), one table per sheet with a frozen header row and an autofilter.
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
from junheng.reports.query import connect_read_only, default_warehouse

TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_OUT = Path("reports_out")
TOP_SCHOOLS = 3  # schools listed per indicator as influencing its CV most
SCHOOL_GAPS_PER_INDICATOR = 3  # largest per-school gaps shown on the page per level and indicator (all in the workbook)
CHART_COUNTIES = 20  # a province chart with more than twice this many counties shows the first and last ones
FAILING_ROWS = 30  # non-compliant schools listed on the page (all in the workbook)
PLAN_TOP = 10  # largest additions of the plan shown on the page (all in the workbook)
PLAN_LEVEL_ZH = {"whole_school": "全校", "primary": "小学部分", "junior": "初中部分"}
REASON_SCHOOLS = 3  # schools named per item in a reason sentence (all in the workbook)

BOOL_FIELDS = {c.name for c in RETURN_COLUMNS if c.kind == "bool"}
PERCENT_FIELDS = {c.name for c in RETURN_COLUMNS if c.name.endswith(("_rate", "_share"))} - {
    "monitoring_between_school_rate"}
YUAN_FIELDS = {"special_school_funding_per_student"}
SCHOOL_ITEMS = ("QS", "G03", "G04", "G05")  # items judged school by school (school_item_failures)
TREND_NOTE = ("年均变化（趋势）与预计达标年份按剔除数据待核实学校后的差异系数计算：最近五个有数据年度（至少三年）两两年度间"
              "变化率的中位数（泰尔—森斜率），不受个别年份填报错误左右；预计达标年份为过中位点、以该斜率延伸的直线首次"
              "不高于标准的年份。最近一年变化为与上一个有数据年度之差。数据待核实的学校见“九、数据待核实学校”。")


def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(cv=L.fmt_cv, pct=L.fmt_pct, num=L.fmt_num)
    env.globals.update(L=L)
    return env


def _status(v: Any) -> str:
    """A mart boolean verdict as met / not_met / no_data (NULL: cannot be judged)."""
    return "no_data" if v is None else ("met" if v else "not_met")


# ================================================================== county: data -> context


def county_context(con: duckdb.DuckDBPyConnection, county_code: str, year: int) -> dict[str, Any]:
    D.check_marts(con)
    cv_rows = D.indicator_cv(con, county_code, year)
    if not cv_rows:
        have = [str(y) for y in D.years(con)]
        raise D.ReportError(
            f"数据仓库中没有县级行政区划代码 {county_code} 在 {year} 年的指标数据"
            + (f"（仓库中的年度：{'、'.join(have)}）" if have else "")
        )
    county = D.counties(con).get(county_code, {})
    county_name = D.county_name(con, county_code, year) or county_code
    cv = {(r["level"], r["method"], r["indicator"]): r for r in cv_rows}
    bal = D.balance(con, county_code, year)
    std = D.standards(con, county_code, year)
    comp_rows = D.compliance(con, county_code, year)
    schools = D.schools(con, county_code, year)
    snames = {code: r["school_name"] or code for code, r in schools.items()}
    levels = [lv for lv in L.LEVELS if any(k[0] == lv for k in cv)]

    # ---- 1. inter-school balance, 2012 method (county-report layout) and 2017 resource allocation
    basic, quality = [], []
    for lv in levels:
        b = bal.get(lv, {})
        ind = [cv.get((lv, "basic", c), {}) for c in L.BASIC]
        basic.append({
            "level": lv, "level_zh": L.LEVELS[lv], "schools": b.get("basic_schools") or 0,
            "students": b.get("basic_students") or 0,
            "cells": [{"code": c, "value": L.fmt_value(c, r.get("county_value")), "cv": L.fmt_cv(r.get("cv")),
                       "raw_value": r.get("county_value"), "raw_cv": r.get("cv")}
                      for c, r in zip(L.BASIC, ind)],
            "composite": b.get("composite_cv"), "threshold": b.get("composite_threshold"),
            "verdict": _status(b.get("basic_met")),
            "composite_clean": b.get("composite_cv_clean"), "provisional": bool(b.get("basic_provisional")),
            "clean_differs": _differs(b.get("composite_cv"), b.get("composite_cv_clean")),
        })
        q_ind = [cv.get((lv, "quality", c), {}) for c in L.QUALITY]
        quality.append({
            "level": lv, "level_zh": L.LEVELS[lv],
            "schools": b.get("schools_total") or 0,
            "total_schools": next((r["total_schools"] for r in q_ind if r.get("total_schools")), None),
            "students": next((r["students"] for r in q_ind if r.get("students")), 0),
            "total_students": next((r["total_students"] for r in q_ind if r.get("total_students")), None),
            "cells": [{
                "code": c, "value": L.fmt_value(c, r.get("county_value")), "standard": L.fmt_standard(c, std.get((lv, c))),
                "cv": L.fmt_cv(r.get("cv")), "threshold": L.fmt_threshold(r.get("cv_threshold")),
                "meets": _status(r.get("meets_cv")), "provisional": bool(r.get("provisional")),
                "raw_value": r.get("county_value"), "raw_cv": r.get("cv"), "raw_threshold": r.get("cv_threshold"),
                "raw_standard": std.get((lv, c)),
            } for c, r in zip(L.QUALITY, q_ind)],
            "compliant": b.get("schools_compliant") or 0, "compliance_total": b.get("schools_total") or 0,
            "compliance_open": b.get("schools_undetermined") or 0,
            "not_compliant": b.get("schools_not_compliant") or 0,
            "cv_verdict": _status(b.get("quality_cv_met")), "verdict": _status(b.get("quality_resource_met")),
            "provisional": bool(b.get("quality_provisional")),
            "composite_info": b.get("quality_composite_cv"),
        })

    # ---- 2. scorecard and the overall verdict, with the reasons
    card = D.scorecard(con, county_code, year)
    v = D.verdict(con, county_code, year) or {}
    failures = D.item_failures(con, county_code, year)
    overall = v.get("verdict") or "incomplete"
    card_parts: list[dict] = []
    for part, part_zh in L.PARTS.items():
        items = [r for r in card if r["part"] == part]
        if items:
            card_parts.append({
                "part": part, "part_zh": part_zh, "status": v.get(f"{part}_part"),
                "met": sum(1 for r in items if r["status"] == "met"), "total": len(items),
                "items": [_card_item(r) for r in items],
            })
    counts = {"met": v.get("items_met", 0), "not_met": v.get("items_not_met", 0), "no_data": v.get("items_no_data", 0)}
    reasons = _reasons(card, failures, snames, overall)

    # ---- 3. trends (official and clean CVs by year; trend and projection of the clean series, from the mart)
    trend_rows = D.trend(con, county_code, year)
    charts, trend_table, series_rows = [], [], []
    for method, codes in (("quality", L.QUALITY), ("basic", ["composite"])):
        for code in codes:
            series, thresholds, clean = {}, {}, {}
            for lv in levels:
                pts = [r for r in trend_rows if r["method"] == method and r["indicator"] == code and r["level"] == lv]
                if not pts:
                    continue
                series[lv] = [(int(r["year"]), r["cv"]) for r in pts]
                if any(_differs(r["cv"], r["cv_clean"]) for r in pts):
                    clean[lv] = [(int(r["year"]), r["cv_clean"]) for r in pts]
                series_rows.append({"code": "综合" if code == "composite" else code, "name": _ind_name(code),
                                    "level_zh": L.LEVELS[lv], "points": series[lv], "clean": dict(clean.get(lv, []))})
                thresholds[lv] = pts[-1]["cv_threshold"]
                trend_table.append(_trend_row(code, lv, pts))
            if series:
                title = f"{code if code != 'composite' else '基本均衡'} {_ind_name(code)}"
                summary = [f"{t['level_zh']} {t['cv']}（趋势 {t['slope']}，{t['projected']}）"
                           for t in trend_table if t["code"] == code]
                charts.append({"code": code, "title": title, "summary": summary, "has_clean": bool(clean),
                               "svg": cv_trend_svg(title, series, thresholds, L.LEVELS, clean)})

    # ---- 4. schools that influence the CVs most; schools failing the school rule
    school_values = D.school_quality_values(con, county_code, year)
    holders = []
    share_rows = D.shares(con, county_code, year)
    for lv in levels:
        for code in L.QUALITY:
            rs = [r for r in share_rows if r["level"] == lv and r["indicator"] == code and r["share"]
                  and r["share_rank"] <= TOP_SCHOOLS]
            c = cv.get((lv, "quality", code), {})
            holders.append({
                "level_zh": L.LEVELS[lv], "code": code, "name": L.INDICATORS[code][0],
                "cv": L.fmt_cv(c.get("cv")), "meets": _status(c.get("meets_cv")),
                "county_value": L.fmt_value(code, c.get("county_value")), "raw_cv": c.get("cv"),
                "raw_county_value": c.get("county_value"),
                "schools": [{"name": snames.get(r["school_code"], r["school_code"]), "code": r["school_code"],
                             "share": r["share"], "share_zh": L.fmt_pct(r["share"]),
                             "value": L.fmt_value(code, r["value"]), "raw_value": r["value"],
                             "direction": "偏高" if r["value"] > r["county_value"] else "偏低"} for r in rs],
            })
    missed: dict[tuple[str, str], list[dict]] = {}
    for r in school_values:
        if r["meets"] is False:
            missed.setdefault((r["school_code"], r["level"]), []).append(r)
    failing = []
    for r in comp_rows:
        if r["compliant"] is True:
            continue
        miss = sorted(missed.get((r["school_code"], r["level"]), []), key=lambda m: m["indicator"])
        failing.append({
            "name": snames.get(r["school_code"], r["school_code"]), "code": r["school_code"],
            "level_zh": L.LEVELS.get(r["level"], r["level"]),
            "urban_rural": L.URBAN_RURAL.get(r["urban_rural"], ""),
            "met": r["indicators_met"], "lowest": L.fmt_pct(r["lowest_share_missed"]),
            "raw_lowest": r["lowest_share_missed"],
            "missed": "；".join(
                f"{m['indicator']} {L.fmt_value(m['indicator'], m['value'])}/{L.fmt_standard(m['indicator'], m['standard'])}"
                for m in miss),
            "verdict": "无法判定" if r["compliant"] is None else "未达标",
            "flagged": bool(r["warning_flagged"]),
        })
    failing.sort(key=lambda f: (f["met"] if f["met"] is not None else 99, f["raw_lowest"] or 0, f["code"]))
    failing_dist = []
    for lv in levels:
        lv_rows = [r for r in comp_rows if r["level"] == lv]
        if lv_rows:
            failing_dist.append({
                "level_zh": L.LEVELS[lv],
                "by_met": [sum(1 for r in lv_rows if r["compliant"] is not True and r["indicators_met"] == k)
                           for k in range(8)],
                "compliant": sum(1 for r in lv_rows if r["compliant"] is True),
            })

    # ---- 5. gap to standard in physical units
    gap_totals, gap_schools = D.gaps(con, county_code, year)
    gaps = []
    for lv in levels:
        for code in L.QUALITY:
            t = next((g for g in gap_totals if g["level"] == lv and g["indicator"] == code), None)
            unit = L.unit_zh(t["unit"] if t else None, code)
            gaps.append({
                "level_zh": L.LEVELS[lv], "code": code, "name": L.INDICATORS[code][0], "unit": unit,
                "schools_below": t["schools_below"] if t else 0,
                "gap": L.fmt_gap(unit, t["gap"] if t else 0.0), "raw_gap": t["gap"] if t else 0.0,
            })
    school_gaps = []
    for g in gap_schools:
        unit = L.unit_zh(g["unit"], g["indicator"])
        school_gaps.append({
            "name": snames.get(g["school_code"], g["school_code"]), "code": g["school_code"],
            "level_zh": L.LEVELS.get(g["level"], g["level"]), "indicator": g["indicator"],
            "value": L.fmt_value(g["indicator"], g["value"]), "standard": L.fmt_standard(g["indicator"], g["standard"]),
            "gap": L.fmt_gap(unit, g["gap"]), "unit": unit,
            "raw_value": g["value"], "raw_standard": g["standard"], "raw_gap": g["gap"],
        })
    top_gaps, seen = [], {}
    for g in school_gaps:  # sorted by level, indicator, gap descending
        k = (g["level_zh"], g["indicator"])
        seen[k] = seen.get(k, 0) + 1
        if seen[k] <= SCHOOL_GAPS_PER_INDICATOR:
            top_gaps.append(g)

    # ---- 7. what it takes: the least-cost plan (spec §6; marts.investment_plan*)
    plan_summary, plan_rows = D.plan(con, county_code, year)
    plan_needed = not all(b["quality_resource_met"] for b in D.balance(con, county_code, year).values())
    plan = None
    if plan_summary is not None:
        ps = plan_summary
        categories = [
            ("高于规定学历教师", ps["teachers_above_degree_added"], "人", None),
            ("县级以上骨干教师", ps["backbone_teachers_added"], "人", None),
            ("体育、艺术专任教师", ps["pe_art_teachers_added"], "人", None),
            ("教师人员经费（一年）", None, None, ps["teachers_cost"]),
            ("教学及辅助用房", ps["teaching_aux_area_m2_added"], "平方米", ps["teaching_aux_area_cost"]),
            ("体育运动场馆", ps["sports_area_m2_added"], "平方米", ps["sports_area_cost"]),
            ("教学仪器设备", ps["equipment_yuan_added"], "元", ps["equipment_yuan_added"]),
            ("网络多媒体教室", ps["multimedia_classrooms_added"], "间", ps["multimedia_classrooms_cost"]),
        ]
        plan = {
            "status": ps["status"], "status_zh": ps["status_zh"], "verified": ps["verified"],
            "explanation": ps["explanation_zh"], "solver": ps["solver"],
            "cost_total": ps["cost_total"], "cost_capital": ps["cost_capital"], "cost_annual": ps["cost_annual"],
            "lower_bound": ps["lower_bound"], "gap": ps["gap"], "schools": ps["schools_with_additions"],
            "flagged_parts": ps["flagged_parts"], "planned_at": ps["planned_at"],
            "categories": [{"name": n, "amount": a, "unit": u, "cost": c} for n, a, u, c in categories
                           if (a or c)],
            "additions": [{
                "code": r["school_code"], "name": r["school_name"] or r["school_code"],
                "level_zh": PLAN_LEVEL_ZH.get(r["level"], r["level"]), "item": r["item_name_zh"],
                "amount": r["amount"], "unit": r["unit_zh"], "unit_cost": r["unit_cost"], "cost": r["cost"],
                "kind_zh": "一年人员经费" if r["cost_kind"] == "annual" else "一次性投入",
            } for r in plan_rows],
        }

    # ---- 6. urban / town / rural inequality (Theil-T decomposition)
    theil_rows = []
    t_rows, g_rows = D.theil(con, county_code, year)
    for lv in levels:
        for code in L.QUALITY:
            t = next((r for r in t_rows if r["level"] == lv and r["indicator"] == code), None)
            if t is None:
                continue
            groups = {r["urban_rural"]: r for r in g_rows if r["level"] == lv and r["indicator"] == code}
            T, between = t["theil_t"], t["theil_between"]
            theil_rows.append({
                "level_zh": L.LEVELS[lv], "code": code, "name": L.INDICATORS[code][0],
                "t": T, "between": between, "within": t["theil_within"],
                "between_share": (between / T) if T and between is not None else None,
                "groups": [{"zh": L.URBAN_RURAL[g], "resource": groups[g]["resource_share"],
                            "students": groups[g]["student_share"]} if g in groups else None
                           for g in L.URBAN_RURAL],
            })

    # ---- 8. schools whose flags change a figure (every year the trend charts show)
    flagged = _flagged_rows(D.flagged_impact(con, county_code, year), D.school_names(con, county_code, year))

    return {
        "county_code": county_code, "county_name": county_name,
        "province_name": county.get("province_name") or "", "prefecture_name": county.get("prefecture_name") or "",
        "year": year, "generated": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "basic": basic, "quality": quality, "indicators": L.INDICATORS, "BASIC": L.BASIC, "QUALITY": L.QUALITY,
        "card_parts": card_parts, "card_counts": counts, "card_total": v.get("items_total", len(card)),
        "overall": overall, "overall_zh": L.OVERALL.get(overall, overall), "reasons": reasons,
        "provisional": bool(v.get("provisional")), "overall_clean_zh": L.OVERALL.get(v.get("verdict_clean"), ""),
        "charts": charts, "trend_table": trend_table, "series": series_rows, "trend_note": TREND_NOTE,
        "holders": holders, "failing": failing, "failing_rows": FAILING_ROWS, "failing_dist": failing_dist,
        "gaps": gaps, "school_gaps": school_gaps, "top_school_gaps": top_gaps,
        "gaps_per_indicator": SCHOOL_GAPS_PER_INDICATOR,
        "theil": theil_rows, "flagged": flagged, "plan": plan, "plan_top": PLAN_TOP, "plan_needed": plan_needed,
        "verification": D.flag_status(con, county_code, year),
        "flagged_schools": len({(f["year"], f["code"]) for f in flagged}),
        "has_quality_composite": any(q["composite_info"] is not None for q in quality),
    }


def _differs(a: Any, b: Any) -> bool:
    """Whether the clean figure differs from the official one as printed (three decimals)."""
    if a is None and b is None:
        return False
    if a is None or b is None:
        return True
    return L.fmt_cv(a) != L.fmt_cv(b)


def _ind_name(code: str) -> str:
    return "综合差异系数" if code == "composite" else L.INDICATORS[code][0]


def _signed(x: Any) -> str:
    return L.DASH if x is None else f"{float(x):+.3f}".replace("-", "−")


def _trend_row(code: str, lv: str, pts: list[dict]) -> dict:
    last, first = pts[-1], next((r for r in pts if r["cv"] is not None), pts[0])
    change = _signed(last["cv_last_change"])
    if _differs(last["cv_last_change"], last["cv_clean_last_change"]):
        change += f"（剔除后 {_signed(last['cv_clean_last_change'])}）"
    slope = f"{_signed(last['trend_slope'])}/年" if last["trend_slope"] is not None else "不足三年"
    return {
        "code": code, "name": _ind_name(code), "level_zh": L.LEVELS[lv], "year": last["year"],
        "first_year": first["year"], "first_cv": L.fmt_cv(first["cv"]),
        "first_clean": L.fmt_cv(first["cv_clean"]) if _differs(first["cv"], first["cv_clean"]) else None,
        "cv": L.fmt_cv(last["cv"]),
        "cv_clean": L.fmt_cv(last["cv_clean"]) if _differs(last["cv"], last["cv_clean"]) else None,
        "threshold": L.fmt_threshold(last["cv_threshold"]),
        "change": change, "slope": slope,
        "window": (f"{last['trend_first_year']}–{last['year']}年，{last['trend_points']}年"
                   if last["trend_points"] else L.DASH),
        "projected": L.projection_zh(last["projection_status"], last["projected_year"]),
        "raw": last,
    }


def _flagged_rows(rows: list[dict], names: dict[str, str]) -> list[dict]:
    """One row per flag (year, school, rule, field) with every figure it changes."""
    grouped: dict[tuple, dict] = {}
    for r in rows:
        key = (r["year"], r["school_code"], r["rule_id"], r["field"])
        g = grouped.setdefault(key, {
            "year": r["year"], "code": r["school_code"], "name": names.get(r["school_code"], r["school_code"]),
            "rule_id": r["rule_id"], "rule": L.rule_zh(r["rule_id"]), "field": r["field"],
            "field_zh": L.field_zh(r["field"]), "unit": L.FIELD_UNITS.get(r["field"], ""),
            "raw_value": r["submitted_value"], "value": _plain_value(r["submitted_value"]),
            "expected": r["expected"] or "", "levels": set(), "effects": [], "decides": False,
        })
        g["levels"].add(r["level"])
        indicator = f"{L.LEVELS[r['level']]}{r['indicator']}"
        text = f"{indicator} 差异系数 {L.fmt_cv(r['cv'])}"
        if _differs(r["cv"], r["cv_clean"]):
            text += f"，剔除后 {L.fmt_cv(r['cv_clean'])}"
        else:
            text += "（剔除后不变）"
        if r["provisional"]:
            text += "（达标结论随之改变）"
            g["decides"] = True
        g["effects"].append(text)
    out = []
    for g in grouped.values():
        g["level_zh"] = "、".join(L.LEVELS[lv] for lv in L.LEVELS if lv in g["levels"])
        g["effect"] = "；".join(g["effects"])
        out.append(g)
    return out


def _plain_value(v: Any) -> str:
    if v is None:
        return "未填报"
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.4g}" if abs(v) < 1 else f"{v:,.2f}"


def _plain(v: float) -> str:
    return (f"{v:,.3f}" if abs(v) < 1 else f"{v:,.2f}").rstrip("0").rstrip(".")


def _field_value(field: str | None, v: Any) -> str:
    if v is None:
        return "未填报"
    if field in BOOL_FIELDS:
        return "是" if v else "否"
    if field in PERCENT_FIELDS:
        return _plain(float(v)) + "%"
    if field in YUAN_FIELDS:
        return f"{float(v):,.0f} 元"
    return _plain(float(v))


def _item_label(r: dict) -> str:
    item = r["item"]
    if item in L.INDICATORS:
        return f"{L.LEVELS.get(r['level'], '')}{item} {L.INDICATORS[item][0]}差异系数"
    if item == "QS":
        return f"{L.LEVELS.get(r['level'], '')}QS {r['name_zh']}"
    return f"{item} {r['name_zh']}"


def _card_name(r: dict) -> str:
    """The item's name as the scorecard table prints it beside its code."""
    level = f"（{L.LEVELS[r['level']]}）" if r["level"] in L.LEVELS else ""
    if r["item"] in L.INDICATORS:
        return f"{L.INDICATORS[r['item']][0]}差异系数{level}"
    return f"{r['name_zh'] or r['item']}{level}"


def _card_item(r: dict) -> dict:
    item, status, v = r["item"], r["status"], r["value"]
    if item in L.INDICATORS:
        value = L.fmt_cv(v)
        detail = (f"县平均值 {L.fmt_value(item, r['county_value'])}，标准 {L.fmt_standard(item, r['standard'])}，"
                  f"低于标准 {r['schools_failing']}/{r['schools_checked']} 所"
                  + (f"，未报 {r['schools_unknown']} 所" if r["schools_unknown"] else ""))
        requirement = f"差异系数 ≤ {L.fmt_threshold(r['cv_threshold'])}"
    elif item in SCHOOL_ITEMS:
        value = f"{int(v)} 所" if v is not None else L.DASH
        detail = (f"未达标 {r['schools_failing']} 所（共 {r['schools_checked']} 所）"
                  + (f"，{'无法判定' if item == 'QS' else '未报'} {r['schools_unknown']} 所" if r["schools_unknown"] else ""))
        requirement = r["requirement_zh"] or ""
    else:
        value = _field_value(r["field_1"], v) if (v is not None or status == "no_data") else L.DASH
        detail = (f"{L.field_zh(r['field_1'])} {_field_value(r['field_1'], v)}；"
                  f"{L.field_zh(r['field_2'])} {_field_value(r['field_2'], r['value_2'])}") if r["field_2"] else ""
        requirement = r["requirement_zh"] or ""
    return {
        "item": item, "level": r["level"], "level_zh": L.LEVELS.get(r["level"], ""), "name": _card_name(r),
        "label": _item_label(r),
        "value": value, "raw_value": v, "detail": detail, "requirement": requirement,
        "status": status, "status_zh": L.STATUS.get(status, status), "cls": L.STATUS_CLASS.get(status, "na"),
        "provisional": bool(r["provisional"]),
    }


def _schools_phrase(codes: list[str], names: dict[str, str]) -> str:
    shown = "、".join(names.get(c, c) for c in codes[:REASON_SCHOOLS])
    return shown + (f" 等 {len(codes)} 所" if len(codes) > REASON_SCHOOLS else "")


def _reasons(card: list[dict], failures: list[dict], names: dict[str, str], overall: str) -> list[str]:
    """Why the verdict is not met (or incomplete): every item not met, then the items without data, from the
    scorecard rows; for the items judged school by school, the schools (school_item_failures)."""
    if overall == "met":
        return []
    by_item: dict[tuple, list[str]] = {}
    for f in failures:
        by_item.setdefault((f["item"], f["level"], f["status"]), []).append(f["school_code"])
    out = []
    for r in card:
        if r["status"] != "not_met":
            continue
        it = _card_item(r)
        if r["item"] in L.INDICATORS:
            text = f"{it['label']} {it['value']}，高于标准 {L.fmt_threshold(r['cv_threshold'])}"
        elif r["item"] in SCHOOL_ITEMS:
            codes = by_item.get((r["item"], r["level"], "not_met"), [])
            text = f"{it['label']}：{len(codes)} 所学校未达到（{it['requirement']}）：{_schools_phrase(codes, names)}"
        elif r["field_2"]:
            text = f"{it['label']}：{it['detail']}，要求 {it['requirement']}"
        else:
            text = f"{it['label']} {it['value']}，要求 {it['requirement']}"
        out.append(f"{L.PARTS[r['part']][2:]}：{text}")
    no_data = [r for r in card if r["status"] == "no_data"]
    if no_data:
        parts = []
        for r in no_data:
            if r["item"] in SCHOOL_ITEMS:
                codes = by_item.get((r["item"], r["level"], "no_data"), [])
                parts.append(f"{_item_label(r)}（{len(codes)} 所学校无法判定：{_schools_phrase(codes, names)}）")
            else:
                parts.append(r["item"] if r["item"] not in L.INDICATORS else _item_label(r))
        out.append(f"无数据（未填报或无法判定）{len(no_data)} 项，不能认定：" + "、".join(parts))
    return out


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
    """xlsxwriter workbook with the report's formats. Cells are typed: numbers as number cells with a number format,
    text as string cells (xlsxwriter's write_string: never a formula, a URL or a number, so no guard character)."""

    HEADER_ROW = 2  # row 0: title, row 1: note, row 2: header, data from row 3

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
            "int": f({**base, "num_format": "0"}),
            "g": f({**base, "num_format": "General"}),
            "pct": f({**base, "num_format": "0.0%"}),
            "ok": f({**base, "align": "center", "font_color": "#1B5E20", "bg_color": "#E8F5E9"}),
            "bad": f({**base, "align": "center", "font_color": "#B71C1C", "bg_color": "#FDECEA"}),
            "na": f({**base, "align": "center", "font_color": "#616161", "bg_color": "#F2F2F2"}),
        }

    def put(self, ws, r: int, c: int, v: Any, fmt: str = "text") -> None:
        if v is None:
            ws.write_blank(r, c, None, self.f[fmt])
        elif isinstance(v, bool):
            ws.write_string(r, c, "是" if v else "否", self.f["center"])
        elif isinstance(v, (int, float)):
            ws.write_number(r, c, v, self.f[fmt if fmt not in ("text", "center") else "g"])
        else:
            ws.write_string(r, c, str(v), self.f[fmt])

    def table(self, name: str, title: str, note: str, header: Sequence[str], widths: Sequence[float],
              rows: Sequence[Sequence[Any]], fmts: Sequence[str], freeze_cols: int = 0):
        """One sheet, one table: title, note, header row (frozen, with an autofilter over the table)."""
        ws = self.wb.add_worksheet(name)
        for j, w in enumerate(widths):
            ws.set_column(j, j, w)
        ws.write_string(0, 0, title, self.f["title"])
        if note:
            ws.write_string(1, 0, note, self.f["sub"])
        h = self.HEADER_ROW
        for j, text in enumerate(header):
            ws.write_string(h, j, text, self.f["head"])
        for i, row in enumerate(rows, start=h + 1):
            for j, value in enumerate(row):
                fmt = fmts[j]
                if isinstance(fmt, tuple):  # per-row format: (column format, row index) resolved by the caller
                    fmt = fmt[i - h - 1]
                self.put(ws, i, j, value, fmt)
        ws.autofilter(h, 0, h + max(len(rows), 1), len(header) - 1)
        ws.freeze_panes(h + 1, freeze_cols)
        return ws

    def close(self) -> None:
        self.wb.close()


def _vfmt(code: str) -> str:
    return "v2" if L.INDICATORS.get(code, ("", "", 3))[2] == 2 else "v3"


def _county_xlsx(path: Path, ctx: dict) -> None:
    b = _Book(path)
    title = f"{ctx['province_name']}{ctx['county_name']}（{ctx['county_code']}）{ctx['year']}年县域义务教育均衡发展监测"
    try:
        # -- 1. the inter-school table as county reports publish it: rows 县平均值 / 差异系数 per level, columns B1-B8, 综合
        rows, fmts_by_row = [], []
        for lv in ctx["basic"]:
            rows.append([lv["level_zh"], "县平均值", *[c["raw_value"] for c in lv["cells"]], None,
                         lv["schools"], lv["students"], _basic_verdict_zh(lv)])
            fmts_by_row.append(["center", "center", *[_vfmt(c["code"]) for c in lv["cells"]], "center", "v0", "v0", "text"])
            rows.append([lv["level_zh"], "差异系数", *[c["raw_cv"] for c in lv["cells"]], lv["composite"],
                         lv["schools"], lv["students"], _basic_verdict_zh(lv)])
            fmts_by_row.append(["center", "center", *["cv"] * 8, "cv", "v0", "v0", "text"])
        b.table("校际均衡（基本均衡）", title, "一、义务教育学校校际间均衡状况（基本均衡，2012年办法）：综合差异系数为八项差异系数的算术平均",
                ["学段", "项目", *[L.INDICATORS[c][0] for c in L.BASIC], "综合", "学校数", "在校生数", "评估结论"],
                [8, 10] + [13] * 8 + [9, 8, 10, 44], rows, _by_row(fmts_by_row), freeze_cols=2)

        # -- 2. 2017 resource allocation, the same layout
        rows, fmts_by_row = [], []
        labels = [("县平均值", "raw_value", None), ("标准", "raw_standard", None), ("差异系数", "raw_cv", "cv"),
                  ("差异系数标准", "raw_threshold", "cv")]
        for lv in ctx["quality"]:
            for lab, key, fmt in labels:
                rows.append([lv["level_zh"], lab, *[c[key] for c in lv["cells"]], lv["schools"], _quality_verdict_zh(lv)])
                fmts_by_row.append(["center", "center", *[fmt or _vfmt(c["code"]) for c in lv["cells"]], "v0", "text"])
            rows.append([lv["level_zh"], "是否达标", *[L.STATUS.get(c["meets"], "无数据") for c in lv["cells"]],
                         lv["schools"], _quality_verdict_zh(lv)])
            fmts_by_row.append(["center", "center", *[L.STATUS_CLASS.get(c["meets"], "na") for c in lv["cells"]], "v0", "text"])
            if lv["composite_info"] is not None:
                rows.append([lv["level_zh"], "七项差异系数平均值（仅供参考）", lv["composite_info"], *[None] * 6,
                             lv["schools"], "省级要求列示，不作为评估条件"])
                fmts_by_row.append(["center", "center", "cv", *["center"] * 6, "v0", "text"])
        b.table("资源配置（优质均衡）", title, "二、资源配置（优质均衡，2017年办法）：七项差异系数均不高于标准，且每所学校至少6项达标、其余不低于标准的85%",
                ["学段", "项目", *[f"{L.INDICATORS[c][0]}（{c}）" for c in L.QUALITY], "学校数", "评估结论"],
                [8, 14] + [14] * 7 + [8, 44], rows, _by_row(fmts_by_row), freeze_cols=2)

        # -- 3. scorecard
        rows = [[p["part_zh"], it["item"], it["name"], it["level_zh"], it["raw_value"], it["detail"],
                 it["requirement"], it["status_zh"]] for p in ctx["card_parts"] for it in p["items"]]
        value_fmts = tuple("cv" if it["item"] in L.INDICATORS else "g" for p in ctx["card_parts"] for it in p["items"])
        status_fmts = tuple(it["cls"] for p in ctx["card_parts"] for it in p["items"])
        b.table("优质均衡评估表", f"{title}：优质均衡评估（2017年办法）",
                f"总体结论：{ctx['overall_zh']}；达标 {ctx['card_counts']['met']} 项，未达标 {ctx['card_counts']['not_met']} 项，"
                f"无数据 {ctx['card_counts']['no_data']} 项，共 {ctx['card_total']} 项" + _reasons_note(ctx),
                ["部分", "编号", "评估内容", "学段", "数值", "说明", "要求", "结果"],
                [16, 7, 50, 7, 12, 36, 40, 9], rows,
                ["text", "center", "text", "center", value_fmts, "text", "text", status_fmts])

        # -- 4. trends
        rows = [[t["code"] if t["code"] != "composite" else "综合", t["name"], t["level_zh"], t["first_year"],
                 t["raw"]["cv"], t["raw"]["cv_clean"], t["raw"]["cv_threshold"], t["raw"]["cv_last_change"],
                 t["raw"]["cv_clean_last_change"], t["raw"]["trend_slope"], t["raw"]["trend_points"],
                 t["raw"]["projected_year"], t["projected"]] for t in ctx["trend_table"]]
        b.table("差异系数趋势", f"{title}：差异系数趋势", ctx["trend_note"],
                ["指标", "名称", "学段", "起始年度", f"{ctx['year']}年差异系数", "剔除待核实学校后", "标准",
                 "最近一年变化", "最近一年变化（剔除后）", "年均变化（趋势，剔除后）", "趋势年数", "预计达标年份", "说明"],
                [8, 40, 7, 9, 12, 12, 8, 12, 12, 14, 8, 10, 22], rows,
                ["center", "text", "center", "int", "cv", "cv", "cv", "cv", "cv", "cv", "int", "int", "text"],
                freeze_cols=3)
        yrs = sorted({y for s in ctx["series"] for y, _ in s["points"]})
        rows = []
        for s in ctx["series"]:
            pts = dict(s["points"])
            rows.append([s["code"], s["name"], s["level_zh"], "官方", *[pts.get(y) for y in yrs]])
            if s["clean"]:
                rows.append([s["code"], s["name"], s["level_zh"], "剔除待核实学校后", *[s["clean"].get(y) for y in yrs]])
        b.table("各年度差异系数", f"{title}：各年度差异系数", "官方：按全部学校填报值；剔除待核实学校后：见“数据待核实学校”",
                ["指标", "名称", "学段", "口径", *[f"{y}年" for y in yrs]],
                [8, 40, 7, 16] + [9] * len(yrs), rows, ["center", "text", "center", "center"] + ["cv"] * len(yrs),
                freeze_cols=4)

        # -- 5. schools influencing the CVs; schools failing the school rule
        rows = [[h["level_zh"], h["code"], h["name"], h["raw_cv"], h["raw_county_value"], k + 1, s["name"], s["code"],
                 s["raw_value"], s["direction"], s["share"]]
                for h in ctx["holders"] for k, s in enumerate(h["schools"])]
        vf = tuple(_vfmt(h["code"]) for h in ctx["holders"] for _ in h["schools"])
        b.table("影响均衡的学校", f"{title}：影响均衡的学校",
                "各指标差异系数中份额最大的学校：份额 = 该校学生权重 × 偏离县平均值的平方 ÷ 加权方差",
                ["学段", "指标", "名称", "差异系数", "县平均值", "位次", "学校", "学校标识码", "该校数值", "偏离方向", "份额"],
                [7, 6, 40, 9, 11, 6, 30, 13, 11, 9, 8], rows,
                ["center", "center", "text", "cv", vf, "int", "text", "text", vf, "center", "pct"])
        rows = [[f["level_zh"], f["urban_rural"], f["name"], f["code"], f["met"], f["missed"], f["raw_lowest"],
                 f["verdict"], "是" if f["flagged"] else "否"] for f in ctx["failing"]]
        b.table("未达标学校", f"{title}：未达到学校达标要求的学校",
                "要求：七项指标至少6项达到标准，未达标的一项不低于标准的85%",
                ["学段", "城乡", "学校", "学校标识码", "达标项数", "未达标指标（数值/标准）", "最低达标比例", "认定", "数据待核实"],
                [7, 7, 32, 13, 9, 60, 11, 9, 10], rows,
                ["center", "center", "text", "text", "int", "text", "pct", "bad", "center"])

        # -- 6. gaps
        rows = [[g["level_zh"], g["code"], g["name"], g["schools_below"], g["raw_gap"], g["unit"]] for g in ctx["gaps"]]
        b.table("达标缺口", f"{title}：距2017年标准的缺口（缺什么补什么）",
                "每所未达标学校（标准 − 数值）× 在校生数（“每百名学生”指标再 ÷ 100），按学段汇总",
                ["学段", "指标", "名称", "未达标学校数", "缺口合计", "单位"], [7, 6, 44, 12, 14, 8], rows,
                ["center", "center", "text", "v0", tuple("v0" if g["unit"] == "元" else "v1" for g in ctx["gaps"]), "center"])
        rows = [[g["level_zh"], g["indicator"], g["name"], g["code"], g["raw_value"], g["raw_standard"], g["raw_gap"],
                 g["unit"]] for g in ctx["school_gaps"]]
        vf = tuple(_vfmt(g["indicator"]) for g in ctx["school_gaps"])
        b.table("分校缺口", f"{title}：分校缺口", "", ["学段", "指标", "学校", "学校标识码", "该校数值", "标准", "缺口", "单位"],
                [7, 6, 32, 13, 11, 9, 12, 7], rows,
                ["center", "center", "text", "text", vf, vf,
                 tuple("v0" if g["unit"] == "元" else "v1" for g in ctx["school_gaps"]), "center"])

        # -- 7. the least-cost plan: every addition
        if ctx["plan"] is not None:
            pl = ctx["plan"]
            note = (f"{pl['status_zh']}；投入总额 {L.fmt_num(pl['cost_total'])} 元（一次性投入 {L.fmt_num(pl['cost_capital'])} 元，"
                    f"教师一年人员经费 {L.fmt_num(pl['cost_annual'])} 元）；成本下界 {L.fmt_num(pl['lower_bound'])} 元，"
                    f"差距 {L.fmt_pct(pl['gap'], 2)}。{pl['explanation'] or ''}") if pl["cost_total"] is not None \
                else f"{pl['status_zh']}：{pl['explanation'] or ''}"
            rows = [[a["name"], a["code"], a["level_zh"], a["item"], a["amount"], a["unit"], a["unit_cost"], a["cost"],
                     a["kind_zh"]] for a in pl["additions"]]
            b.table("达标所需投入", f"{title}：达标所需投入（最低成本方案）", note,
                    ["学校", "学校标识码", "投入对象", "投入项目", "数量", "单位", "单价（元）", "金额（元）", "类别"],
                    [32, 13, 10, 20, 12, 8, 12, 14, 12], rows,
                    ["text", "text", "center", "text", "g", "center", "v0", "v0", "center"])

        # -- 8. Theil
        rows = []
        for t in ctx["theil"]:
            shares = [x for g in t["groups"] for x in ((g["resource"], g["students"]) if g else (None, None))]
            rows.append([t["level_zh"], t["code"], t["name"], t["t"], t["between"], t["within"], t["between_share"], *shares])
        b.table("城乡差距", f"{title}：城乡差距（泰尔指数分解）", "泰尔指数按学生加权，分解为城乡间与城乡内",
                ["学段", "指标", "名称", "泰尔指数", "城乡间", "城乡内", "城乡间占比"]
                + [f"{z}{k}" for z in L.URBAN_RURAL.values() for k in ("资源占比", "学生占比")],
                [7, 6, 40, 10, 10, 10, 11] + [11] * 6, rows,
                ["center", "center", "text", "v3", "v3", "v3", "pct"] + ["pct"] * 6)

        # -- 9. flagged schools
        rows = [[f["year"], f["name"], f["code"], f["level_zh"], f["rule"], f["rule_id"], f["field_zh"], f["unit"],
                 f["raw_value"], f["expected"], f["effect"]] for f in ctx["flagged"]]
        b.table("数据待核实学校", f"{title}：数据待核实学校",
                "填报值未通过合理性规则的学校：官方数据照常使用其填报值；“剔除后”的差异系数、趋势与预计达标年份不含这些学校",
                ["年度", "学校", "学校标识码", "学段", "规则", "规则编号", "指标字段", "单位", "填报值", "合理范围", "影响"],
                [7, 30, 13, 9, 48, 26, 24, 8, 12, 28, 70], rows,
                ["int", "text", "text", "center", "text", "text", "text", "center", "g", "text", "text"])

        v = ctx.get("verification")
        if v:  # issue 15: the county's answers to the query workbooks
            b.table("数据核查", f"{title}：数据核查进度", "待核实：未答复的质量标记；确认无误：县已确认数值属实；已更正：更正值已进入官方数据",
                    ["状态", "待核实", "确认无误", "已更正", "待核实学校", "最久待核实（天）"], [20, 10, 10, 10, 12, 16],
                    [["已办结" if v["settled"] else "尚有待核实问题", v["open_flags"], v["confirmed_flags"],
                      v["corrected_flags"], v["schools_open"], v["days_open"]]],
                    ["text", "int", "int", "int", "int", "int"])

        # -- notes
        ws = b.wb.add_worksheet("说明")
        ws.set_column(0, 0, 110)
        lines = [
            title,
            f"生成时间：{ctx['generated']}",
            "差异系数：按在校生数加权的总体差异系数（县平均值 = 资源总量 ÷ 学生总数），保留三位小数。",
            "基本均衡：综合差异系数 = 八项指标差异系数的算术平均；小学 ≤ 0.65、初中 ≤ 0.55 为达标（以仓库配置为准）。",
            "优质均衡资源配置：七项指标差异系数小学 ≤ 0.50、初中 ≤ 0.45，且每所学校至少6项达标、其余不低于标准的85%（QS）。",
            "优质均衡评估共41项：资源配置16项（两个学段各 Q1–Q7 与 QS）、政府保障程度15项、教育质量9项、社会认可度1项。",
            "缺口：每所未达标学校（标准 − 数值）× 在校生数（“每百名学生”指标再 ÷ 100），按县、学段汇总。",
            ctx["trend_note"],
        ]
        for i, line in enumerate(lines):
            ws.write_string(i, 0, line, b.f["title"] if i == 0 else b.wb.add_format({"text_wrap": True}))
    finally:
        b.close()


def _by_row(fmts_by_row: list[list[str]]) -> list:
    """Per-row formats (one list per row) as per-column tuples for _Book.table."""
    if not fmts_by_row:
        return []
    return [tuple(row[j] for row in fmts_by_row) for j in range(len(fmts_by_row[0]))]


def _reasons_note(ctx: dict) -> str:
    return ("。原因：" + "；".join(ctx["reasons"])) if ctx["reasons"] else ""


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
    """Counties of ``year`` ranked per spec §5 (county_progress_rank). ``province``: one province (two digits); None:
    the only province of the data when there is one, otherwise every province, each ranked within itself."""
    D.check_marts(con)
    ranked = D.ranking(con, year, province)
    dims = D.counties(con)
    if not ranked:
        scope = (dims.get(next((c for c in dims if c[:2] == province), ""), {}).get("province_name") or province) \
            if province else ""
        raise D.ReportError(f"数据仓库中没有 {year} 年{('（' + scope + '）') if scope else ''}的县级数据")
    provinces = sorted({r["province_code"] for r in ranked})
    grouped = province is None and len(provinces) > 1
    prev = {r["county_code"]: r for r in D.ranking(con, year - 1, province)}
    bal = D.balances(con, year)
    short = D.shortfalls(con, year)
    fails = D.failures(con, year)
    names = D.all_school_names(con, year)
    failing_by: dict[tuple, list[str]] = {}
    for f in fails:
        failing_by.setdefault((f["county_code"], f["item"], f["level"], f["status"]), []).append(f["school_code"])
    rank_key = "province_rank"  # one province, or each province ranked within itself

    counties, detail_rows = [], []
    for r in ranked:
        code = r["county_code"]
        dim = dims.get(code, {})
        levels = {}
        for lv in L.LEVELS:
            b = bal.get((code, lv))
            if b is not None:
                levels[lv] = {"composite": L.fmt_cv(b["composite_cv"]), "raw_composite": b["composite_cv"],
                              "basic": _status(b["basic_met"]), "resource": _status(b["quality_resource_met"]),
                              "quality_composite": b["quality_composite_cv"]}
        rows_c = [x for x in short if x["county_code"] == code]
        reasons = _reasons(rows_c, [f for f in fails if f["county_code"] == code], names, r["verdict"])
        for s in rows_c:
            schools = failing_by.get((code, s["item"], s["level"], s["status"]), [])
            for sc in schools or [None]:
                detail_rows.append([dim.get("province_name") or code[:2], code, dim.get("county_name") or code,
                                    s["item"], L.LEVELS.get(s["level"], ""), _item_label(s),
                                    L.STATUS.get(s["status"], s["status"]), names.get(sc, sc) if sc else None, sc])
        p = prev.get(code)
        counties.append({
            "rank": r[rank_key], "national_rank": r["progress_rank"], "code": code,
            "name": dim.get("county_name") or code, "province_code": r["province_code"],
            "province": dim.get("province_name") or r["province_code"],
            "items_met": r["items_met"], "items_total": r["items_total"],
            "ratio": r["mean_cv_ratio"], "ratio_zh": L.fmt_cv(r["mean_cv_ratio"]),
            "items_change": None if p is None else r["items_met"] - p["items_met"],
            "rank_change": None if p is None else p[rank_key] - r[rank_key],
            "levels": levels, "overall": r["verdict"], "overall_zh": L.OVERALL.get(r["verdict"], r["verdict"]),
            "reasons": reasons,
        })
    groups = []
    for pc in provinces:
        members = sorted((c for c in counties if c["province_code"] == pc), key=lambda c: (c["rank"], c["code"]))
        groups.append({"code": pc, "name": members[0]["province"], "counties": members})
    if not grouped:
        groups = [{"code": provinces[0] if len(provinces) == 1 else None,
                   "name": groups[0]["name"] if len(provinces) == 1 else "全部县（区）",
                   "counties": sorted(counties, key=lambda c: (c["rank"], c["code"]))}]
    chart = None
    ordered = [c for g in groups for c in g["counties"]]
    with_ratio = [c for c in ordered if c["ratio"] is not None]
    part = ""
    if len(with_ratio) > 2 * CHART_COUNTIES:  # a national summary: the first and the last counties only
        with_ratio = with_ratio[:CHART_COUNTIES] + with_ratio[-CHART_COUNTIES:]
        part = f"（前 {CHART_COUNTIES} 位与后 {CHART_COUNTIES} 位）"
    if with_ratio:
        chart = ranking_svg(
            f"{year}年各县资源配置差异系数与标准之比{part}（均值，越低越均衡）",
            [(f"{c['province'][:2]} " if grouped else "") + f"{c['rank']}. {c['name']}" for c in with_ratio],
            [c["ratio"] for c in with_ratio],
            "七项指标、两个学段差异系数 ÷ 标准 的平均值", reference=1.0,
        )
    if province or len(provinces) == 1:
        scope = groups[0]["name"]
    else:
        scope = "各省"
    return {
        "year": year, "province": province, "scope": scope, "grouped": grouped, "groups": groups,
        "counties": ordered, "chart": chart, "detail_rows": detail_rows,
        "generated": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "has_prev": bool(prev), "levels": L.LEVELS,
        "has_quality_composite": any(lv["quality_composite"] is not None for c in ordered for lv in c["levels"].values()),
        "counts": {k: sum(1 for c in ordered if c["overall"] == k) for k in ("met", "not_met", "incomplete")},
        "verification": _verification_rows(D.flag_statuses(con, year), ordered),
    }


def _verification_rows(status: dict[str, dict], counties: list[dict]) -> list[dict]:
    """Counties with open questions first (longest waiting first), then the settled ones (issue 15)."""
    rows = [{"code": c["code"], "name": c["name"], **status[c["code"]]} for c in counties if c["code"] in status]
    return sorted(rows, key=lambda r: (bool(r["settled"]), -(r["days_open"] or 0), r["code"]))


def _province_code(con: duckdb.DuckDBPyConnection, province: str | None) -> str | None:
    """Two-digit province code from a code (43, 431230) or a name (湖南省, 湖南) among the provinces in the warehouse."""
    if province is None or not str(province).strip():
        return None
    p = str(province).strip()
    if re.fullmatch(r"\d{2}(\d{4})?", p):
        return p[:2]
    for dim in D.counties(con).values():
        name = dim.get("province_name") or ""
        if name and (p in (name, name.rstrip("省市"), name[:2]) or (len(p) >= 2 and name.startswith(p))):
            return dim["province_code"]
    raise D.ReportError(f"无法识别的省份：{province!r}（请用两位代码如 43，或仓库中已有的省名如 湖南省）")


def render_province_report(
    warehouse: Path, year: int, out_dir: Path = DEFAULT_OUT, province: str | None = None
) -> tuple[Path, Path]:
    """Counties of ``year`` ranked by progress (spec §5); HTML + XLSX under ``out_dir``."""
    con = connect_read_only(Path(warehouse))
    try:
        D.check_marts(con)
        prov = _province_code(con, province)
        ctx = province_context(con, int(year), prov)
    finally:
        con.close()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"province_{prov or (ctx['groups'][0]['code'] if not ctx['grouped'] and ctx['groups'][0]['code'] else 'all')}_{year}"
    html_path, xlsx_path = out_dir / f"{stem}.html", out_dir / f"{stem}.xlsx"
    html_path.write_text(_env().get_template("province.html.j2").render(**ctx), encoding="utf-8")
    b = _Book(xlsx_path)
    try:
        qc = ctx["has_quality_composite"]
        rows = []
        for c in ctx["counties"]:
            lv = c["levels"]
            rows.append([
                c["province"], c["rank"], c["code"], c["name"], c["overall_zh"], c["items_met"], c["items_total"],
                c["ratio"], c["items_change"], c["rank_change"],
                lv.get("primary", {}).get("raw_composite"), lv.get("junior", {}).get("raw_composite"),
                L.STATUS.get(lv.get("primary", {}).get("basic"), "无数据"),
                L.STATUS.get(lv.get("junior", {}).get("basic"), "无数据"),
                L.STATUS.get(lv.get("primary", {}).get("resource"), "无数据"),
                L.STATUS.get(lv.get("junior", {}).get("resource"), "无数据"),
                *([lv.get("primary", {}).get("quality_composite"), lv.get("junior", {}).get("quality_composite")] if qc else []),
                "；".join(c["reasons"]),
            ])
        st = lambda key, lvl: tuple(L.STATUS_CLASS.get(c["levels"].get(lvl, {}).get(key), "na") for c in ctx["counties"])  # noqa: E731
        b.table("县域排名", f"{ctx['scope']}{year}年县域义务教育优质均衡进展排名",
                "排序（省内）：先按优质均衡总体结论（达到、数据不全、未达到），再按41项中的达标项数（多者在前），"
                "再按七项资源指标两个学段差异系数与标准之比的平均值（低者在前）",
                ["省份", "排名", "代码", "县（区）", "优质均衡结论", "达标项数", "评估项数", "差异系数/标准",
                 "较上年项数", "较上年名次", "小学综合CV", "初中综合CV", "小学基本均衡", "初中基本均衡",
                 "小学资源配置", "初中资源配置",
                 *(["小学七项差异系数平均（仅供参考）", "初中七项差异系数平均（仅供参考）"] if qc else []), "未达到或不能认定的原因"],
                [10, 6, 9, 18, 16, 9, 9, 12, 10, 10, 11, 11, 11, 11, 11, 11, *([14, 14] if qc else []), 90], rows,
                ["text", "int", "text", "text",
                 tuple({"met": "ok", "not_met": "bad"}.get(c["overall"], "na") for c in ctx["counties"]),
                 "int", "int", "cv", "int", "int", "cv", "cv", st("basic", "primary"), st("basic", "junior"),
                 st("resource", "primary"), st("resource", "junior"), *(["cv", "cv"] if qc else []), "text"],
                freeze_cols=4)
        if ctx.get("verification"):  # issue 15: which counties still have open questions
            b.table("数据核查进度", f"{ctx['scope']}{year}年数据核查进度", "待核实的县排在前面（等待最久的在前）",
                    ["县级行政区划代码", "县（区）", "状态", "待核实", "确认无误", "已更正", "待核实学校", "最久待核实（天）"],
                    [14, 18, 10, 10, 10, 10, 12, 16],
                    [[r["code"], r["name"], "已办结" if r["settled"] else "待核实", r["open_flags"], r["confirmed_flags"],
                      r["corrected_flags"], r["schools_open"], r["days_open"]] for r in ctx["verification"]],
                    ["text", "text", "text", "int", "int", "int", "int", "int"])
        b.table("未达标原因明细", f"{ctx['scope']}{year}年各县未达标或无数据的评估项目", "每个项目一行；按学校判定的项目（QS、G03–G05）每所学校一行",
                ["省份", "代码", "县（区）", "编号", "学段", "评估项目", "状态", "学校", "学校标识码"],
                [10, 9, 18, 7, 7, 52, 8, 30, 13], ctx["detail_rows"],
                ["text", "text", "text", "center", "center", "text", "center", "text", "text"], freeze_cols=3)
    finally:
        b.close()
    return html_path, xlsx_path


# ================================================================== CLI


def main_report(argv: Sequence[str] | None = None) -> int:
    p = ArgParser(
        prog="junheng report",
        description="生成县域义务教育均衡发展报告（HTML 网页 + Excel 工作簿）；不给 --county 则生成各县进展排名 / "
                    "write the county report (HTML page + Excel workbook); without --county, the counties' progress ranking",
    )
    p.add_argument("--county", default=None, help="县级行政区划代码（6位）/ county code (6 digits)")
    p.add_argument("--year", type=int, default=None,
                   help="统计年度（默认：仓库中最新年度）/ statistical year (default: the latest in the warehouse)")
    p.add_argument("--province", default=None,
                   help="省份（两位代码或省名），仅用于排名；默认：数据只有一个省时为该省，否则按省分组 / "
                        "province (two-digit code or name), ranking only; default: the data's province when there is one, "
                        "otherwise every province, grouped")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help=f"输出目录（默认 {DEFAULT_OUT}）/ output directory (default {DEFAULT_OUT})")
    p.add_argument("--warehouse", type=Path, default=None,
                   help="数据仓库文件（默认同 junheng query）/ the warehouse file (default: as junheng query)")
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
                raise D.ReportError("数据仓库中没有任何年度的指标数据 / the warehouse holds no year")
            year = ys[-1]
        if args.county:
            html, xlsx = render_county_report(warehouse, args.county, year, args.out)
        else:
            html, xlsx = render_province_report(warehouse, year, args.out, args.province)
    except FileNotFoundError as e:
        print(f"junheng report: 错误 / error: {e}", file=sys.stderr)
        return 1
    except D.ReportError as e:
        print(f"junheng report: 错误 / error: {e}", file=sys.stderr)
        return 1
    except duckdb.Error as e:
        print(f"junheng report: 读取数据仓库失败 / cannot read the warehouse: {e}", file=sys.stderr)
        return 1
    print(f"报告网页 report page: {html}")
    print(f"Excel 工作簿 workbook: {xlsx}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main_report())
