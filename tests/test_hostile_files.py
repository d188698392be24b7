"""Issue 11: every file anyone can put in a data folder either loads exactly what its sender sees, or refuses its year
with every problem named by file, row (or cell) and column, and nothing changes. Never a traceback, never a silent
drop, never a value the sender did not write.

Most cases are `read_year` on a small data folder (fast). One `junheng run` per category (numbers and codes, XLSX,
encodings, files) checks the same through the CLI on a copy of a published warehouse: exit 1, the place named in the
summary, the published warehouse and its Data Docs byte-identical, no `.building` copy left. The bounded-resources
category runs under an address-space cap (RLIMIT_AS): a zip bomb, a dimension bomb and a 100 MB line are refused,
the process is not killed.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import junheng.lib.ingest.files as files_module
from census_files import SCHOOLS, census_rows, write_csv, write_xlsx
from hostile_files import (
    DATA_SHEET,
    csv_bytes,
    census_xlsx,
    dimension_bomb_xlsx,
    formula_xlsx,
    hidden_sheet_xlsx,
    lie_about_size,
    rewrite_members,
    stale_dimension_xlsx,
    two_sheet_xlsx,
    zip_bomb_xlsx,
)
from junheng.lib.ingest import Problem, YearRefused, read_year
from junheng.lib.ingest.limits import Limits
from junheng.lib.ingest.submission import available_years, stray_entries
from junheng.reports.query import main_query
from loads import REPO, published_digest

YEAR = 2021


def refused(data: Path, year: int = YEAR, limits: Limits | None = None) -> list[Problem]:
    with pytest.raises(YearRefused) as exc:
        read_year(data, year, limits)
    message = str(exc.value)
    for p in exc.value.problems:  # what the run log and the summary print names the same places
        assert p.file in message and (p.row is None or f"row {p.row}" in message)
    return exc.value.problems


def places(problems: list[Problem]) -> set[tuple]:
    return {(p.file, p.row, p.column) for p in problems}


def put(data: Path, rel: str, content: bytes) -> Path:
    path = data / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def school(**changes) -> dict:
    return dict(SCHOOLS[0], **changes)


# ---------------------------------------------------------------- numbers as people type them


def test_full_width_digits_and_signs_are_read_as_the_number(tmp_path):
    data = tmp_path / "data"
    s = school(primary_students="１，２３４", junior_students="０", books="３００００", computers="＋１５０",
               teaching_aux_area_m2="５６７８．５", equipment_value_10k_yuan="－３１０.２５")
    write_csv(data / f"census/{YEAR}/a.csv", census_rows("zh", [s]))
    row = read_year(data, YEAR).census.row(0, named=True)
    assert (row["primary_students"], row["junior_students"], row["books"], row["computers"]) == (1234, 0, 30000, 150)
    assert row["teaching_aux_area_m2"] == 5678.5
    assert row["equipment_value_10k_yuan"] == -310.25  # loads; a negative value is flagged, not refused (spec §4)
    assert row["school_name"] == "祁门县城关小学"  # text is kept as written


def test_superscripts_circled_and_other_scripts_digits_are_refused_not_guessed(tmp_path):
    data = tmp_path / "data"
    s = school(primary_students="10²", computers="①", books="٣٠٠")  # NFKC would make 102, 1 and 300
    write_csv(data / f"census/{YEAR}/a.csv", census_rows("zh", [s]))
    problems = refused(data)
    assert places(problems) == {(f"census/{YEAR}/a.csv", 2, "小学在校生数"), (f"census/{YEAR}/a.csv", 2, "教学用计算机（台）"),
                                (f"census/{YEAR}/a.csv", 2, "图书（册）")}
    assert all("expected a number" in p.message for p in problems)
    assert any("10²" in p.message for p in problems)


def test_values_beyond_the_physical_range_of_their_column_are_refused(tmp_path):
    data = tmp_path / "data"
    rows = [
        school(school_code="3410240001", primary_students="1e308"),  # finite, overflows the marts' sums
        school(school_code="3410240002", junior_students="1e309"),  # inf once parsed
        school(school_code="3410240003", computers="12,000,000"),  # a count above 10^7
        school(school_code="3410240004", sports_area_m2="2e9"),  # 2,000 km²
        school(school_code="3410240005", equipment_value_10k_yuan="1e11"),  # 万元
        school(school_code="3410240006", books="-1e8"),  # negative and impossible
        school(school_code="3410240007", books="inf"),
        school(school_code="3410240008", books="NaN"),
    ]
    write_csv(data / f"census/{YEAR}/a.csv", census_rows("en", rows))
    problems = refused(data)
    f = f"census/{YEAR}/a.csv"
    assert places(problems) == {(f, 2, "primary_students"), (f, 3, "junior_students"), (f, 4, "computers"),
                                (f, 5, "sports_area_m2"), (f, 6, "equipment_value_10k_yuan"), (f, 7, "books"),
                                (f, 8, "books"), (f, 9, "books")}
    by_row = {p.row: p.message for p in problems}
    assert "physical range" in by_row[2] and "1e308" in by_row[2] and "10,000,000" in by_row[2]
    assert "physical range" in by_row[5] and "1,000,000,000" in by_row[5]
    assert "expected a number" in by_row[8] and "expected a number" in by_row[9]


def test_implausible_but_possible_values_still_load_to_be_flagged(tmp_path):
    data = tmp_path / "data"
    s = school(equipment_value_10k_yuan="3,102,500", books="-300", sports_area_m2="13.5")  # 元 in 万元, 亩
    write_csv(data / f"census/{YEAR}/a.csv", census_rows("en", [s]))
    row = read_year(data, YEAR).census.row(0, named=True)
    assert (row["equipment_value_10k_yuan"], row["books"], row["sports_area_m2"]) == (3102500, -300, 13.5)


def test_number_out_of_range_in_a_county_return_is_refused(tmp_path):
    data = tmp_path / "data"
    write_csv(data / f"census/{YEAR}/a.csv", census_rows("en"))
    put(data, f"county_returns/{YEAR}/r.csv", csv_bytes([["county_code", "teacher_pay_ratio",
                                                           "special_school_funding_per_student"],
                                                          ["341024", "1e309", "８０００"]]))
    assert places(refused(data)) == {(f"county_returns/{YEAR}/r.csv", 2, "teacher_pay_ratio")}


# ---------------------------------------------------------------- codes


def test_full_width_school_code_is_the_code_and_counts_as_a_duplicate(tmp_path):
    data = tmp_path / "data"
    write_csv(data / f"census/{YEAR}/a.csv", census_rows("zh", [school(school_code="０３４１０２４００１",
                                                                         county_code="３４１０２４")]))
    sub = read_year(data, YEAR)
    assert sub.census.select("school_code", "county_code").row(0) == ("0341024001", "341024")
    write_csv(data / f"census/{YEAR}/b.csv", census_rows("zh", [school()]))  # the same school, ASCII digits
    dup = refused(data)
    assert places(dup) == {(f"census/{YEAR}/a.csv", 2, "school_code"), (f"census/{YEAR}/b.csv", 2, "school_code")}


def test_codes_that_are_not_ascii_digits_after_folding_are_refused_with_their_row(tmp_path):
    data = tmp_path / "data"
    rows = [
        school(school_code="٠٣٤١٠٢٤٠٠١"),  # Arabic-Indic digits: \d matches them, [0-9] does not
        school(school_code="0341024OO2"),  # letter O
        school(school_code="0341024\u200b003"),  # a zero-width space inside
        school(school_code="0341024004", county_code="３４１０２"),  # 5 digits once folded
    ]
    write_csv(data / f"census/{YEAR}/a.csv", census_rows("zh", rows))
    problems = refused(data)
    f = f"census/{YEAR}/a.csv"
    assert places(problems) == {(f, 2, "学校标识码"), (f, 3, "学校标识码"), (f, 4, "学校标识码"), (f, 5, "县级行政区划代码")}
    assert any("٠٣٤١٠٢٤٠٠١" in p.message for p in problems)  # the value as written


def test_full_width_enum_and_yes_no_values(tmp_path):
    data = tmp_path / "data"
    header = ["school_code", "school_name", "county_code", "school_type", "ownership", "authority", "urban_rural",
              "primary_students", "junior_students", "year"]
    put(data, f"census/{YEAR}/a.csv", csv_bytes([header, ["3410240001", "甲", "341024", "ｐｒｉｍａｒｙ", "ＰＵＢＬＩＣ",
                                                          "county", "１２２", "1", "0", "２０２１"]]))
    put(data, f"county_returns/{YEAR}/r.csv", csv_bytes([["county_code", "layout_planned"], ["341024", "ＹＥＳ"]]))
    sub = read_year(data, YEAR)
    row = sub.census.row(0, named=True)
    assert (row["school_type"], row["ownership"], row["urban_rural"], row["urban_rural_code"]) == (
        "primary", "public", "town", "122")
    assert sub.county_returns["layout_planned"].to_list() == [True]


# ---------------------------------------------------------------- XLSX as Excel shows it


def test_xlsx_formula_without_a_saved_value_is_refused_with_its_cell(tmp_path):
    data = tmp_path / "data"
    formula_xlsx(data / f"census/{YEAR}/a.xlsx", "J3", "=J2*2")
    problems = refused(data)
    assert places(problems) == {(f"census/{YEAR}/a.xlsx", 3, "初中在校生数")}
    assert "J3" in problems[0].message and "formula without a saved value" in problems[0].message


def test_xlsx_formula_saved_by_excel_loads_its_value_but_not_if_excel_must_recalculate(tmp_path):
    data = tmp_path / "data"
    path = formula_xlsx(data / f"census/{YEAR}/a.xlsx", "J3", "=J2*2", cached="420", full_calc_on_load=False)
    assert read_year(data, YEAR).census["junior_students"].to_list() == [0, 420]
    formula_xlsx(path, "J3", "=J2*2", cached="420", full_calc_on_load=True)
    problems = refused(data)
    assert places(problems) == {(f"census/{YEAR}/a.xlsx", 3, "初中在校生数")}
    assert "fullCalcOnLoad" in problems[0].message and "J3" in problems[0].message


def test_xlsx_formula_in_the_total_line_is_not_a_school(tmp_path):
    data = tmp_path / "data"
    formula_xlsx(data / f"census/{YEAR}/a.xlsx", "K2", "28", total_formula="=SUM(I2:I3)")  # K2: a plain value
    assert read_year(data, YEAR).census.height == 2


def test_xlsx_rows_beyond_a_stale_dimension_are_read(tmp_path):
    data = tmp_path / "data"
    schools = [school(school_code=f"34102400{i:02d}", school_name=f"第{i}小学") for i in range(1, 6)]
    path = stale_dimension_xlsx(data / f"census/{YEAR}/a.xlsx", schools)
    import zipfile

    assert b'<dimension ref="A1:R2"/>' in zipfile.ZipFile(path).read(DATA_SHEET)  # claims one school
    sub = read_year(data, YEAR)
    assert sub.census["school_name"].to_list() == [f"第{i}小学" for i in range(1, 6)]
    assert sub.census["source_row"].to_list() == [2, 3, 4, 5, 6]


def test_xlsx_hidden_first_sheet_is_never_read(tmp_path):
    data = tmp_path / "data"
    hidden_sheet_xlsx(data / f"census/{YEAR}/a.xlsx", hidden=[school(school_name="旧名（隐藏）")], visible=SCHOOLS)
    assert read_year(data, YEAR).census["school_name"].to_list() == [s["school_name"] for s in SCHOOLS]
    # A hidden sheet is not read even when it bears the data sheet's name; the visible one with the header is.
    hidden_sheet_xlsx(data / f"census/{YEAR}/a.xlsx", hidden=[school(school_name="旧名（隐藏）")], visible=SCHOOLS,
                      hidden_title="学校")
    assert read_year(data, YEAR).census["school_name"].to_list() == [s["school_name"] for s in SCHOOLS]


def test_xlsx_with_only_hidden_data_says_so(tmp_path):
    data = tmp_path / "data"
    hidden_sheet_xlsx(data / f"census/{YEAR}/a.xlsx", hidden=SCHOOLS, visible=[])
    path = data / f"census/{YEAR}/a.xlsx"
    import openpyxl

    wb = openpyxl.load_workbook(path)
    wb["Sheet2"].delete_rows(1, 10)
    wb["Sheet2"]["A1"] = "说明：数据在隐藏的工作表里"
    wb.save(path)
    problems = refused(data)
    assert places(problems) == {(f"census/{YEAR}/a.xlsx", None, None)}
    assert "hidden sheets are never read: 旧数据" in problems[0].message


def test_xlsx_two_visible_sheets_with_a_header_are_ambiguous(tmp_path):
    data = tmp_path / "data"
    two_sheet_xlsx(data / f"census/{YEAR}/a.xlsx", SCHOOLS[:1], SCHOOLS[1:])
    problems = refused(data)
    assert places(problems) == {(f"census/{YEAR}/a.xlsx", None, None)}
    assert "“一县”" in problems[0].message and "“二县”" in problems[0].message


def test_xlsx_boolean_cell_in_a_count_is_not_a_number(tmp_path):
    data = tmp_path / "data"
    path = data / f"census/{YEAR}/a.xlsx"
    rows = census_rows("zh")
    write_xlsx(path, rows)
    import openpyxl

    wb = openpyxl.load_workbook(path)
    wb["学校"]["K2"] = True  # 小学班数
    wb.save(path)
    problems = refused(data)
    assert places(problems) == {(f"census/{YEAR}/a.xlsx", 2, "小学班数")} and "TRUE" in problems[0].message


def test_values_under_no_header_and_repeated_extra_headers_are_kept_and_reported(tmp_path):
    data = tmp_path / "data"
    rows = census_rows("en")
    rows[0] += ["备注", "备注", ""]
    rows[1] += ["新建", "扩建", "手写的数"]
    rows[2] += ["", "", ""]
    put(data, f"census/{YEAR}/a.csv", csv_bytes(rows))
    sub = read_year(data, YEAR)
    assert sub.census["extra_columns"].to_list()[0] == '{"备注": "新建", "备注（T列）": "扩建", "U列（无表头）": "手写的数"}'
    assert "U列（无表头）" in sub.warnings[-1]


# ---------------------------------------------------------------- encodings


def test_gb18030_file_with_one_utf8_row_names_the_row(tmp_path):
    data = tmp_path / "data"
    rows = census_rows("zh", [school(school_code=f"341024000{i}", school_name=f"祁门县第{i}小学") for i in range(1, 5)])
    lines = [",".join(c.replace(",", "") for c in r) + "\n" for r in rows]
    put(data, f"census/{YEAR}/a.csv", b"".join(
        line.encode("utf-8" if i == 3 else "gb18030") for i, line in enumerate(lines)))
    problems = refused(data)
    assert places(problems) == {(f"census/{YEAR}/a.csv", 4, None)}
    assert "UTF-8" in problems[0].message and "GB18030" in problems[0].message


def test_utf8_file_with_one_gb18030_row_names_the_row(tmp_path):
    data = tmp_path / "data"
    rows = census_rows("zh", [school(school_code=f"341024000{i}", school_name=f"祁门县第{i}小学") for i in range(1, 5)])
    lines = [",".join(c.replace(",", "") for c in r) + "\r\n" for r in rows]
    put(data, f"census/{YEAR}/a.csv", b"".join(
        line.encode("gb18030" if i == 2 else "utf-8") for i, line in enumerate(lines)))
    problems = refused(data)
    assert places(problems) == {(f"census/{YEAR}/a.csv", 3, None)}
    assert "not valid UTF-8" in problems[0].message


def test_utf8_bom_file_with_invalid_bytes_names_the_rows(tmp_path):
    data = tmp_path / "data"
    body = csv_bytes(census_rows("zh")).split(b"\n")
    body[2] = body[2].replace("祁门".encode(), b"\xff\xfe")
    put(data, f"census/{YEAR}/a.csv", b"\xef\xbb\xbf" + b"\n".join(body))
    problems = refused(data)
    assert places(problems) == {(f"census/{YEAR}/a.csv", 3, None)} and "UTF-8" in problems[0].message


def test_gb18030_title_line_that_happens_to_be_valid_utf8_is_not_a_mixed_file(tmp_path):
    data = tmp_path / "data"
    # "小学" in GBK is D0A1 D1A7: valid UTF-8 by accident (two Cyrillic letters); the file is still GB18030.
    write_csv(data / f"census/{YEAR}/a.csv", census_rows("zh"), "gb18030", title="小学")
    assert read_year(data, YEAR).census["school_name"].to_list() == [s["school_name"] for s in SCHOOLS]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_excel_unicode_text_utf16_tab_separated_is_read(tmp_path, encoding):
    data = tmp_path / "data"
    text = "\r\n".join("\t".join(r) for r in census_rows("zh")) + "\r\n"
    raw = text.encode("utf-16-le") if encoding == "utf-16" else text.encode("utf-16-be")
    put(data, f"census/{YEAR}/a.csv", (b"\xff\xfe" if encoding == "utf-16" else b"\xfe\xff") + raw)
    sub = read_year(data, YEAR)
    assert sub.census.select("school_code", "primary_students").rows() == [("0341024001", 1234), ("3410240002", 166)]


def test_utf16_without_bom_is_refused_clearly(tmp_path):
    data = tmp_path / "data"
    put(data, f"census/{YEAR}/a.csv", "\n".join(",".join(r) for r in census_rows("zh")).encode("utf-16-le"))
    problems = refused(data)
    assert places(problems) == {(f"census/{YEAR}/a.csv", None, None)} and "UTF-16" in problems[0].message


# ---------------------------------------------------------------- bounded resources (small limits: fast)


def test_zip_bomb_is_refused_from_the_zip_directory_before_inflating(tmp_path, monkeypatch):
    data = tmp_path / "data"
    zip_bomb_xlsx(data / f"census/{YEAR}/bomb.xlsx", megabytes=8)
    monkeypatch.setenv("JUNHENG_MAX_XLSX_BYTES", str(4 * 1024 * 1024))
    problems = refused(data)
    assert places(problems) == {(f"census/{YEAR}/bomb.xlsx", None, None)}
    assert "JUNHENG_MAX_XLSX_BYTES" in problems[0].message and "4 MiB" in problems[0].message


def test_zip_bomb_with_lying_sizes_is_refused_while_inflating_in_chunks(tmp_path, monkeypatch):
    data = tmp_path / "data"
    path = zip_bomb_xlsx(data / f"census/{YEAR}/bomb.xlsx", megabytes=8)
    rewrite_members(path, {})  # rewritten without zip64 extras, so the sizes can be patched
    lie_about_size(path, DATA_SHEET, 5000)
    monkeypatch.setenv("JUNHENG_MAX_XLSX_BYTES", str(4 * 1024 * 1024))
    problems = refused(data)
    assert places(problems) == {(f"census/{YEAR}/bomb.xlsx", None, None)}
    assert "corrupt" in problems[0].message and "CRC" in problems[0].message


def test_xml_entity_bomb_in_a_sheet_is_refused(tmp_path):
    data = tmp_path / "data"
    entities = "".join(f'<!ENTITY e{i} "{("&e%d;" % (i - 1)) * 10}">' for i in range(1, 10))
    doctype = f'<!DOCTYPE worksheet [<!ENTITY e0 "lollollollol">{entities}]>'.encode()
    census_xlsx(data / f"census/{YEAR}/a.xlsx")
    rewrite_members(data / f"census/{YEAR}/a.xlsx", {DATA_SHEET: lambda xml: doctype + xml.replace(
        "祁门县城关小学".encode(), b"&e9;")})
    problems = refused(data)
    assert places(problems) == {(f"census/{YEAR}/a.xlsx", None, None)} and "amplification" in problems[0].message


def test_dimension_bomb_reads_only_the_cells_the_sheet_holds(tmp_path):
    data = tmp_path / "data"
    dimension_bomb_xlsx(data / f"census/{YEAR}/a.xlsx")
    sub = read_year(data, YEAR)
    assert sub.census["school_code"].to_list() == [s["school_code"] for s in SCHOOLS]
    assert sub.warnings[-1].endswith("extra columns kept: 末尾")  # the far header cell is read, not dropped


@pytest.mark.parametrize("limit, value, content, place", [
    ("JUNHENG_MAX_LINE_BYTES", "1000", b"school_code,county_code\n" + b"," * 5000 + b"\n", 2),
    ("JUNHENG_MAX_ROWS", "10", b"school_code,county_code\n" + b"1,2\n" * 20, None),
    ("JUNHENG_MAX_COLUMNS", "50", b"school_code,county_code\n1,2\n" + b",".join([b"x"] * 60) + b"\n", 3),
    ("JUNHENG_MAX_CELLS", "100", b"school_code,county_code" + b",x" * 20 + b"\n" + b"1,2\n" * 10, None),
    ("JUNHENG_MAX_COLUMNS", "50", b'school_code,county_code\n"1",2\n' + b",".join([b'"x"'] * 60) + b"\n", 3),
    ("JUNHENG_MAX_FILE_BYTES", "100", b"school_code,county_code\n" + b"1,2\n" * 40, None),
])
def test_text_file_over_a_limit_is_refused_with_the_limit_named(tmp_path, monkeypatch, limit, value, content, place):
    data = tmp_path / "data"
    put(data, f"census/{YEAR}/big.csv", content)
    monkeypatch.setenv(limit, value)
    problems = refused(data)
    assert places(problems) == {(f"census/{YEAR}/big.csv", place, None)}
    assert limit in problems[0].message


def test_xlsx_over_row_and_column_limits_is_refused(tmp_path, monkeypatch):
    data = tmp_path / "data"
    census_xlsx(data / f"census/{YEAR}/a.xlsx", [school(school_code=f"34102400{i:02d}") for i in range(1, 21)])
    monkeypatch.setenv("JUNHENG_MAX_ROWS", "10")
    problems = refused(data)
    assert places(problems) == {(f"census/{YEAR}/a.xlsx", 11, None)} and "JUNHENG_MAX_ROWS" in problems[0].message
    monkeypatch.delenv("JUNHENG_MAX_ROWS")
    dimension_bomb_xlsx(data / f"census/{YEAR}/a.xlsx")
    monkeypatch.setenv("JUNHENG_MAX_COLUMNS", "1000")
    problems = refused(data)
    assert places(problems) == {(f"census/{YEAR}/a.xlsx", 1, "XFD")}
    assert "JUNHENG_MAX_COLUMNS" in problems[0].message


def test_limits_from_the_environment():
    assert Limits.from_env({}) == Limits()
    assert Limits.from_env({"JUNHENG_MAX_ROWS": "1_000", "JUNHENG_MAX_FILE_BYTES": "1e6"}).max_rows == 1000
    assert Limits.from_env({"JUNHENG_MAX_FILE_BYTES": "1e6"}).max_file_bytes == 1_000_000
    for bad in ("0", "-5", "lots", "1.5"):
        with pytest.raises(ValueError, match="JUNHENG_MAX_LINE_BYTES"):
            Limits.from_env({"JUNHENG_MAX_LINE_BYTES": bad})
    d = Limits()
    assert d.max_file_bytes == 2 * 1024 ** 3 and d.max_xlsx_bytes == 200 * 1024 ** 2 and d.max_line_bytes == 1024 ** 2


# ---------------------------------------------------------------- files in the data folder


def test_symlink_to_outside_the_data_dir_is_refused_without_reading_it(tmp_path, monkeypatch):
    data = tmp_path / "data"
    write_csv(data / f"census/{YEAR}/a.csv", census_rows("en"))
    big = tmp_path / "outside" / "big.csv"
    big.parent.mkdir()
    with open(big, "wb") as fh:
        fh.truncate(1024 ** 3)  # a sparse 1 GiB file
    (data / f"census/{YEAR}/b.csv").symlink_to(big)
    read = []
    real_read = files_module.read_file_bytes
    monkeypatch.setattr(files_module, "read_file_bytes", lambda path, rel, limits: read.append(rel) or real_read(
        path, rel, limits))
    problems = refused(data)
    assert places(problems) == {(f"census/{YEAR}/b.csv", None, None)} and "outside the data directory" in problems[0].message
    assert read == [f"census/{YEAR}/a.csv"]


def test_symlink_inside_the_data_dir_is_followed(tmp_path):
    data = tmp_path / "data"
    write_csv(data / "shared/qimen.csv", census_rows("en"))
    (data / f"census/{YEAR}").mkdir(parents=True)
    (data / f"census/{YEAR}/qimen.csv").symlink_to(data / "shared/qimen.csv")
    sub = read_year(data, YEAR)
    assert sub.census.height == 2 and sub.census["source_file"][0] == f"census/{YEAR}/qimen.csv"


def test_year_folder_linked_to_outside_the_data_dir_is_refused(tmp_path):
    data = tmp_path / "data"
    write_csv(tmp_path / "elsewhere/a.csv", census_rows("en"))
    (data / "census").mkdir(parents=True)
    (data / f"census/{YEAR}").symlink_to(tmp_path / "elsewhere")
    problems = refused(data)
    assert places(problems) == {(f"census/{YEAR}/", None, None)} and "outside the data directory" in problems[0].message


def test_big_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    data = tmp_path / "data"
    path = data / f"census/{YEAR}/huge.csv"
    path.parent.mkdir(parents=True)
    with open(path, "wb") as fh:
        fh.truncate(1024 ** 3)
    monkeypatch.setenv("JUNHENG_MAX_FILE_BYTES", str(512 * 1024 ** 2))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    problems = refused(data)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024  # KiB: nothing was read
    assert places(problems) == {(f"census/{YEAR}/huge.csv", None, None)}
    assert "JUNHENG_MAX_FILE_BYTES" in problems[0].message and "1 GiB" in problems[0].message


def test_dangling_symlink_refuses_the_year(tmp_path):
    data = tmp_path / "data"
    write_csv(data / f"census/{YEAR}/a.csv", census_rows("en"))
    (data / f"census/{YEAR}/341722_shitai.csv").symlink_to(tmp_path / "moved-away.csv")
    problems = refused(data)
    assert places(problems) == {(f"census/{YEAR}/341722_shitai.csv", None, None)}
    assert "dangling symlink" in problems[0].message


def test_unreadable_file_is_named(tmp_path, monkeypatch):
    data = tmp_path / "data"
    write_csv(data / f"census/{YEAR}/a.csv", census_rows("en"))
    locked = write_csv(data / f"census/{YEAR}/b.csv", census_rows("en", [school(school_code="3410249999")]))
    if os.geteuid() == 0:  # root reads a mode-000 file: make the open fail as it does for anyone else
        real_open = os.open

        def deny(path, *args, **kw):
            if Path(path) == locked:
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *args, **kw)

        monkeypatch.setattr(files_module.os, "open", deny)
    else:
        locked.chmod(0)
    problems = refused(data)
    assert places(problems) == {(f"census/{YEAR}/b.csv", None, None)} and "Permission denied" in problems[0].message


def test_fifo_in_a_year_folder_is_refused_without_blocking(tmp_path):
    data = tmp_path / "data"
    write_csv(data / f"census/{YEAR}/a.csv", census_rows("en"))
    os.mkfifo(data / f"census/{YEAR}/pipe.csv")
    problems = refused(data)
    assert places(problems) == {(f"census/{YEAR}/pipe.csv", None, None)} and "not a regular file" in problems[0].message


def test_other_entries_in_a_year_folder_refuse_the_year_lock_and_hidden_files_are_skipped(tmp_path):
    data = tmp_path / "data"
    write_csv(data / f"census/{YEAR}/a.csv", census_rows("en"))
    put(data, f"census/{YEAR}/old_county.xls", b"\xd0\xcf\x11\xe0 an Excel 97 file")
    (data / f"census/{YEAR}/backup").mkdir()
    put(data, f"census/{YEAR}/~$a.xlsx", b"owner file of an open workbook")
    put(data, f"census/{YEAR}/.DS_Store", b"\x00")
    problems = refused(data)
    assert places(problems) == {(f"census/{YEAR}/old_county.xls", None, None), (f"census/{YEAR}/backup/", None, None)}
    (data / f"census/{YEAR}/old_county.xls").unlink()
    (data / f"census/{YEAR}/backup").rmdir()
    assert read_year(data, YEAR).census.height == 2


def test_stray_entries_name_what_is_not_a_year_folder(tmp_path):
    data = tmp_path / "data"
    write_csv(data / "census/2023/a.csv", census_rows("en"))
    (data / "census/2024abc").mkdir()
    (data / "census/２０２４").mkdir()
    put(data, "census/qimen_2024.csv", b"school_code\n")
    (data / "census/2022").symlink_to(tmp_path / "gone")
    (data / "census/.git").mkdir()
    put(data, "census/~$x.xlsx", b"")
    (data / "county_returns/2023").mkdir(parents=True)
    (data / "county_returns/2030").mkdir()
    (data / "county_returns/latest").mkdir()
    problems = stray_entries(data)
    assert {p.file for p in problems} == {"census/2024abc/", "census/２０２４/", "census/qimen_2024.csv", "census/2022",
                                          "county_returns/2030/", "county_returns/latest/"}
    assert all(p.row is None and p.column is None for p in problems)
    assert available_years(data) == [2023]  # ２０２４ is not the year 2024
    assert stray_entries(tmp_path / "empty") == []


# ---------------------------------------------------------------- junheng query never writes over a database


def test_query_export_never_overwrites_a_database(tmp_path, capsys):
    wh = tmp_path / "w.duckdb"
    with duckdb.connect(str(wh)) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
    other = tmp_path / "backup.db"
    shutil.copy(wh, other)
    digest = wh.read_bytes(), other.read_bytes()
    link = tmp_path / "hardlink.csv"
    os.link(wh, link)
    for flag, target in [("--csv", wh), ("--xlsx", wh), ("--csv", tmp_path / "w.duckdb.wal"),
                         ("--csv", tmp_path / "new.duckdb"), ("--xlsx", other), ("--csv", link),
                         ("--csv", tmp_path / "w.duckdb.building")]:
        assert main_query(["SELECT * FROM t", "--warehouse", str(wh), flag, str(target)]) == 2, target
        assert "junheng query: 错误" in capsys.readouterr().err
    assert (wh.read_bytes(), other.read_bytes()) == digest
    assert not (tmp_path / "w.duckdb.wal").exists() and not (tmp_path / "new.duckdb").exists()
    assert main_query(["SELECT * FROM t", "--warehouse", str(wh), "--csv", str(tmp_path / "out.csv")]) == 0
    assert (tmp_path / "out.csv").read_bytes().startswith(b"\xef\xbb\xbfx")


# ---------------------------------------------------------------- through the CLI, on a published warehouse

CLI_YEAR = 2023
BASE_FILE = REPO / "data" / "census" / str(CLI_YEAR) / "341722_shitai.csv"


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> dict:
    """A published warehouse holding 2023 of 石台县 (one good load, once per module)."""
    root = tmp_path_factory.mktemp("hostile")
    data = root / "data"
    (data / f"census/{CLI_YEAR}").mkdir(parents=True)
    shutil.copy(BASE_FILE, data / f"census/{CLI_YEAR}" / BASE_FILE.name)
    wh = root / "base" / "junheng.duckdb"
    result = run_cli(data, wh)
    assert result.returncode == 0, result.stdout + result.stderr
    return {"root": root, "data": data, "wh": wh}


def run_cli(data: Path, wh: Path, env: dict | None = None, preexec_fn=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "junheng.cli", "run", "--data-dir", str(data), "--warehouse", str(wh), "--year",
         str(CLI_YEAR)],
        capture_output=True, text=True, env={**os.environ, **(env or {})}, preexec_fn=preexec_fn, timeout=600)


def hostile_load(base: dict, name: str, make, env: dict | None = None, preexec_fn=None) -> tuple[str, Path]:
    """Copy the base warehouse and data, add hostile entries with make(year folder), run `junheng run` on the year:
    it must be refused (exit 1) with the published warehouse and its Data Docs exactly as they were."""
    folder = base["root"] / name
    shutil.copytree(base["wh"].parent, folder / "wh", symlinks=True)
    shutil.copytree(base["data"], folder / "data", symlinks=True)
    wh = folder / "wh" / "junheng.duckdb"
    before = published_digest(wh)
    make(folder / "data" / "census" / str(CLI_YEAR))
    result = run_cli(folder / "data", wh, env, preexec_fn)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "Traceback" not in out
    assert f"被拒绝 refused {CLI_YEAR}" in result.stdout and "nothing published, the warehouse is unchanged" in result.stdout
    assert published_digest(wh) == before
    assert not wh.with_name(wh.name + ".building").exists()
    return result.stdout, wh


def test_cli_numbers_and_codes(base):
    def make(year: Path):
        lines = BASE_FILE.read_text(encoding="utf-8").splitlines(keepends=True)
        cells = lines[3].split(",")
        cells[0] = "٠٣٤١٧٢٢٠٠١"  # school_code in Arabic-Indic digits
        cells[9] = "1e309"  # primary_students
        lines[3] = ",".join(cells)
        (year / BASE_FILE.name).write_text("".join(lines), encoding="utf-8")

    out, _ = hostile_load(base, "numbers", make)
    assert f"census/{CLI_YEAR}/341722_shitai.csv, 第4行 row 4, 列 column “school_code”" in out
    assert f"census/{CLI_YEAR}/341722_shitai.csv, 第4行 row 4, 列 column “primary_students”" in out
    assert "1e309" in out and "physical range" in out


def test_cli_xlsx_formula_without_a_value(base):
    out, _ = hostile_load(base, "xlsx", lambda year: formula_xlsx(
        year / "341000_formula.xlsx", "J3", "=J2*2",
        schools=[school(school_code="3410000001", county_code="341000"),
                 school(school_code="3410000002", county_code="341000")]))
    assert f"census/{CLI_YEAR}/341000_formula.xlsx, 第3行 row 3, 列 column “初中在校生数”: 单元格 J3" in out


def test_cli_encodings_gb18030_with_a_utf8_row(base):
    def make(year: Path):
        text = BASE_FILE.read_text(encoding="utf-8").splitlines(keepends=True)
        (year / BASE_FILE.name).write_bytes(b"".join(
            line.encode("utf-8" if i == 5 else "gb18030") for i, line in enumerate(text)))

    out, _ = hostile_load(base, "encodings", make)
    assert f"census/{CLI_YEAR}/341722_shitai.csv, 第6行 row 6: " in out and "this row is UTF-8" in out


def test_cli_files_dangling_and_outside_symlinks(base):
    def make(year: Path):
        (year / "341000_moved.csv").symlink_to(year / "gone.csv")
        (year / "341001_etc.csv").symlink_to("/etc/hostname")

    out, _ = hostile_load(base, "files", make)
    assert f"census/{CLI_YEAR}/341000_moved.csv: 符号链接指向不存在的文件" in out
    assert f"census/{CLI_YEAR}/341001_etc.csv: 符号链接指向数据目录之外" in out


MEMORY_CAP = 3 * 1024 ** 3


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def test_cli_bounded_resources_under_a_memory_cap(base):
    """A 300 MB zip bomb (twice: honest and lying zip directory), a dimension bomb and a 100 MB line of commas, all
    at once, with the address space capped at 3 GiB: refused by their limits, not killed, nothing changed."""

    def make(year: Path):
        zip_bomb_xlsx(year / "341000_bomb.xlsx", megabytes=300)
        liar = zip_bomb_xlsx(year / "341001_liar.xlsx", megabytes=8)
        rewrite_members(liar, {})
        lie_about_size(liar, DATA_SHEET, 5000)
        dimension_bomb_xlsx(year / "341002_dimension.xlsx")
        with open(year / "341003_line.csv", "wb") as fh:
            fh.write(b"school_code,county_code\n")
            fh.write(b"," * (100 * 1024 * 1024))
            fh.write(b"\n")

    env = {"POLARS_MAX_THREADS": "2", "MALLOC_ARENA_MAX": "2"}  # address space used by threads: machine-independent
    out, _ = hostile_load(base, "resources", make, env=env, preexec_fn=_cap_memory)
    assert f"census/{CLI_YEAR}/341000_bomb.xlsx: 超出上限" in out and "JUNHENG_MAX_XLSX_BYTES" in out
    assert f"census/{CLI_YEAR}/341001_liar.xlsx: 无法打开的 XLSX 文件" in out and "CRC" in out
    assert f"census/{CLI_YEAR}/341003_line.csv, 第2行 row 2: 超出上限" in out and "JUNHENG_MAX_LINE_BYTES" in out
    assert "341002_dimension.xlsx" not in out.split("被拒绝 refused")[1]  # read as the 3 rows it holds: no problem
