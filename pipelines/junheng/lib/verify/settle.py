"""What the warehouse knows about questions and answers (issue 15): the open questions of a county (export), and the
checks and the append of returned answers (import, inside a load's private copy: defs/verify)."""

from __future__ import annotations

import hashlib
import math
from datetime import datetime
from pathlib import Path

import pandas as pd

from junheng.lib.verify.store import ANSWER_COLUMNS, MEASURES
from junheng.lib.verify.workbook import AnswerProblem, Question, ReturnedWorkbook, _cell, write_workbook


def _field_case(alias: str) -> str:
    return "CASE q.field " + " ".join(f"WHEN '{m}' THEN {alias}.{m}" for m in MEASURES) + " END"


def _nan_to_none(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def open_questions(conn, year: int, counties: list[str] | None = None) -> dict[str, list[Question]]:
    """Per county, its open questions of `year` (marts.flag_verification status open), with what the workbook shows."""
    from junheng.defs.quality.rules import load_rules

    rules = load_rules()
    q = conn.execute(f"""
        SELECT q.year, q.county_code, c.county_name, q.school_code, c.school_name, q.rule_id, q.field,
               {_field_case('r')} AS census_value, {_field_case('c')} AS shown_value,
               {_field_case('p')} AS last_year_value, f.value AS flag_value, f.expected, f.detail
        FROM marts.flag_verification q
        JOIN raw.census_schools_corrected c ON c.year = q.year AND c.school_code = q.school_code
        JOIN raw.census_schools r ON r.year = q.year AND r.school_code = q.school_code
        LEFT JOIN raw.census_schools_corrected p ON p.year = q.year - 1 AND p.school_code = q.school_code
        LEFT JOIN marts.submission_flags f ON f.year = q.year AND f.school_code = q.school_code
             AND f.rule_id = q.rule_id AND f.field = q.field AND f.severity = 'warning'
        WHERE q.status = 'open' AND q.year = ?
        ORDER BY q.county_code, q.school_code, q.rule_id, q.field""", [year]).df()
    out: dict[str, list[Question]] = {}
    for rec in q.to_dict("records"):
        if counties and rec["county_code"] not in counties:
            continue
        rule = rules.get(rec["rule_id"])
        zh = rule.description.get("zh", {}) if rule else {}
        out.setdefault(rec["county_code"], []).append(Question(
            year=int(rec["year"]), county_code=rec["county_code"], county_name=_nan_to_none(rec["county_name"]) or "",
            school_code=rec["school_code"], school_name=_nan_to_none(rec["school_name"]) or "",
            rule_id=rec["rule_id"], field=rec["field"], census_value=_nan_to_none(rec["census_value"]),
            shown_value=_nan_to_none(rec["shown_value"]), last_year_value=_nan_to_none(rec["last_year_value"]),
            flag_value=_nan_to_none(rec["flag_value"]), expected=_nan_to_none(rec["expected"]),
            detail=_nan_to_none(rec["detail"]), what=zh.get("what", ""), resolve=zh.get("resolve", ""),
            rule_unit=str(rule.get("unit", "") if rule else "")))
    return out


def export(conn, year: int, out_dir: Path, counties: list[str] | None = None) -> list[tuple[str, int, Path]]:
    """One workbook per county with open questions (and, for a county asked for by name, one even when none is
    open: it then lists nothing). Returns (county, questions, path)."""
    questions = open_questions(conn, year, counties)
    wanted = list(counties) if counties else sorted(questions)
    written = []
    for county in wanted:
        qs = questions.get(county, [])
        name = qs[0].county_name if qs else ""
        path = out_dir / f"核查表_{year}_{county}.xlsx"
        write_workbook(path, year, county, name, qs)
        written.append((county, len(qs), path))
    return written


def check_against_warehouse(conn, wb: ReturnedWorkbook) -> list[AnswerProblem]:
    """Problems only the warehouse can tell: unknown school or rule, and answers to a flag that no longer exists
    (re-submitted, corrected or answered since the export: the values the workbook was made from changed)."""
    from junheng.defs.quality.rules import load_rules

    from junheng.lib.verify.workbook import SHEET

    if not wb.answers:
        return []
    rules = load_rules()
    answers_df = pd.DataFrame([{"row": a.row, "year": a.year, "county_code": a.county_code, "school_code": a.school_code,
                          "rule_id": a.rule_id, "field": a.field, "census_value": a.census_value,
                          "shown_value": a.shown_value} for a in wb.answers])
    answers_df = answers_df.astype({"census_value": "float64", "shown_value": "float64"})
    found = conn.execute(f"""
        SELECT q.row, r.school_code IS NOT NULL AS school_known, r.county_code AS county_now,
               {_field_case('r')} AS census_now, {_field_case('c')} AS shown_now,
               EXISTS (SELECT 1 FROM marts.submission_flags f WHERE f.year = q.year AND f.school_code = q.school_code
                       AND f.rule_id = q.rule_id AND f.field = q.field AND f.severity = 'warning') AS flag_exists
        FROM answers_df q
        LEFT JOIN raw.census_schools r ON r.year = q.year AND r.school_code = q.school_code
        LEFT JOIN raw.census_schools_corrected c ON c.year = q.year AND c.school_code = q.school_code
        ORDER BY q.row""").df()
    by_row = {int(r["row"]): r for r in found.to_dict("records")}
    problems = []
    for a in wb.answers:
        f = by_row[a.row]
        where = dict(file=wb.name, sheet=SHEET, row=a.row)
        if a.year != wb.year or a.county_code != wb.county_code:
            problems.append(AnswerProblem(**where, column=None, message="该行的年度或县与核查表不符 / year or county of "
                                                                        "the row differs from the workbook's"))
        elif not f["school_known"] or f["county_now"] != a.county_code:
            problems.append(AnswerProblem(**where, column=_cell("学校标识码", a.row),
                                          message=f"{a.year}年{a.county_code}县没有学校 {a.school_code} / unknown school"))
        elif a.rule_id not in rules:
            problems.append(AnswerProblem(**where, column=_cell("规则编号", a.row),
                                          message=f"未知规则 {a.rule_id} / unknown rule"))
        elif a.field not in MEASURES:
            problems.append(AnswerProblem(**where, column=_cell("字段", a.row),
                                          message=f"未知字段 {a.field} / unknown field"))
        elif (not _same(f["census_now"], a.census_value) or not _same(f["shown_now"], a.shown_value)
              or not f["flag_exists"]):
            problems.append(AnswerProblem(
                **where, column=_cell("填报值", a.row),
                message=("该标记已不存在：导出后数值已重新报送、更正或已答复（导出时 "
                         f"{_fmt(a.shown_value)}，现为 {_fmt(f['shown_now'])}），请重新导出核查表 / the flag no longer "
                         "exists (the value changed since the export): this answer is stale, export again")))
    return problems


def _same(a, b) -> bool:
    a, b = _nan_to_none(a), _nan_to_none(b)
    return (a is None and b is None) or (a is not None and b is not None and float(a) == float(b))


def _fmt(v) -> str:
    v = _nan_to_none(v)
    return "空" if v is None else f"{float(v):g}"


def already_imported(conn, sha256: str) -> bool:
    return bool(conn.execute("SELECT count(*) FROM raw.flag_answers WHERE source_sha256 = ?", [sha256]).fetchone()[0])


def append_answers(conn, wb: ReturnedWorkbook, run_id: str, now: datetime) -> int:
    recs = []
    for a in wb.answers:
        recs.append({
            "answer_id": hashlib.sha256(f"{wb.sha256}:{a.row}".encode()).hexdigest()[:24],
            "year": a.year, "county_code": a.county_code, "school_code": a.school_code, "rule_id": a.rule_id,
            "field": a.field, "verdict": a.verdict, "corrected_value": a.corrected_value, "note": a.note,
            "answered_by": a.answered_by, "answered_on": a.answered_on, "census_value": a.census_value,
            "shown_value": a.shown_value, "fingerprint": a.fingerprint, "source_file": wb.name,
            "source_sha256": wb.sha256, "source_sheet": "核查表", "source_row": a.row, "imported_at": now,
            "import_run_id": run_id,
        })
    if not recs:
        return 0
    names = [n for n, _, _ in ANSWER_COLUMNS]
    df = pd.DataFrame(recs, columns=names).astype({"corrected_value": "float64", "census_value": "float64",  # noqa: F841
                                                   "shown_value": "float64"})
    conn.execute(f"INSERT INTO raw.flag_answers ({', '.join(names)}) SELECT {', '.join(names)} FROM df")
    return len(recs)
