"""The verification loop (issue 15) end to end with real processes and real workbooks: `junheng run` on one county of
the bundled sample (常山县 330822, 2022–2023), `junheng verify export`, the workbooks filled with openpyxl as a county
would (every planted slip of the generator's answer key corrected with its true value, every other warning
confirmed), `junheng verify import`, then refused workbooks, a reload of the census files, and the sensor."""

from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path

import duckdb
import pytest
from openpyxl import load_workbook

import marts_reference
from loads import junheng, published_digest
from test_end_to_end import reference_schools

REPO = Path(__file__).resolve().parents[1]
COUNTY = "330822"
YEARS = (2022, 2023)
SHEET, KEYS = "核查表", "_keys"
C = {"code": 2, "rule": 4, "field": 6, "value": 7, "verdict": 14, "corrected": 15, "note": 16, "who": 17, "when": 18}


def answer_key() -> dict[tuple, float]:
    with (REPO / "data" / "answer_key.csv").open(encoding="utf-8") as fh:
        return {(int(r["year"]), r["school_code"], r["field"]): float(r["true_value"]) for r in csv.DictReader(fh)
                if r["county_code"] == COUNTY}


def q(wh: Path, sql: str, params=None) -> list[tuple]:
    with duckdb.connect(str(wh), read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


def export(wh: Path, year: int, out: Path) -> Path:
    r = junheng("verify", "export", "--year", str(year), "--county", COUNTY, "--warehouse", str(wh), "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    return out / f"核查表_{year}_{COUNTY}.xlsx"


def rows_of(path: Path) -> list[dict]:
    ws = load_workbook(path)[SHEET]
    return [{k: ws.cell(r, c).value for k, c in C.items()} | {"row": r} for r in range(4, ws.max_row + 1)]


def fill(path: Path, dst: Path, answer) -> Path:
    """answer(row dict) -> (verdict, corrected value) or None (left unanswered)."""
    wb = load_workbook(path)
    ws = wb[SHEET]
    for row in rows_of(path):
        a = answer(row)
        if a is None:
            continue
        verdict, value = a
        ws.cell(row["row"], C["verdict"], verdict)
        ws.cell(row["row"], C["corrected"], value)
        ws.cell(row["row"], C["note"], "已核对台账")
        ws.cell(row["row"], C["who"], "县教育局 李四")
        ws.cell(row["row"], C["when"], "2026-11-20")
    wb.save(dst)
    return dst


def import_(wh: Path, data: Path, *files: Path):
    return junheng("verify", "import", *map(str, files), "--warehouse", str(wh), "--data-dir", str(data), "--no-plans")


@pytest.fixture(scope="module")
def loop(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("verify")
    data = root / "data"
    for year in YEARS:
        for f in sorted((REPO / "data" / "census" / str(year)).glob(f"{COUNTY}_*")):
            dst = data / "census" / str(year) / f.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, dst)
    wh = root / "junheng.duckdb"
    t0 = time.time()
    r = junheng("run", "--no-plans", "--data-dir", str(data), "--warehouse", str(wh))
    assert r.returncode == 0, r.stdout + r.stderr
    before = {y: q(wh, "select school_code, rule_id, field from marts.submission_flags where year = ? and "
                       "severity = 'warning' order by all", [y]) for y in YEARS}
    blank = {y: export(wh, y, root / "out") for y in YEARS}
    pristine = {y: shutil.copy(blank[y], root / f"blank_{y}.xlsx") for y in YEARS}
    key = answer_key()

    answered = {}
    for y in YEARS:
        def ans(row, y=y):
            k = (y, row["code"], FIELD_OF[row["field"]])
            if y == 2022:  # the county "corrects" the negative count with an implausible figure: flagged again
                return ("更正", 5_000_000) if k in key else ("确认无误", None)
            return ("更正", key[k]) if k in key else ("确认无误", None)
        answered[y] = fill(blank[y], root / f"answered_{y}.xlsx", ans)
    r = import_(wh, data, answered[2023], answered[2022])
    assert r.returncode == 0, r.stdout + r.stderr
    return {"root": root, "data": data, "wh": wh, "before": before, "blank": pristine, "answered": answered,
            "import_stdout": r.stdout, "key": key, "load_seconds": time.time() - t0}


from junheng.lib.schema import CENSUS_COLUMNS  # noqa: E402

FIELD_OF = {c.zh: c.name for c in CENSUS_COLUMNS}


def test_workbook_locks_everything_but_the_answers_and_hides_its_keys(loop):
    wb = load_workbook(loop["blank"][2023])
    ws, keys = wb[SHEET], wb[KEYS]
    assert keys.sheet_state == "veryHidden" and ws.protection.sheet
    headers = [ws.cell(3, c).value for c in range(1, 19)]
    assert headers[:3] == ["序号", "学校标识码", "学校名称"] and headers[-5:] == ["核实结果", "更正值", "说明", "填报人", "填报日期"]
    for c in range(1, 19):
        assert ws.cell(4, c).protection.locked == (c < 14), headers[c - 1]
    dv = [d for d in ws.data_validations.dataValidation if d.type == "list"]
    assert dv and dv[0].formula1 == '"确认无误,更正"' and "N4" in str(dv[0].sqref)
    rows = rows_of(loop["blank"][2023])
    # every open warning of the year, one row per school, rule and field, with the rule's Chinese "how to resolve"
    assert sorted((r["code"], r["rule"], FIELD_OF[r["field"]]) for r in rows) == loop["before"][2023]
    resolve = ws.cell(4, 13).value
    assert resolve and any("\u4e00" <= ch <= "\u9fff" for ch in resolve)
    assert ws.cell(4, 8).value and ws.cell(4, 9).value is not None  # unit, last year's value


def test_corrected_slips_give_the_cvs_of_the_true_values(loop):
    wh, key = loop["wh"], loop["key"]
    assert "已导入 imported" in loop["import_stdout"]
    schools = [s for s in reference_schools(loop["data"]) if s["year"] == 2023]
    corrected = 0
    for s in schools:
        for (year, code, field), true in key.items():
            if year == 2023 and code == s["school_code"]:
                s[field] = true
                corrected += 1
    assert corrected >= 2
    ref = marts_reference.compute(schools)
    got = {r[:5]: r[5:] for r in q(wh, "select county_code, year, level, method, indicator, county_value, cv "
                                       "from marts.county_indicator_cv where year = 2023")}
    assert set(got) == set(ref.cv)
    for k, expected in ref.cv.items():
        x, cv = got[k]
        assert x == pytest.approx(expected.county_value, rel=1e-9), k
        assert (cv is None and expected.cv is None) or cv == pytest.approx(expected.cv, rel=1e-9, abs=1e-12), k
    # the submitted census is untouched: the corrections are data beside it
    for (year, code, field), true in key.items():
        if year == 2023:
            (raw,), = q(wh, f"select {field} from raw.census_schools where year = 2023 and school_code = ?", [code])
            (official,), = q(wh, f"select {field} from staging.stg_census_schools where year = 2023 and school_code = ?",
                             [code])
            assert raw != true and official == true


def test_confirmed_values_stand_and_are_no_longer_warnings_to_answer(loop):
    wh, key = loop["wh"], loop["key"]
    confirmed = q(wh, "select school_code, rule_id, field from marts.flag_verification where year = 2023 and "
                      "status = 'confirmed' order by all")
    assert confirmed and all((2023, c, f) not in key for c, _, f in confirmed)
    for code, rule, field in confirmed:
        # the value stands as submitted and the flag stays visible in submission_flags
        (raw, official), = q(wh, f"select r.{field}, s.{field} from raw.census_schools r join staging.stg_census_schools s "
                                 "using (year, school_code) where year = 2023 and school_code = ?", [code])
        assert raw == official
        assert q(wh, "select count(*) from marts.submission_flags where year = 2023 and school_code = ? and rule_id = ? "
                     "and field = ? and severity = 'warning'", [code, rule, field]) == [(1,)]
        # a confirmed value is real: not left out of the clean figures, not listed as a school to check
        assert q(wh, "select count(*) from marts.flagged_school_impact where year = 2023 and school_code = ? "
                     "and field = ?", [code, field]) == [(0,)]
    # re-asking: nothing of 2023 is open any more, so its workbook lists nothing
    again = export(wh, 2023, loop["root"] / "again")
    assert rows_of(again) == []


def test_flag_status_and_corrections_marts_say_so(loop):
    wh, key = loop["wh"], loop["key"]
    status = {r[0]: r[1:] for r in q(wh, "select year, open_flags, confirmed_flags, corrected_flags, settled, days_open "
                                         "from marts.flag_status where county_code = ?", [COUNTY])}
    slips_2023 = {(c, f) for (y, c, f) in key if y == 2023}
    open_, confirmed, corrected, settled, days = status[2023]
    assert (open_, corrected, settled, days) == (0, len(slips_2023), True, None) and confirmed >= 1
    rows = q(wh, "select school_code, field, submitted_value, corrected_value, in_force, value_in_force, answered_by, "
                 "source_file, source_sha256, source_row, import_run_id from marts.census_corrections where year = 2023")
    assert {(r[0], r[1]) for r in rows if r[4]} == slips_2023
    for code, field, submitted, corrected, in_force, in_force_value, who, src, sha, row, run in rows:
        assert corrected == key[(2023, code, field)] and in_force_value == corrected and submitted != corrected
        assert who == "县教育局 李四" and src == "answered_2023.xlsx" and len(sha) == 64 and row >= 4 and run
    assert q(wh, "select count(*) from raw.flag_answers where verdict = 'corrected' and year = 2023")[0][0] == len(rows)


def test_county_and_province_reports_show_the_flag_status(loop):
    out = loop["root"] / "reports"
    for args in (["--county", COUNTY], []):
        r = junheng("report", *args, "--year", "2023", "--warehouse", str(loop["wh"]), "--out", str(out))
        assert r.returncode == 0, r.stdout + r.stderr
    county = (out / f"county_{COUNTY}_2023.html").read_text(encoding="utf-8")
    assert 'id="verification"' in county and "已办结，数据可定稿" in county
    province = next(p for p in out.glob("*.html") if not p.name.startswith("county_")).read_text(encoding="utf-8")
    assert 'id="verification-section"' in province and "已办结" in province
    sheets = load_workbook(out / f"county_{COUNTY}_2023.xlsx").sheetnames
    assert "数据核查" in sheets


def test_an_implausible_correction_is_flagged_again_and_asked_again(loop):
    wh = loop["wh"]
    (code, field), = q(wh, "select distinct school_code, field from marts.census_corrections where year = 2022")
    assert (2022, code, field) in loop["key"]
    assert q(wh, f"select {field} from staging.stg_census_schools where year = 2022 and school_code = ?",
             [code]) == [(5_000_000,)]
    open_2022 = q(wh, "select rule_id from marts.flag_verification where year = 2022 and school_code = ? and "
                      "status = 'open'", [code])
    assert open_2022, "the corrected value (5,000,000 computers) must be flagged again"
    rows = rows_of(export(wh, 2022, loop["root"] / "again"))
    assert {(r["code"], r["value"]) for r in rows} == {(code, 5_000_000)}
    (open_, corrected), = q(wh, "select open_flags, corrected_flags from marts.flag_status where year = 2022")
    assert open_ >= 1 and corrected == 1


def _tamper_keys(ws_keys, row: int, **changes) -> None:
    from junheng.lib.verify.workbook import KEY_FIELDS, fingerprint

    for kr in ws_keys.iter_rows(min_row=3):
        if kr[0].value == row:
            k = {name: cell for name, cell in zip(KEY_FIELDS, kr)}
            for name, v in changes.items():
                k[name].value = v
            k["fingerprint"].value = fingerprint(*(k[n].value for n in ("year", "school_code", "rule_id", "field",
                                                                        "census_value", "shown_value")))
            if "school_code" in changes or "rule_id" in changes:
                vis = str(k["visible"].value).split("|")
                vis[0], vis[1] = str(k["school_code"].value), str(k["rule_id"].value)
                k["visible"].value = "|".join(vis)


def test_refused_workbooks_name_every_problem_and_change_nothing(loop):
    root, wh = loop["root"], loop["wh"]
    before = published_digest(wh)
    answers_before = q(wh, "select count(*) from raw.flag_answers")
    # (a) the workbook exported before the corrections: every row a different refusal
    wb = load_workbook(loop["blank"][2023])
    ws = wb[SHEET]
    rows = rows_of(loop["blank"][2023])
    slip_rows = [r["row"] for r in rows if (2023, r["code"], FIELD_OF[r["field"]]) in loop["key"]]
    other = [r["row"] for r in rows if r["row"] not in slip_rows][0]
    r1, r2 = slip_rows[0], slip_rows[1]
    ws.cell(r1, C["verdict"], "更正")                                   # 更正 without a value
    ws.cell(r2, C["verdict"], "确认无误"); ws.cell(r2, C["corrected"], 12)  # a value without 更正
    ws.cell(other, C["verdict"], "更正"); ws.cell(other, C["corrected"], 1e12)  # beyond the column's physical range
    n = ws.max_row
    ws.cell(n, C["value"], 1)                                           # a visible cell outside the answers edited
    ws.cell(n, C["verdict"], "确认无误")
    a = root / "refused_a.xlsx"
    wb.save(a)
    # (b) unknown school, unknown rule, a value that is not a number, a stale answer (the value was corrected since)
    wb = load_workbook(loop["blank"][2023])
    ws, keys = wb[SHEET], wb[KEYS]
    _tamper_keys(keys, 4, school_code="1330822999")
    ws.cell(4, C["code"]).value = "1330822999"
    ws.cell(4, C["verdict"], "确认无误")
    _tamper_keys(keys, 5, rule_id="R_NO_SUCH_RULE")
    ws.cell(5, C["rule"]).value = "R_NO_SUCH_RULE"
    ws.cell(5, C["verdict"], "确认无误")
    ws.cell(6, C["verdict"], "更正"); ws.cell(6, C["corrected"], "一百")
    stale = slip_rows[-1]
    ws.cell(stale, C["verdict"], "确认无误")
    b = root / "refused_b.xlsx"
    wb.save(b)
    r = import_(wh, loop["data"], a, b)
    out = r.stdout
    assert r.returncode == 1, out + r.stderr
    assert published_digest(wh) == before and q(wh, "select count(*) from raw.flag_answers") == answers_before
    assert "拒绝导入 refused refused_a.xlsx" in out and "拒绝导入 refused refused_b.xlsx" in out
    for row, column, words in [
        (r1, "更正值 (O", "未填写更正值"), (r2, "更正值 (O", "核实结果不是“更正”"), (other, "更正值 (O", "物理范围"),
        (n, "填报值 (G", "答复列以外"),
    ]:
        assert any(f"refused_a.xlsx [核查表], 第{row}行" in line and column in line and words in line
                   for line in out.splitlines()), (row, words, out)
    for row, column, words in [
        (4, "学校标识码 (B", "unknown school"), (5, "规则编号 (D", "unknown rule"), (6, "更正值 (O", "不是数值"),
        (stale, "填报值 (G", "stale"),
    ]:
        assert any(f"refused_b.xlsx [核查表], 第{row}行" in line and column in line and words in line
                   for line in out.splitlines()), (row, words, out)


def test_reimporting_the_same_file_changes_nothing(loop):
    before = q(loop["wh"], "select count(*) from raw.flag_answers")
    r = import_(loop["wh"], loop["data"], loop["answered"][2023])
    assert r.returncode == 0 and "already imported" in r.stdout, r.stdout + r.stderr
    assert q(loop["wh"], "select count(*) from raw.flag_answers") == before


def test_reloading_the_census_keeps_answers_that_apply_and_reopens_changed_values(loop):
    wh, data, key = loop["wh"], loop["data"], loop["key"]
    slips = sorted((c, f) for (y, c, f) in key if y == 2023)
    (changed_code, changed_field), (kept_code, kept_field) = slips[0], slips[1]
    path, = (data / "census" / "2023").glob(f"{COUNTY}_*")
    assert path.suffix == ".xlsx"
    wb = load_workbook(path)
    ws = wb["schools"] if "schools" in wb.sheetnames else wb["学校"]
    zh = {c.name: c.zh for c in CENSUS_COLUMNS}
    header_row, cols = next((c.row, {x.value: x.column for x in ws[c.row]}) for row in ws.iter_rows()
                            for c in row if c.value in ("学校标识码", "school_code"))
    code_col = cols.get("school_code") or cols["学校标识码"]
    field_col = cols.get(changed_field) or cols[zh[changed_field]]
    hits = 0
    for row in ws.iter_rows(min_row=header_row + 1):
        if str(row[code_col - 1].value) == changed_code:
            row[field_col - 1].value = 999  # resubmitted, and still a slip
            hits += 1
    assert hits == 1
    wb.save(path)
    r = junheng("run", "--no-plans", "--data-dir", str(data), "--warehouse", str(wh), "--year", "2023")
    assert r.returncode == 0, r.stdout + r.stderr
    rows = {(c, f): (applies, in_force) for c, f, applies, in_force in q(
        wh, "select school_code, field, still_applies, in_force from marts.census_corrections where year = 2023")}
    assert rows[(kept_code, kept_field)] == (True, True) and rows[(changed_code, changed_field)] == (False, False)
    assert q(wh, f"select {changed_field} from staging.stg_census_schools where year = 2023 and school_code = ?",
             [changed_code]) == [(999,)]
    assert q(wh, f"select {kept_field} from staging.stg_census_schools where year = 2023 and school_code = ?",
             [kept_code]) == [(key[(2023, kept_code, kept_field)],)]
    statuses = {s for (s,) in q(wh, "select status from marts.flag_verification where year = 2023 and school_code = ?",
                                [changed_code])}
    assert statuses == {"open"}
    # the confirmed values did not change: their confirmations still apply
    assert q(wh, "select count(*) from marts.flag_verification where year = 2023 and status = 'confirmed'")[0][0] >= 1
    (open_, corrected), = q(wh, "select open_flags, corrected_flags from marts.flag_status where year = 2023")
    assert open_ >= 1 and corrected == 1


def test_the_sensor_asks_for_new_workbooks_in_the_answers_folder(loop, monkeypatch):
    import dagster as dg

    monkeypatch.setenv("JUNHENG_DATA_DIR", str(loop["data"]))
    monkeypatch.setenv("JUNHENG_WAREHOUSE", str(loop["wh"]))
    import junheng.definitions  # noqa: F401 - first: it silences Dagster's beta warnings
    from junheng.defs.verify import answers_files_sensor

    folder = loop["data"] / "answers" / "2023"
    folder.mkdir(parents=True)
    shutil.copy(loop["answered"][2023], folder / "常山县.xlsx")
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(instance=instance)
        req = answers_files_sensor(ctx)
        assert isinstance(req, dg.RunRequest)
        assert req.run_config["ops"]["raw__flag_answers"]["config"]["files"] == [str((folder / "常山县.xlsx").resolve())]
        assert req.run_config["ops"]["raw_year_files"]["config"]["years"] == []
        assert req.tags["dagster/asset_partition_range_start"] == "2023"
        again = answers_files_sensor(dg.build_sensor_context(instance=instance, cursor=ctx.cursor))
        assert isinstance(again, dg.SkipReason)
