"""The sample-data generator: determinism, coverage of school types and file shapes, and that every
planted slip is really in the files (read back with an independent reader, `_census_reader`)."""

from __future__ import annotations

import csv
import time
from collections import defaultdict
from pathlib import Path

import openpyxl
import pytest

from junheng.generate import generate
from junheng.generate.cli import main_generate
from junheng.lib.schema import CENSUS_COLUMNS, ENUMS, SECTIONS

from _census_reader import decode, read, read_rows

YEARS = range(2015, 2025)


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    generate(out, seed=20241)
    return out


@pytest.fixture(scope="module")
def records(sample) -> dict[tuple[int, str], dict]:
    """(year, school_code) → record, enums normalised; fails on a school twice in a year."""
    out = {}
    for f in sorted((sample / "census").glob("*/*")):
        for r in read(f):
            key = (int(f.parent.name), r["school_code"])
            assert key not in out, f"{key} twice"
            for col in ("school_type", "ownership", "authority", "urban_rural"):
                r[col] = ENUMS[col][r[col]]
            r["_file"] = f
            out[key] = r
    return out


@pytest.fixture(scope="module")
def answer_key(sample) -> list[dict]:
    with open(sample / "answer_key.csv", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _v(r: dict, col: str) -> float:
    return r.get(col) or 0.0


def test_same_seed_same_bytes(sample, tmp_path):
    generate(tmp_path, seed=20241)
    files = sorted(p.relative_to(sample) for p in sample.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    for rel in files:
        assert (sample / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel


def test_other_seed_other_data(sample, tmp_path):
    generate(tmp_path, seed=7, years=range(2023, 2025))
    assert (tmp_path / "answer_key.csv").read_bytes() != (sample / "answer_key.csv").read_bytes()


def test_counties_sized_like_the_reports(records):
    schools, students = defaultdict(int), defaultdict(float)
    for (year, _), r in records.items():
        if year == 2019:
            schools[r["county_code"]] += 1
            students[r["county_code"]] += _v(r, "primary_students") + _v(r, "junior_students")
    assert len(schools) >= 5
    assert 220 <= schools["410225"] <= 270 and 100_000 <= students["410225"] <= 145_000  # 兰考
    others = [n for c, n in schools.items() if c != "410225"]
    assert sum(30 <= n <= 65 for n in others) >= 4


def test_every_school_type_and_kind_present(records):
    rs = list(records.values())
    assert {r["school_type"] for r in rs} == set(SECTIONS)
    tp = [_v(r, "primary_students") for r in rs if r["school_type"] == "teaching_point"]
    assert min(tp) < 50 <= max(tp)
    assert any(r["school_type"] == "complete_secondary" and _v(r, "senior_students") > 0 for r in rs)
    assert any(r["school_type"] == "twelve_year" and r["ownership"] == "private" for r in rs)
    assert {"prefecture", "province", "county"} <= {r["authority"] for r in rs}
    assert {"urban", "town", "rural"} <= {r["urban_rural"] for r in rs}
    codes = {r["school_code"] for r in rs}
    assert all(len(c) == 10 and c.isdigit() for c in codes)
    assert any(c.startswith("0") for c in codes)


def test_clean_values_consistent(records, answer_key):
    slipped = {(int(k["year"]), k["school_code"]) for k in answer_key}
    n = 0
    for key, r in records.items():
        if key in slipped:
            continue
        n += 1
        st = r["school_type"]
        for sec in ("primary", "junior"):
            t = _v(r, f"{sec}_teachers")
            for sub in ("teachers_above_degree", "teachers_senior_title", "backbone_teachers", "pe_art_teachers"):
                assert _v(r, f"{sec}_{sub}") <= t, (key, sub)
            if st != "special" and sec not in SECTIONS[st]:
                assert _v(r, f"{sec}_students") == 0 and _v(r, f"{sec}_teachers") == 0, (key, sec)
        if "senior" not in SECTIONS[st]:
            assert _v(r, "senior_students") == 0
        assert all(_v(r, c.name) >= 0 for c in CENSUS_COLUMNS if c.kind == "number")
        assert _v(r, "primary_classes_over_45") <= _v(r, "primary_classes")
    assert n > 4000


def test_facilities_grow_and_pupils_leave_villages(records):
    def total(year, col, ur=None):
        return sum(_v(r, col) for (y, _), r in records.items() if y == year and (ur is None or r["urban_rural"] == ur))

    assert total(2024, "teaching_aux_area_m2") > 1.2 * total(2015, "teaching_aux_area_m2")
    assert total(2024, "computers") > 1.3 * total(2015, "computers")
    assert total(2024, "primary_students", "rural") < 0.8 * total(2015, "primary_students", "rural")
    assert total(2024, "primary_students", "urban") > total(2015, "primary_students", "urban")


def test_every_file_shape_present(sample):
    files = sorted((sample / "census").glob("*/*")) + sorted((sample / "county_returns").glob("*/*"))
    raw = {f: f.read_bytes() for f in files if f.suffix == ".csv"}
    texts = {f: decode(b) for f, b in raw.items()}
    assert any(b.startswith(b"\xef\xbb\xbf") for b in raw.values())  # UTF-8 with BOM
    gb = [f for f, b in raw.items() if not b.startswith(b"\xef\xbb\xbf") and _not_utf8(b)]
    assert gb and any(texts[f].startswith(f"{f.parent.name}年教育事业统计 学校基本情况") for f in gb)
    assert any(t.splitlines()[0].startswith("school_code") for t in texts.values())  # English headers
    assert any(line.startswith("合计") for t in texts.values() for line in t.splitlines())
    assert any('"1,' in t for t in texts.values())  # thousands separators, quoted
    assert any(",210," in t or ",111," in t for t in texts.values())  # 3-digit urban/rural code
    assert any(",primary," in t for t in texts.values())  # English enum code
    headers = [r for f in files for r in read_rows(f)[:2]]
    flat = {str(c) for r in headers for c in r if c is not None}
    zh_units = [c.zh for c in CENSUS_COLUMNS if "（" in c.zh]
    assert any(h.split("（")[0] in flat for h in zh_units)  # bracketed unit left out
    assert any(h.replace("（", "(").replace("）", ")") in flat for h in zh_units)  # half-width brackets
    assert "备注" in flat
    xlsx = [f for f in files if f.suffix == ".xlsx"]
    sheets = {tuple(openpyxl.load_workbook(f, read_only=True).sheetnames) for f in xlsx}
    assert ("学校",) in sheets and ("说明", "schools") in sheets and ("县",) in sheets
    numeric_code_cells = 0
    for f in xlsx:
        ws = openpyxl.load_workbook(f, read_only=True)
        ws = ws[ws.sheetnames[-1]]
        cells = (c for r in ws.iter_rows(values_only=True) for c in r[:3])
        numeric_code_cells += sum(1 for c in cells if isinstance(c, int) and c > 10**5)
    assert numeric_code_cells > 0
    # Older forms lack the later columns; a year and a county without returns exist.
    assert "primary_backbone_teachers" not in read(next((sample / "census" / "2015").glob("*")))[0]
    assert not (sample / "county_returns" / "2015").exists()
    filers = {r["county_code"] for f in (sample / "county_returns").glob("*/*") for r in read(f, returns=True)}
    assert "341722" not in filers and len(filers) >= 5


def _not_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return False
    except UnicodeDecodeError:
        return True


def test_answer_key_slips_are_in_the_files(records, answer_key):
    kinds = defaultdict(int)
    for k in answer_key:
        year, code, field = int(k["year"]), k["school_code"], k["field"]
        true, sub = float(k["true_value"]), float(k["submitted_value"])
        r = records[(year, code)]
        assert r["county_code"] == k["county_code"]
        assert r.get(field) == pytest.approx(sub, rel=1e-6, abs=0.01), k
        kinds[k["kind"]] += 1
        match k["kind"]:
            case "unit_yuan":
                assert sub == pytest.approx(true * 10_000, rel=1e-3)
            case "unit_mu":
                assert sub == pytest.approx(true / 666.67, abs=0.01)
            case "students_in_teachers":
                assert sub == _v(r, field.replace("teachers", "students"))
            case "tenfold_jump":
                assert sub == 10 * true
                last = records[(year - 1, code)].get(field)
                assert last is not None and 0.5 * true < last < 2 * true  # the jump is from last year's value
            case "qualified_gt_teachers":
                assert sub > _v(r, field.split("_")[0] + "_teachers")
            case "section_mismatch":
                assert r["school_type"] == "primary" and field.startswith("junior_") and sub > 0
            case "negative":
                assert sub < 0 < true
    assert set(kinds) == {"unit_yuan", "unit_mu", "students_in_teachers", "tenfold_jump",
                          "qualified_gt_teachers", "section_mismatch", "negative"}
    assert 0.01 <= len(answer_key) / len(records) <= 0.03


def test_events_match_the_files(sample, records):
    with open(sample / "events.csv", encoding="utf-8") as fh:
        events = list(csv.DictReader(fh))
    kinds = defaultdict(int)
    for e in events:
        year, code = int(e["year"]), e["school_code"]
        kinds[e["kind"]] += 1
        if e["kind"] == "opened":
            assert (year, code) in records and (year - 1, code) not in records
        elif e["kind"] in ("closed", "merged_into"):
            assert (year - 1, code) in records and (year, code) not in records
        if e["kind"] == "merged_into":
            assert (year, e["detail"]) in records
        if e["kind"] == "large_real_change":
            assert (year, code) in records and (year - 1, code) in records
    assert set(kinds) == {"opened", "closed", "merged_into", "large_real_change"}


def test_national_scale_smoke(tmp_path):
    t0 = time.perf_counter()
    s = generate(tmp_path, scale="national", n_counties=60, years=range(2022, 2025))
    assert time.perf_counter() - t0 < 10
    assert s.counties == 60 and set(s.schools_per_year) == {2022, 2023, 2024}
    files = sorted((tmp_path / "census" / "2024").glob("*.csv"))
    assert 1 < len(files) <= 31
    rows = [r for f in files for r in read(f)]
    assert len(rows) == s.schools_per_year[2024]
    assert len({r["school_code"] for r in rows}) == len(rows)
    assert (tmp_path / "answer_key.csv").read_text(encoding="utf-8").count("\n") - 1 == s.slips_planted > 0
    assert (tmp_path / "county_returns" / "2024" / "county_returns.csv").exists()


def test_cli(tmp_path, capsys):
    assert main_generate(["--out", str(tmp_path), "--years", "2023-2024", "--seed", "3"]) == 0
    assert sorted(p.name for p in (tmp_path / "census").iterdir()) == ["2023", "2024"]
    assert "counties" in capsys.readouterr().out
    assert main_generate(["--scale", "planet"]) == 2
