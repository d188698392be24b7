"""Ingestion of every accepted file shape, and every bad-input case of spec §4.

Each refusal test checks the message names the file, row and column, and that the warehouse holds exactly
what it held before.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from census_files import RETURN_ROW, SCHOOLS, census_rows, write_csv, write_return, write_xlsx
from junheng.defs.ingestion.assets import census_schema_drift, census_structure, raw_year_files
from junheng.defs.publish import published_warehouse_asset
from junheng.defs.resources import WarehouseResource
from junheng.lib.ingest import YearRefused, read_year

# A load writes a private copy that only the publish step makes the warehouse (defs/resources.py).
PUBLISH = published_warehouse_asset(list(raw_year_files.keys))


def load(data_dir: Path, db: Path, year: int) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [raw_year_files, census_structure, census_schema_drift, PUBLISH],
        partition_key=str(year),
        resources={"warehouse": WarehouseResource(published=str(db), data_dir=str(data_dir))},
        raise_on_error=False,
    )


def snapshot(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as conn:
        rows = conn.execute(
            "select * exclude (loaded_at, load_run_id) from raw.census_schools order by year, school_code"
        ).fetchall()
        rows += conn.execute("select * exclude (loaded_at, load_run_id) from raw.county_returns order by year").fetchall()
    return rows


def school(db: Path, code: str, year: int) -> dict:
    with duckdb.connect(str(db), read_only=True) as conn:
        cur = conn.execute("select * from raw.census_schools where school_code = ? and year = ?", [code, year])
        names = [d[0] for d in cur.description]
        return dict(zip(names, cur.fetchone()))


@pytest.fixture
def loaded(tmp_path: Path) -> tuple[Path, Path]:
    """A warehouse with 2021 loaded from a GB18030 CSV with a title line and an XLSX with Chinese headers."""
    data = tmp_path / "data"
    write_csv(
        data / "census/2021/qimen_a.csv",
        census_rows("zh", SCHOOLS[:1]),
        "gb18030",
        title="2021年教育事业统计 学校基本情况",
        total=True,
    )
    write_xlsx(data / "census/2021/qimen_b.xlsx", census_rows("zh", SCHOOLS[1:]), title="学校基本情况表")
    write_return(data / "county_returns/2021/returns.csv", [RETURN_ROW])
    db = tmp_path / "wh.duckdb"
    assert load(data, db, 2021).success
    return data, db


def test_gb18030_csv_with_title_line_and_total_line(loaded):
    data, db = loaded
    row = school(db, "0341024001", 2021)
    assert row["school_name"] == "祁门县城关小学"
    assert row["school_type"] == "primary" and row["ownership"] == "public" and row["authority"] == "county"
    assert row["urban_rural"] == "urban" and row["urban_rural_code"] is None
    assert row["primary_students"] == 1234  # thousands separator
    assert row["teaching_aux_area_m2"] == 5678.5
    assert row["equipment_value_10k_yuan"] == 310.25  # as submitted, in 万元
    assert row["junior_teachers"] is None  # column absent from the file: not reported
    assert row["source_file"] == "census/2021/qimen_a.csv" and row["source_row"] == 3  # title line is row 1
    assert len(row["source_sha256"]) == 64
    with duckdb.connect(str(db), read_only=True) as conn:
        assert conn.execute("select count(*) from raw.census_schools").fetchone()[0] == 2  # 合计 is not a school


def test_xlsx_with_chinese_headers_on_named_sheet(loaded):
    _, db = loaded
    row = school(db, "3410240002", 2021)
    assert row["school_type"] == "nine_year"
    assert row["urban_rural"] == "rural" and row["urban_rural_code"] == "210"
    assert (row["primary_students"], row["junior_students"], row["books"]) == (166, 210, 23226)
    assert row["source_file"] == "census/2021/qimen_b.xlsx" and row["source_row"] == 3


def test_county_return_values(loaded):
    _, db = loaded
    with duckdb.connect(str(db), read_only=True) as conn:
        r = conn.execute(
            "select layout_planned, urban_rural_unified, teacher_pay_ratio, junior_retention_rate,"
            " monitoring_between_school_rate, training_completion_rate from raw.county_returns"
        ).fetchone()
    assert r == (True, True, 1.02, 96.5, 0.12, None)


def test_utf8_bom_english_headers_any_order_extra_column_and_english_enums(tmp_path):
    data = tmp_path / "data"
    header = ["county_code", "备注", "school_type", "school_code", "school_name", "ownership", "authority",
              "urban_rural", "primary_students", "junior_students", "year"]
    rows = [header, ["341024", "新建", "primary", "1234567890", "新区小学", "private", "prefecture", "122", "45", "", "2022"]]
    write_csv(data / "census/2022/a.csv", rows, "utf-8-sig")
    db = tmp_path / "wh.duckdb"
    result = load(data, db, 2022)
    assert result.success
    row = school(db, "1234567890", 2022)
    assert (row["ownership"], row["authority"], row["urban_rural"], row["urban_rural_code"]) == (
        "private", "prefecture", "town", "122")
    assert row["junior_students"] is None
    assert row["extra_columns"] == '{"备注": "新建"}'
    drift = [c for c in result.get_asset_check_evaluations() if c.check_name == "census_schema_drift"][0]
    assert not drift.passed and drift.severity == dg.AssetCheckSeverity.WARN


def test_numeric_code_cell_in_xlsx_reads_back_as_digits(tmp_path):
    data = tmp_path / "data"
    write_xlsx(data / "census/2020/a.xlsx", census_rows("zh", SCHOOLS[1:]), numeric_codes=True)
    db = tmp_path / "wh.duckdb"
    assert load(data, db, 2020).success
    assert school(db, "3410240002", 2020)["county_code"] == "341024"


def test_reload_replaces_exactly_that_year_and_is_idempotent(loaded, tmp_path):
    data, db = loaded
    write_csv(data / "census/2022/all.csv", census_rows("en"))
    assert load(data, db, 2022).success
    first = snapshot(db)
    assert load(data, db, 2022).success
    assert snapshot(db) == first  # the same files twice: the same warehouse, load metadata aside
    (data / "census/2022/all.csv").unlink()
    write_csv(data / "census/2022/one.csv", census_rows("en", SCHOOLS[:1]))
    assert load(data, db, 2022).success
    after = snapshot(db)
    assert [r for r in after if r[9] == 2021] == [r for r in first if r[9] == 2021]
    with duckdb.connect(str(db), read_only=True) as conn:
        assert conn.execute("select count(*) from raw.census_schools where year = 2022").fetchone()[0] == 1


# ---------------------------------------------------------------- bad input (spec §4)

def refuse(loaded, year: int, files: dict[str, bytes]) -> list:
    """Write `files` under the data dir for `year`, load it, and return the refusal's problems."""
    data, db = loaded
    before = snapshot(db)
    for rel, content in files.items():
        path = data / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    result = load(data, db, year)
    assert not result.success
    assert snapshot(db) == before  # the warehouse is exactly as it was
    with pytest.raises(YearRefused) as exc:
        read_year(data, year)
    return exc.value.problems


def csv_bytes(rows, encoding="utf-8") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode(encoding)


def test_refuses_corrupt_xlsx(loaded):
    problems = refuse(loaded, 2021, {"census/2021/broken.xlsx": b"PK\x03\x04 not really a zip"})
    assert problems[0].file == "census/2021/broken.xlsx" and "XLSX" in problems[0].message


def test_refuses_undecodable_text(loaded):
    problems = refuse(loaded, 2021, {"census/2021/bad.csv": b"school_code,county_code\n\xff\xfe\xfa\xfb\x81\x30"})
    assert problems[0].file == "census/2021/bad.csv" and "编码" in problems[0].message


def test_refuses_empty_file(loaded):
    problems = refuse(loaded, 2021, {"census/2021/empty.csv": b""})
    assert problems[0].file == "census/2021/empty.csv" and "空文件" in problems[0].message


def test_refuses_file_without_header_row(loaded):
    problems = refuse(loaded, 2021, {"census/2021/nohead.csv": csv_bytes([["学校", "名称"], ["1", "2"]])})
    assert "表头" in problems[0].message and problems[0].row is None


def test_refuses_missing_required_column_naming_header_row(loaded):
    rows = census_rows("en", header=[h for h in census_rows("en")[0] if h != "ownership"])
    problems = refuse(loaded, 2021, {"census/2021/noown.csv": csv_bytes(rows)})
    p = [p for p in problems if "required column" in p.message][0]
    assert (p.file, p.row) == ("census/2021/noown.csv", 1) and "ownership" in p.column


def test_refuses_senior_students_missing_for_complete_secondary(loaded):
    s = dict(SCHOOLS[0], school_code="3410240009", school_type="完全中学")
    problems = refuse(loaded, 2021, {"census/2021/cs.csv": csv_bytes(census_rows("en", [s]))})
    assert any("senior_students" in (p.column or "") for p in problems)


def test_refuses_every_bad_cell_at_once_with_file_row_column(loaded):
    bad = [
        dict(SCHOOLS[0], school_code="3410240010", primary_students="一百"),  # not a number
        dict(SCHOOLS[0], school_code="3410240011", school_type="高级中学"),  # unknown enum
        dict(SCHOOLS[0], school_code="3410240012", ownership="集体"),
        dict(SCHOOLS[0], school_code="3410240013", authority="乡级"),
        dict(SCHOOLS[0], school_code="3410240014", urban_rural="999"),
        dict(SCHOOLS[0], school_code="341024015"),  # 9 digits: never padded
        dict(SCHOOLS[0], school_code="3410240016", county_code="34102"),
    ]
    problems = refuse(loaded, 2021, {"census/2021/bad.csv": csv_bytes(census_rows("zh", bad))})
    found = {(p.row, p.column) for p in problems}
    assert found == {
        (2, "小学在校生数"), (3, "办学类型"), (4, "举办者类型"), (5, "隶属关系"), (6, "城乡分类"),
        (7, "学校标识码"), (8, "县级行政区划代码"),
    }
    assert all(p.file == "census/2021/bad.csv" for p in problems)


def test_refuses_year_cell_differing_from_folder(loaded):
    rows = census_rows("en", header=census_rows("en")[0] + ["year"])
    rows = rows[:2]
    rows[1][0] = "3410240099"
    rows[1][-1] = "2020"
    problems = refuse(loaded, 2021, {"census/2021/y.csv": csv_bytes(rows)})
    assert [(p.file, p.row, p.column) for p in problems] == [("census/2021/y.csv", 2, "year")]
    assert "2021" in problems[0].message


def test_refuses_same_school_twice_across_files(loaded):
    problems = refuse(loaded, 2021, {"census/2021/dup.csv": csv_bytes(census_rows("en", SCHOOLS[:1]))})
    dup = [p for p in problems if "twice" in p.message]
    assert {(p.file, p.row) for p in dup} == {("census/2021/qimen_a.csv", 3), ("census/2021/dup.csv", 2)}


def test_refuses_bad_county_return_value(loaded):
    problems = refuse(loaded, 2021, {"county_returns/2021/returns.csv": csv_bytes(
        [["county_code", "layout_planned", "social_recognition_rate"], ["341024", "也许", "九十"]])})
    assert {(p.row, p.column) for p in problems} == {(2, "layout_planned"), (2, "social_recognition_rate")}


def test_refuses_requested_year_without_files(loaded):
    problems = refuse(loaded, 2019, {})
    assert "no census files" in problems[0].message


def test_year_without_county_returns_still_loads(tmp_path):
    data = tmp_path / "data"
    write_csv(data / "census/2018/a.csv", census_rows("en"))
    assert load(data, tmp_path / "wh.duckdb", 2018).success
