"""Chinese labels and number formats of the reports (English identifiers stay in code only)."""

from __future__ import annotations

import math
from typing import Any

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

ITEMS = {
    "G01": "学校规划布局合理",
    "G02": "城乡学校建设、编制、生均公用经费、装备配置“四统一”",
    "G03": "每12个班级配备音乐、美术专用教室各1间以上且面积达标",
    "G04": "学校规模不超标（小学、初中≤2000人，一贯制≤2500人）",
    "G05": "班额不超标（小学≤45人，初中≤50人）",
    "G06": "不足100名学生的村小、教学点按100名学生核定公用经费",
    "G07": "特殊教育学校生均公用经费不低于6000元",
    "G08": "教师平均工资收入不低于当地公务员平均工资收入",
    "G09": "教师5年360学时培训完成率100%",
    "G10": "县级教育行政部门统筹分配教职工编制和岗位",
    "G11": "教师交流轮岗比例≥10%，其中骨干教师≥20%",
    "G12": "专任教师持有教师资格证上岗率100%",
    "G13": "就近划片入学比例：小学100%，初中≥95%",
    "G14": "优质高中招生名额分配比例≥50%并向农村初中倾斜",
    "G15": "留守儿童关爱体系健全；随迁子女在公办学校和政府购买学位就读比例≥85%",
    "E01": "初中三年巩固率≥95%",
    "E02": "残疾儿童少年入学率≥95%",
    "E03": "所有学校制定章程，实现学校管理与教学信息化",
    "E04": "教师培训经费占学校年度公用经费预算总额≥5%",
    "E05": "教师能熟练运用信息化手段组织教学，设施设备利用率达到较高水平",
    "E06": "德育工作、校园文化建设水平达到良好以上",
    "E07": "课程开齐开足，教学秩序规范",
    "E08": "无过重课业负担",
    "E09": "国家义务教育质量监测学业水平达到Ⅲ级以上，校际差异率低于0.15",
    "S01": "社会认可度达到85%以上",
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

PROVINCES = {
    "11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区", "21": "辽宁省",
    "22": "吉林省", "23": "黑龙江省", "31": "上海市", "32": "江苏省", "33": "浙江省", "34": "安徽省",
    "35": "福建省", "36": "江西省", "37": "山东省", "41": "河南省", "42": "湖北省", "43": "湖南省",
    "44": "广东省", "45": "广西壮族自治区", "46": "海南省", "50": "重庆市", "51": "四川省", "52": "贵州省",
    "53": "云南省", "54": "西藏自治区", "61": "陕西省", "62": "甘肃省", "63": "青海省", "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区",
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


def province_name(code: str) -> str:
    return PROVINCES.get(str(code)[:2], f"{str(code)[:2]}省")
