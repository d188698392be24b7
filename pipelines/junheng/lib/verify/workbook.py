"""Query workbooks (核查表, issue 15): one XLSX per county listing its open warnings, and reading the answers back.

The visible sheet is for people; the answer is matched back only through the very-hidden sheet of keys (year, county,
school, rule, field, the submitted value and the value shown at export, and a fingerprint of all of them). Every cell
outside the answer columns is locked (sheet protection); a returned workbook whose visible key cells differ from
what was exported (edited, rows sorted or inserted) is refused, never trusted.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path

from junheng.lib.schema import CENSUS_COLUMNS, number_limit
from junheng.lib.verify.store import MEASURES, VERDICTS

SHEET = "核查表"
KEYS_SHEET = "_keys"
FORMAT = "junheng-verify-1"
HEADER_ROW = 3
FIRST_ROW = HEADER_ROW + 1
COLUMNS = (  # (header, width); the last five are the answer columns, the only unlocked cells
    ("序号", 6), ("学校标识码", 13), ("学校名称", 22), ("规则编号", 30), ("问题说明", 40), ("字段", 24),
    ("填报值", 12), ("单位", 9), ("上年值", 12), ("规则计算值", 14), ("合理范围", 24), ("说明（规则）", 30),
    ("处理办法", 44),
    ("核实结果", 12), ("更正值", 12), ("说明", 30), ("填报人", 12), ("填报日期", 12),
)
HEADERS = [h for h, _ in COLUMNS]
ANSWER_HEADERS = ("核实结果", "更正值", "说明", "填报人", "填报日期")
COL = {h: i + 1 for i, h in enumerate(HEADERS)}
CHECKED = ("学校标识码", "规则编号", "字段", "填报值")  # visible cells compared with the keys on import
KEY_FIELDS = ("row", "year", "county_code", "school_code", "rule_id", "field", "census_value", "shown_value",
              "fingerprint", "visible")
BY_NAME = {c.name: c for c in CENSUS_COLUMNS}


def unit_of(name: str) -> str:
    m = re.search(r"（(.+?)）", BY_NAME[name].zh)
    if m:
        return m.group(1)
    if name.endswith(("_students", "_teachers", "_degree", "_title")):
        return "人"
    if "classes" in name:
        return "个"
    return ""


def fingerprint(year, school_code, rule_id, field_name, census_value, shown_value) -> str:
    text = "|".join(map(str, (year, school_code, rule_id, field_name, _num(census_value), _num(shown_value))))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _num(v) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else repr(float(v))


def _visible(school_code, rule_id, field_zh, shown) -> str:
    return "|".join((str(school_code), str(rule_id), str(field_zh), _num(shown)))


@dataclass
class Question:
    year: int
    county_code: str
    county_name: str
    school_code: str
    school_name: str
    rule_id: str
    field: str
    census_value: float | None
    shown_value: float | None
    last_year_value: float | None
    flag_value: float | None
    expected: str | None
    detail: str | None
    what: str
    resolve: str
    rule_unit: str


def write_workbook(path: Path, year: int, county_code: str, county_name: str, questions: list[Question]) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill, Protection
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    ws["A1"] = f"{year}年 {county_name or ''}（{county_code}）教育事业统计数据核查表"
    ws["A1"].font = Font(bold=True, size=14)
    ws["A2"] = ("请逐行在黄色列填写：核实结果选择“确认无误”（数值属实）或“更正”（并在“更正值”列填写正确数值，单位同“单位”列）；"
                "其他单元格已锁定，请勿改动、排序或插入行。")
    for i, (h, w) in enumerate(COLUMNS, start=1):
        c = ws.cell(HEADER_ROW, i, h)
        c.font = Font(bold=True)
        c.alignment = Alignment(wrap_text=True, vertical="top")
        ws.column_dimensions[get_column_letter(i)].width = w
    answer_fill = PatternFill("solid", fgColor="FFF2CC")
    keys = wb.create_sheet(KEYS_SHEET)
    keys.sheet_state = "veryHidden"
    keys.append(["format", FORMAT, "year", year, "county_code", county_code])
    keys.append(list(KEY_FIELDS))
    for n, q in enumerate(questions):
        r = FIRST_ROW + n
        field_zh = BY_NAME[q.field].zh
        values = {
            "序号": n + 1, "学校标识码": q.school_code, "学校名称": q.school_name, "规则编号": q.rule_id,
            "问题说明": q.what, "字段": field_zh, "填报值": q.shown_value, "单位": unit_of(q.field),
            "上年值": q.last_year_value, "规则计算值": None if q.flag_value is None else round(q.flag_value, 4),
            "合理范围": q.expected, "说明（规则）": q.detail,
            "处理办法": q.resolve,
        }
        for h, v in values.items():
            c = ws.cell(r, COL[h], None if isinstance(v, float) and math.isnan(v) else v)
            if h == "学校标识码":
                c.number_format = "@"
            if h in ("问题说明", "处理办法"):
                c.alignment = Alignment(wrap_text=True, vertical="top")
        for h in ANSWER_HEADERS:
            c = ws.cell(r, COL[h])
            c.protection = Protection(locked=False)
            c.fill = answer_fill
            if h in ("说明", "填报人", "填报日期"):
                c.number_format = "@"
        keys.append([r, q.year, q.county_code, q.school_code, q.rule_id, q.field, q.census_value, q.shown_value,
                     fingerprint(q.year, q.school_code, q.rule_id, q.field, q.census_value, q.shown_value),
                     _visible(q.school_code, q.rule_id, field_zh, q.shown_value)])
    if questions:
        last = FIRST_ROW + len(questions) - 1
        dv = DataValidation(type="list", formula1='"' + ",".join(VERDICTS) + '"', allow_blank=True,
                            showErrorMessage=True, errorTitle="核实结果", error="请选择：确认无误 或 更正")
        ws.add_data_validation(dv)
        dv.add(f"{get_column_letter(COL['核实结果'])}{FIRST_ROW}:{get_column_letter(COL['核实结果'])}{last}")
        num = DataValidation(type="decimal", operator="between", formula1="0", formula2="10000000000",
                             allow_blank=True, showErrorMessage=True, error="更正值应为不小于0的数值")
        ws.add_data_validation(num)
        num.add(f"{get_column_letter(COL['更正值'])}{FIRST_ROW}:{get_column_letter(COL['更正值'])}{last}")
    ws.freeze_panes = ws.cell(FIRST_ROW, COL["学校名称"])
    ws.protection.sheet = True  # locked cells: everything but the answer columns
    ws.protection.formatCells = False
    ws.protection.formatColumns = False
    keys.protection.sheet = True
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


# ------------------------------------------------------------------------------------------------ reading answers
@dataclass(frozen=True, order=True)
class AnswerProblem:
    file: str
    sheet: str | None
    row: int | None
    column: str | None  # the header and the cell, e.g. 更正值 (O5)
    message: str

    def __str__(self) -> str:
        where = self.file + (f" [{self.sheet}]" if self.sheet else "")
        if self.row is not None:
            where += f", 第{self.row}行 row {self.row}"
        if self.column:
            where += f", 列 column “{self.column}”"
        return f"{where}: {self.message}"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Answer:
    row: int
    year: int
    county_code: str
    school_code: str
    rule_id: str
    field: str
    verdict: str  # confirmed | corrected
    corrected_value: float | None
    note: str | None
    answered_by: str | None
    answered_on: str | None
    census_value: float | None
    shown_value: float | None
    fingerprint: str


@dataclass
class ReturnedWorkbook:
    path: Path
    name: str
    sha256: str
    year: int | None = None
    county_code: str | None = None
    answers: list[Answer] = field(default_factory=list)
    unanswered: int = 0
    problems: list[AnswerProblem] = field(default_factory=list)


def _cell(col: str, row: int) -> str:
    from openpyxl.utils import get_column_letter

    return f"{col} ({get_column_letter(COL[col])}{row})"


def _float(v) -> float | None:
    if v is None or v == "":
        return None
    return float(v)


def _text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, (datetime, date)):
        return v.strftime("%Y-%m-%d")
    s = str(v).strip()
    return s or None


def _number(v) -> float | None:
    """A typed number, or text that is one (full-width digits and thousands separators allowed); None if not."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    s = str(v).strip().translate(str.maketrans("０１２３４５６７８９．－", "0123456789.-")).replace(",", "")
    try:
        return float(s)
    except ValueError:
        return None


def read_workbook(path: Path) -> ReturnedWorkbook:
    """Parse a returned workbook: its answers, or every problem of the file (the file is then refused whole)."""
    data = path.read_bytes()
    wb_out = ReturnedWorkbook(path=path, name=path.name, sha256=hashlib.sha256(data).hexdigest())
    P = wb_out.problems

    def problem(row, column, message, sheet=SHEET):
        P.append(AnswerProblem(path.name, sheet, row, column, message))

    try:
        from openpyxl import load_workbook

        wb = load_workbook(path, data_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is a problem of the file
        problem(None, None, f"无法读取该工作簿 / not a readable XLSX file: {type(e).__name__}", sheet=None)
        return wb_out
    if SHEET not in wb.sheetnames or KEYS_SHEET not in wb.sheetnames:
        problem(None, None, "不是本系统导出的核查表（缺少核查表或隐藏的键值表）/ not a query workbook exported by "
                            "junheng verify export", sheet=None)
        return wb_out
    ks = wb[KEYS_SHEET]
    krows = list(ks.iter_rows(values_only=True))
    if not krows or krows[0][:2] != ("format", FORMAT):
        problem(None, None, "键值表格式不符 / the hidden keys sheet is not in the expected format", sheet=KEYS_SHEET)
        return wb_out
    wb_out.year, wb_out.county_code = int(krows[0][3]), str(krows[0][5])
    keys = {}
    for kr in krows[2:]:
        k = dict(zip(KEY_FIELDS, kr))
        if k.get("row") is None:
            continue
        keys[int(k["row"])] = k
    ws = wb[SHEET]
    header = [ws.cell(HEADER_ROW, i).value for i in range(1, len(HEADERS) + 1)]
    if header != HEADERS:
        problem(HEADER_ROW, None, "表头被改动 / the header row was changed")
        return wb_out
    last = max([*keys, ws.max_row])
    for r in range(FIRST_ROW, last + 1):
        get = {h: ws.cell(r, COL[h]).value for h in HEADERS}
        verdict_text = _text(get["核实结果"])
        value_raw = get["更正值"]
        note = _text(get["说明"])
        answered = any(x is not None for x in (verdict_text, _text(value_raw), note))
        k = keys.get(r)
        if k is None:
            if answered or any(_text(get[h]) for h in CHECKED):
                problem(r, None, "此行不在导出的核查清单中（插入或移动的行）/ this row is not one that was exported "
                                 "(inserted or moved)")
            continue
        visible = _visible(_text(get["学校标识码"]), _text(get["规则编号"]), _text(get["字段"]),
                           _number(get["填报值"]) if get["填报值"] is not None else None)
        if visible != k["visible"]:
            changed = [h for h, now, then in zip(CHECKED, visible.split("|"), str(k["visible"]).split("|"))
                       if now != then]
            for h in changed:
                problem(r, _cell(h, r), "答复列以外的单元格被改动（或行被排序、移动），不予采信 / a cell outside the answer "
                                        "columns was changed (or rows were sorted or moved): not trusted")
            continue
        if not answered:
            wb_out.unanswered += 1
            continue
        if verdict_text is None:
            problem(r, _cell("核实结果", r), "填写了更正值或说明但未选择核实结果 / a value or note without a verdict "
                                              "(确认无误 or 更正)")
            continue
        if verdict_text not in VERDICTS:
            problem(r, _cell("核实结果", r), f"核实结果应为“确认无误”或“更正”，而不是“{verdict_text}” / the verdict must be "
                                              "确认无误 or 更正")
            continue
        verdict = VERDICTS[verdict_text]
        corrected = None
        if verdict == "corrected":
            if _text(value_raw) is None:
                problem(r, _cell("更正值", r), "选择了“更正”但未填写更正值 / 更正 without a corrected value")
                continue
            corrected = _number(value_raw)
            fname = str(k["field"])
            if corrected is None or not math.isfinite(corrected):
                problem(r, _cell("更正值", r), f"更正值不是数值：“{value_raw}” / the corrected value is not a number")
                continue
            limit = number_limit(BY_NAME[fname]) if fname in BY_NAME else 1e7
            if corrected < 0 or corrected > limit:
                problem(r, _cell("更正值", r), f"更正值 {corrected:g} 超出该字段的物理范围 0–{limit:g}（单位："
                                                f"{unit_of(fname) if fname in BY_NAME else ''}）/ outside the column's "
                                                "physical range")
                continue
        elif _text(value_raw) is not None:
            problem(r, _cell("更正值", r), "填写了更正值但核实结果不是“更正” / a corrected value without 更正")
            continue
        census_value, shown_value = _float(k["census_value"]), _float(k["shown_value"])
        fp = fingerprint(int(k["year"]), str(k["school_code"]), str(k["rule_id"]), str(k["field"]), census_value,
                         shown_value)
        if fp != k["fingerprint"]:
            problem(r, None, "隐藏键值被改动 / the hidden keys of this row were changed", sheet=KEYS_SHEET)
            continue
        wb_out.answers.append(Answer(
            row=r, year=int(k["year"]), county_code=str(k["county_code"]), school_code=str(k["school_code"]),
            rule_id=str(k["rule_id"]), field=str(k["field"]), verdict=verdict, corrected_value=corrected, note=note,
            answered_by=_text(get["填报人"]), answered_on=_text(get["填报日期"]), census_value=census_value,
            shown_value=shown_value, fingerprint=fp))
    seen: dict[tuple, tuple[int, float]] = {}
    for a in wb_out.answers:
        if a.verdict != "corrected":
            continue
        key = (a.year, a.school_code, a.field)
        if key in seen and seen[key][1] != a.corrected_value:
            problem(a.row, _cell("更正值", a.row), f"同一学校同一字段在第{seen[key][0]}行给出了不同的更正值 / a different "
                                                    f"corrected value for the same school and field in row {seen[key][0]}")
        seen.setdefault(key, (a.row, a.corrected_value))
    P.sort(key=lambda p: (p.row or 0, p.column or ""))
    return wb_out
