"""The input contract (shared/spec/census-format.md) as data: one place that names every column.

Ingestion, the sample generator, the quality rules and the tests all read these tables, so a column
is added or renamed here once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str  # English name: the warehouse column and the English header
    zh: str  # Chinese header as the spec writes it (unit in full-width brackets where it has one)
    kind: str  # "code10", "code6", "text", "enum", "year", "number", "bool"
    enum: str | None = None  # which enum table for kind == "enum"


# ---------------------------------------------------------------- census (spec §2)
CENSUS_COLUMNS: tuple[Column, ...] = (
    Column("school_code", "学校标识码", "code10"),
    Column("school_name", "学校名称", "text"),
    Column("county_code", "县级行政区划代码", "code6"),
    Column("county_name", "县级行政区划名称", "text"),
    Column("school_type", "办学类型", "enum", "school_type"),
    Column("ownership", "举办者类型", "enum", "ownership"),
    Column("authority", "隶属关系", "enum", "authority"),
    Column("urban_rural", "城乡分类", "enum", "urban_rural"),
    Column("year", "统计年度", "year"),
    Column("primary_students", "小学在校生数", "number"),
    Column("junior_students", "初中在校生数", "number"),
    Column("senior_students", "高中在校生数", "number"),
    Column("primary_classes", "小学班数", "number"),
    Column("junior_classes", "初中班数", "number"),
    Column("primary_classes_over_45", "小学班额超过45人班数", "number"),
    Column("junior_classes_over_50", "初中班额超过50人班数", "number"),
    Column("primary_teachers", "小学专任教师数", "number"),
    Column("junior_teachers", "初中专任教师数", "number"),
    Column("primary_teachers_above_degree", "小学高于规定学历专任教师数", "number"),
    Column("junior_teachers_above_degree", "初中高于规定学历专任教师数", "number"),
    Column("primary_teachers_senior_title", "小学中级及以上职称专任教师数", "number"),
    Column("junior_teachers_senior_title", "初中中级及以上职称专任教师数", "number"),
    Column("primary_backbone_teachers", "小学县级及以上骨干教师数", "number"),
    Column("junior_backbone_teachers", "初中县级及以上骨干教师数", "number"),
    Column("primary_pe_art_teachers", "小学体育艺术专任教师数", "number"),
    Column("junior_pe_art_teachers", "初中体育艺术专任教师数", "number"),
    Column("teaching_aux_area_m2", "教学及辅助用房面积（平方米）", "number"),
    Column("sports_area_m2", "体育运动场馆面积（平方米）", "number"),
    Column("equipment_value_10k_yuan", "教学仪器设备资产值（万元）", "number"),
    Column("books", "图书（册）", "number"),
    Column("computers", "教学用计算机（台）", "number"),
    Column("multimedia_classrooms", "网络多媒体教室（间）", "number"),
    Column("music_rooms", "音乐专用教室（间）", "number"),
    Column("music_room_area_m2", "音乐专用教室面积（平方米）", "number"),
    Column("art_rooms", "美术专用教室（间）", "number"),
    Column("art_room_area_m2", "美术专用教室面积（平方米）", "number"),
)

CENSUS_REQUIRED = (
    "school_code",
    "school_name",
    "county_code",
    "school_type",
    "ownership",
    "authority",
    "urban_rural",
    "primary_students",
    "junior_students",
)
# Required only in a file that holds a school with a senior section.
CENSUS_REQUIRED_WITH_SENIOR = "senior_students"
# The header row is the first row holding these (spec §1: "the required identity columns").
CENSUS_IDENTITY = ("school_code", "county_code")

# ---------------------------------------------------------------- county return (spec §3)
RETURN_COLUMNS: tuple[Column, ...] = (
    Column("county_code", "县级行政区划代码", "code6"),
    Column("county_name", "县级行政区划名称", "text"),
    Column("year", "统计年度", "year"),
    Column("layout_planned", "学校规划布局合理", "bool"),
    Column("urban_rural_unified", "城乡四统一", "bool"),
    Column("small_school_funding_floor", "不足100人学校按100人核定公用经费", "bool"),
    Column("special_school_funding_per_student", "特殊教育学校生均公用经费（元）", "number"),
    Column("teacher_pay_ratio", "教师平均工资与公务员平均工资之比", "number"),
    Column("training_completion_rate", "教师5年360学时培训完成率", "number"),
    Column("staffing_within_quota", "编制岗位统筹分配", "bool"),
    Column("exchange_rate", "交流轮岗教师比例", "number"),
    Column("backbone_exchange_share", "骨干教师占交流轮岗教师比例", "number"),
    Column("certified_teacher_rate", "教师资格证持证上岗率", "number"),
    Column("nearby_enrollment_primary_rate", "小学就近划片入学比例", "number"),
    Column("nearby_enrollment_junior_rate", "初中就近划片入学比例", "number"),
    Column("quota_allocation_rate", "优质高中招生名额分配比例", "number"),
    Column("left_behind_care_system", "留守儿童关爱体系健全", "bool"),
    Column("migrant_public_rate", "随迁子女在公办学校和政府购买学位就读比例", "number"),
    Column("junior_retention_rate", "初中三年巩固率", "number"),
    Column("disabled_enrollment_rate", "残疾儿童少年入学率", "number"),
    Column("charter_and_it", "学校章程与管理教学信息化", "bool"),
    Column("training_budget_share", "教师培训经费占公用经费比例", "number"),
    Column("ict_teaching", "信息化教学与设施设备利用", "bool"),
    Column("moral_education_good", "德育与校园文化达到良好以上", "bool"),
    Column("curriculum_complete", "课程开齐开足", "bool"),
    Column("homework_burden_ok", "无过重课业负担", "bool"),
    Column("monitoring_level_ok", "质量监测学业水平达到Ⅲ级以上", "bool"),
    Column("monitoring_between_school_rate", "质量监测校际差异率", "number"),
    Column("social_recognition_rate", "社会认可度", "number"),
)
RETURN_REQUIRED = ("county_code",)
RETURN_IDENTITY = ("county_code",)

# ---------------------------------------------------------------- enums (spec §2, §2.1)
# Each maps every accepted spelling (Chinese, English code) to the warehouse code.
SCHOOL_TYPES = {
    "小学": "primary",
    "小学教学点": "teaching_point",
    "初级中学": "junior",
    "九年一贯制学校": "nine_year",
    "完全中学": "complete_secondary",
    "十二年一贯制学校": "twelve_year",
    "特殊教育学校": "special",
}
SCHOOL_TYPE_ZH = {code: zh for zh, code in SCHOOL_TYPES.items()}
OWNERSHIP = {"公办": "public", "民办": "private"}
AUTHORITY = {"县级": "county", "地级": "prefecture", "省级": "province"}
URBAN_RURAL = {"城区": "urban", "镇区": "town", "乡村": "rural"}
URBAN_RURAL_CODES = {
    "111": "urban",
    "112": "urban",
    "121": "town",
    "122": "town",
    "123": "town",
    "210": "rural",
    "220": "rural",
}
ENUMS: dict[str, dict[str, str]] = {
    "school_type": {**SCHOOL_TYPES, **{v: v for v in SCHOOL_TYPES.values()}},
    "ownership": {**OWNERSHIP, **{v: v for v in OWNERSHIP.values()}},
    "authority": {**AUTHORITY, **{v: v for v in AUTHORITY.values()}},
    "urban_rural": {
        **URBAN_RURAL,
        **{v: v for v in URBAN_RURAL.values()},
        **URBAN_RURAL_CODES,
    },
}
# Which sections a school type has (spec §2.1).
SECTIONS = {
    "primary": ("primary",),
    "teaching_point": ("primary",),
    "junior": ("junior",),
    "nine_year": ("primary", "junior"),
    "complete_secondary": ("junior", "senior"),
    "twelve_year": ("primary", "junior", "senior"),
    "special": (),
}
BOOL_VALUES = {
    "是": True,
    "否": False,
    "yes": True,
    "no": False,
    "1": True,
    "0": False,
    "true": True,
    "false": False,
}

TOTAL_LINE_MARKERS = ("合计", "总计")


def sql_type(col: Column) -> str:
    """DuckDB type of a column in the raw tables."""
    return {
        "number": "DOUBLE",
        "year": "INTEGER",
        "bool": "BOOLEAN",
    }.get(col.kind, "VARCHAR")


# ---------------------------------------------------------------- physical ranges of number columns
# A number beyond its column's physical range cannot be any school's or county's: it is refused with its file, row
# and column like a cell that is not a number (issue 11), never loaded (1e309 would load as inf, 1e308 overflows the
# marts' integer sums). The bounds are far beyond any implausible-but-possible slip, which loads and is flagged
# (spec §4): 元 typed into the 万元 column, a 亩 area, a count typed twice.
COUNT_LIMIT = 1e7  # persons, classes, volumes, computers, rooms; also rates and ratios of the county returns
AREA_LIMIT = 1e9  # m² (1,000 km²)
MONEY_LIMIT = 1e10  # in the column's unit (万元 or 元)
MONEY_COLUMNS = ("equipment_value_10k_yuan", "special_school_funding_per_student")


def number_limit(col: Column) -> float:
    """The largest absolute value a number column can physically hold."""
    if col.name.endswith("_m2"):
        return AREA_LIMIT
    if col.name in MONEY_COLUMNS:
        return MONEY_LIMIT
    return COUNT_LIMIT
