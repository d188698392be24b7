"""Chinese labels and number formats of the reports (English identifiers stay in code only).

Labels only: names, units, number formats. Every figure comes from a mart (reports/data.py). The indicator names
here are checked against dbt_project/seeds/indicators.csv by tests/test_report_contract.py.
"""

from __future__ import annotations

import math
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from junheng.lib.schema import CENSUS_COLUMNS, RETURN_COLUMNS

LEVELS = {"primary": "小学", "junior": "初中"}
METHODS = {"basic": "基本均衡（2012年办法）", "quality": "优质均衡（2017年办法）"}

# code: (name, unit of the value, decimals of the value, gap unit or None)
INDICATORS: dict[str, tuple[str, str, int, str | None]] = {
    "B1": ("生均教学及辅助用房面积", "平方米", 3, None),
    "B2": ("生均体育运动场馆面积", "平方米", 3, None),
    "B3": ("生均教学仪器设备值", "元", 2, None),
    "B4": ("每百名学生拥有计算机台数", "台", 3, None),
    "B5": ("生均图书册数", "册", 3, None),
    "B6": ("师生比", "人", 3, None),
    "B7": ("生均高于规定学历教师数", "人", 3, None),
    "B8": ("生均中级及以上专业技术职务教师数", "人", 3, None),
    "Q1": ("每百名学生拥有高于规定学历教师数", "人", 3, "人"),
    "Q2": ("每百名学生拥有县级以上骨干教师数", "人", 3, "人"),
    "Q3": ("每百名学生拥有体育、艺术（美术、音乐）专任教师数", "人", 3, "人"),
    "Q4": ("生均教学及辅助用房面积", "平方米", 3, "平方米"),
    "Q5": ("生均体育运动场馆面积", "平方米", 3, "平方米"),
    "Q6": ("生均教学仪器设备值", "元", 2, "元"),
    "Q7": ("每百名学生拥有网络多媒体教室数", "间", 3, "间"),
}
BASIC = [f"B{i}" for i in range(1, 9)]
QUALITY = [f"Q{i}" for i in range(1, 8)]

# gap units as the marts may spell them -> Chinese
UNITS = {
    "m²": "平方米", "m2": "平方米", "sqm": "平方米", "平方米": "平方米", "㎡": "平方米",
    "yuan": "元", "元": "元",
    "rooms": "间", "room": "间", "间": "间",
    "teachers": "人", "teacher": "人", "人": "人",
}

PARTS = {
    "resource": "一、资源配置",
    "government": "二、政府保障程度",
    "quality": "三、教育质量",
    "recognition": "四、社会认可度",
}

STATUS = {"met": "达标", "not_met": "未达标", "no_data": "无数据"}
STATUS_CLASS = {"met": "ok", "not_met": "bad", "no_data": "na"}
OVERALL = {
    "met": "达到优质均衡",
    "not_met": "未达到优质均衡",
    "incomplete": "数据不全，暂不能认定",
}

URBAN_RURAL = {"urban": "城区", "town": "镇区", "rural": "乡村"}
SCHOOL_TYPES = {
    "primary": "小学", "teaching_point": "小学教学点", "junior": "初级中学", "nine_year": "九年一贯制学校",
    "complete_secondary": "完全中学", "twelve_year": "十二年一贯制学校", "special": "特殊教育学校",
}

# What indicator_trend.projection_status means on a page
PROJECTION = {
    "met": "已达标",
    "met_clean": "剔除待核实数据后已达标",
    "too_few_years": "不足三年，不作预测",
    "not_descending": "按现趋势无法达标",
    "projected": "预计{year}年达标",
    "no_threshold": "—",
}

DASH = "—"


def _ok(x: Any) -> bool:
    return x is not None and not (isinstance(x, float) and (math.isnan(x) or math.isinf(x)))


def fmt_cv(x: Any) -> str:
    """CV to 3 decimals, as county reports print it."""
    return f"{float(x):.3f}" if _ok(x) else DASH


def fmt_value(indicator: str, x: Any) -> str:
    """A county or school value: yuan to 2 decimals with thousands separators, the rest to 3 decimals."""
    if not _ok(x):
        return DASH
    decimals = INDICATORS.get(indicator, ("", "", 3, None))[2]
    return f"{float(x):,.{decimals}f}"


def fmt_standard(indicator: str, x: Any) -> str:
    if not _ok(x):
        return DASH
    x = float(x)
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def fmt_threshold(x: Any) -> str:
    """A CV threshold as the methods write it (0.65, 0.5 -> 0.50)."""
    return f"{float(x):.2f}" if _ok(x) else DASH


def fmt_gap(unit: str, x: Any) -> str:
    """A gap in physical units: yuan whole with separators, the rest to one decimal."""
    if not _ok(x):
        return DASH
    return f"{float(x):,.0f}" if unit == "元" else f"{float(x):,.1f}"


def fmt_pct(x: Any, decimals: int = 1) -> str:
    return f"{float(x) * 100:.{decimals}f}%" if _ok(x) else DASH


def fmt_num(x: Any, decimals: int = 0) -> str:
    return f"{float(x):,.{decimals}f}" if _ok(x) else DASH


def unit_zh(unit: Any, indicator: str | None = None) -> str:
    if unit is not None and str(unit) in UNITS:
        return UNITS[str(unit)]
    if indicator and INDICATORS.get(indicator, (None, None, None, None))[3]:
        return INDICATORS[indicator][3]  # type: ignore[return-value]
    return str(unit) if unit is not None else ""


FIELDS_ZH = {c.name: re.sub(r"（.*?）$", "", c.zh) for c in (*CENSUS_COLUMNS, *RETURN_COLUMNS)}
FIELD_UNITS = {c.name: m.group(1) for c in CENSUS_COLUMNS if (m := re.search(r"（(.*?)）$", c.zh))}
RULES_FILE = Path(__file__).resolve().parents[3] / "expectations" / "rules.yml"


@lru_cache(maxsize=4)
def _rules(path: str) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh) or {}
    except OSError:
        return {}
    return {r["id"]: r.get("description", {}).get("zh", {}).get("what", r["id"]) for r in doc.get("rules", [])}


def rule_zh(rule_id: str) -> str:
    """What a plausibility rule checks, in Chinese (expectations/rules.yml; JUNHENG_RULES overrides the file)."""
    return _rules(os.environ.get("JUNHENG_RULES", str(RULES_FILE))).get(rule_id, rule_id)


def field_zh(field: str | None) -> str:
    return FIELDS_ZH.get(field or "", field or "")


def projection_zh(status: str | None, year: Any = None) -> str:
    text = PROJECTION.get(status or "", DASH)
    return text.format(year=year) if "{year}" in text else text
