"""Small census and county-return files in every accepted shape, written by hand for the ingestion tests.

Values are chosen so a test can check each loaded number against the cell it came from.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl

from junheng.lib.schema import CENSUS_COLUMNS, RETURN_COLUMNS

ZH = {c.name: c.zh for c in CENSUS_COLUMNS}
RETURN_ZH = {c.name: c.zh for c in RETURN_COLUMNS}

# Two schools of one county; the second is a 九年一贯制 school (spec §1 worked example: 166 / 210 students, 23,226 books).
SCHOOLS = [
    {
        "school_code": "0341024001",
        "school_name": "祁门县城关小学",
        "county_code": "341024",
        "county_name": "祁门县",
        "school_type": "小学",
        "ownership": "公办",
        "authority": "县级",
        "urban_rural": "城区",
        "primary_students": "1,234",
        "junior_students": "0",
        "primary_classes": "28",
        "primary_teachers": "70",
        "primary_teachers_above_degree": "66",
        "teaching_aux_area_m2": "5,678.5",
        "sports_area_m2": "9000",
        "equipment_value_10k_yuan": "310.25",
        "books": "30000",
        "computers": "150",
    },
    {
        "school_code": "3410240002",
        "school_name": "祁门县历口九年一贯制学校",
        "county_code": "341024",
        "county_name": "祁门县",
        "school_type": "九年一贯制学校",
        "ownership": "公办",
        "authority": "县级",
        "urban_rural": "210",
        "primary_students": "166",
        "junior_students": "210",
        "primary_classes": "6",
        "junior_classes": "6",
        "primary_teachers": "14",
        "junior_teachers": "22",
        "primary_teachers_above_degree": "14",
        "teaching_aux_area_m2": "3200",
        "sports_area_m2": "6400",
        "equipment_value_10k_yuan": "95",
        "books": "23226",
        "computers": "60",
    },
]
HEADER = list(SCHOOLS[0].keys())


def census_rows(lang: str = "en", schools: list[dict] | None = None, header: list[str] | None = None) -> list[list[str]]:
    header = header or HEADER
    schools = schools if schools is not None else SCHOOLS
    names = [ZH[h] if lang == "zh" else h for h in header]
    return [names] + [[s.get(h, "") for h in header] for s in schools]


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8", title: str | None = None, total: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if title:
        w.writerow([title])
    w.writerows(rows)
    if total:
        w.writerow(["合计"] + [""] * (len(rows[0]) - 1))
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, rows: list[list], sheet: str = "学校", title: str | None = None, numeric_codes: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "说明"
    ws.append(["本工作簿的第一个工作表不是数据"])
    data = wb.create_sheet(sheet)
    if title:
        data.append([title])
    for i, row in enumerate(rows):
        out = []
        for v in row:
            if i and isinstance(v, str) and v.replace(",", "").replace(".", "", 1).isdigit():
                # Numbers as numbers, as a real export has them; codes too when asked (spec: read back as digits).
                looks_code = len(v) in (6, 10) and v.isdigit()
                if looks_code and not numeric_codes:
                    out.append(v)
                else:
                    num = float(v.replace(",", ""))
                    out.append(int(num) if num.is_integer() else num)
            else:
                out.append(v)
        data.append(out)
    wb.save(path)
    return path


def write_return(path: Path, counties: list[dict], encoding: str = "utf-8") -> Path:
    header = list(counties[0].keys())
    return write_csv(path, [[RETURN_ZH[h] for h in header]] + [[c.get(h, "") for h in header] for c in counties], encoding)


RETURN_ROW = {
    "county_code": "341024",
    "county_name": "祁门县",
    "layout_planned": "是",
    "urban_rural_unified": "yes",
    "teacher_pay_ratio": "1.02",
    "junior_retention_rate": "96.5",
    "monitoring_between_school_rate": "0.12",
    "social_recognition_rate": "91",
}
