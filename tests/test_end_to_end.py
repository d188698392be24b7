"""`junheng run` end to end on real generated files of one county (常山县, 2023–2024, with planted slips).

Every mart value is checked against an independent plain-Python computation over the same files
(tests/_census_reader.py reads them, tests/marts_reference.py applies the spec's formulas). Then the
same warehouse is reloaded while an analyst holds it open, with one year refused, and a run is killed
half-way: the published file must be consistent throughout.
"""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import _census_reader
import marts_reference
from junheng.lib.schema import ENUMS

REPO = Path(__file__).resolve().parents[1]
COUNTY = "330822"
YEARS = (2023, 2024)


def junheng(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "junheng.cli", *args], capture_output=True, text=True, **kw)


def county_files(year: int) -> list[Path]:
    return sorted((REPO / "data" / "census" / str(year)).glob(f"{COUNTY}_*"))


@pytest.fixture(scope="module")
def e2e(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("e2e")
    data = root / "data"
    for year in YEARS:
        for f in county_files(year):
            dst = data / "census" / str(year) / f.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, dst)
    wh = root / "junheng.duckdb"
    result = junheng("run", "--data-dir", str(data), "--warehouse", str(wh))
    assert result.returncode == 0, result.stdout + result.stderr
    return {"data": data, "wh": wh, "stdout": result.stdout}


def reference_schools(data: Path) -> list[dict]:
    schools = []
    for path in sorted((data / "census").glob("*/*")):
        year = int(path.parent.name)
        for rec in _census_reader.read(path):
            for name in ("school_type", "ownership", "authority", "urban_rural"):
                rec[name] = ENUMS[name][str(rec[name]).lower() if str(rec[name]).isascii() else rec[name]]
            rec["year"] = year
            schools.append(rec)
    return schools


def query(wh: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(wh), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def test_run_summary_names_years_and_published_file(e2e):
    out = e2e["stdout"]
    assert "已入库年度 loaded: 2023, 2024" in out
    assert f"已发布仓库 published warehouse: {e2e['wh']}" in out


def test_county_cvs_match_independent_computation_both_methods_and_levels(e2e):
    ref = marts_reference.compute(reference_schools(e2e["data"]))
    rows = query(e2e["wh"], "select county_code, year, level, method, indicator, county_value, cv, schools, students "
                            "from marts.county_indicator_cv")
    got = {r[:5]: r[5:] for r in rows}
    assert set(got) == set(ref.cv)
    assert {k[2] for k in got} == {"primary", "junior"} and {k[3] for k in got} == {"basic", "quality"}
    for key, expected in ref.cv.items():
        x, cv, n, p = got[key]
        assert (n, p) == (expected.schools, expected.students), key
        assert x == pytest.approx(expected.county_value, rel=1e-9), key
        assert (cv is None and expected.cv is None) or cv == pytest.approx(expected.cv, rel=1e-9, abs=1e-12), key


def test_composites_and_verdicts_match(e2e):
    ref = marts_reference.compute(reference_schools(e2e["data"]))
    rows = query(e2e["wh"], "select county_code, year, level, composite_cv, basic_met from marts.county_balance")
    assert len(rows) == len(ref.composite) == 4
    for county, year, level, composite, met in rows:
        assert composite == pytest.approx(ref.composite[(county, year, level)], rel=1e-9)
        assert met == ref.basic_met[(county, year, level)]


def test_school_values_and_compliance_match(e2e):
    ref = marts_reference.compute(reference_schools(e2e["data"]))
    rows = query(e2e["wh"], "select school_code, year, level, method, indicator, value from marts.school_indicators")
    got = {r[:5]: r[5] for r in rows}
    assert set(got) == set(ref.school_values)
    for key, v in ref.school_values.items():
        assert (got[key] is None and v is None) or got[key] == pytest.approx(v, rel=1e-9), key
    rows = query(e2e["wh"], "select school_code, year, level, indicators_met, compliant from marts.school_quality_compliance")
    assert len(rows) == len(ref.compliance)
    for code, year, level, met, compliant in rows:
        expected = ref.compliance[(code, year, level)]
        assert (met, compliant) == (expected.indicators_met, expected.compliant), (code, year, level)


def test_detail_marts_match_reference_formulas(e2e):
    """CV shares, Theil-T (with its urban/rural decomposition) and gaps to standard (spec §5), recomputed with
    tests/marts_reference.py from the school values pinned above."""
    from collections import defaultdict

    rows = query(e2e["wh"], """
        select s.county_code, s.year, s.level, s.method, s.indicator, s.school_code, s.resource, s.students,
               s.value, s.standard, s.urban_rural, d.scale
        from marts.school_indicators s join config.indicators d using (method, indicator)
        where s.value is not null order by s.school_code""")
    groups = defaultdict(list)
    for r in rows:
        groups[r[:5]].append(r[5:])
    shares = {r[:6]: r[6:] for r in query(e2e["wh"], "select county_code, year, level, method, indicator, "
                                                    "school_code, share, share_rank from marts.school_cv_share")}
    theil = {r[:5]: r[5:] for r in query(e2e["wh"], "select county_code, year, level, method, indicator, "
                                                   "theil_t, theil_between, theil_within from marts.county_theil")}
    gaps = {r[:4]: r[4] for r in query(e2e["wh"], "select county_code, year, level, indicator, gap "
                                                 "from marts.county_standard_gap")}
    assert len(shares) == len(rows) and len(theil) == len(groups)
    expected_gaps: dict = defaultdict(float)
    for key, parts in groups.items():
        expected = marts_reference.cv_shares([(p[1], p[2]) for p in parts], scale=parts[0][6])
        ranked = sorted(range(len(parts)), key=lambda i: (-(expected[i] or 0), parts[i][0]))
        for i, part in enumerate(parts):
            share, rank = shares[key + (part[0],)]
            assert (share is None and expected[i] is None) or share == pytest.approx(expected[i], rel=1e-9, abs=1e-12)
            if expected[i] is not None and len({round(e or 0, 12) for e in expected}) == len(expected):
                assert rank == ranked.index(i) + 1, (key, part[0])  # ties aside, largest share first
        t, between, within = marts_reference.theil([(p[1], p[2], p[5]) for p in parts])
        assert theil[key] == pytest.approx((t, between, within), rel=1e-9, abs=1e-12), key
        if key[3] == "quality":
            for p in parts:
                if p[4] is not None and p[3] < p[4]:
                    expected_gaps[key[:3] + key[4:]] += marts_reference.standard_gap(p[3], p[4], p[2], p[6])
    assert gaps.keys() == expected_gaps.keys() and len(gaps) > 0
    for key, gap in expected_gaps.items():
        assert gaps[key] == pytest.approx(gap, rel=1e-9), key


def test_flags_do_not_change_official_figures(e2e):
    """The county's planted slips are flagged; official CVs (checked above against the reference over every
    school as submitted) stay as they are, and the clean figures leave the flagged school parts out."""
    slips = [r for r in csv.DictReader((REPO / "data" / "answer_key.csv").open(encoding="utf-8"))
             if r["county_code"] == COUNTY and int(r["year"]) in YEARS]
    assert slips
    flagged = {(code, year) for code, year in query(
        e2e["wh"], "select distinct school_code, year from marts.submission_flags where severity = 'warning'")}
    assert {(r["school_code"], int(r["year"])) for r in slips} <= flagged
    rows = query(e2e["wh"], "select cv, cv_clean, flagged_schools, provisional from marts.county_indicator_cv "
                            "where flagged_schools > 0")
    assert rows and any(cv != clean for cv, clean, _, _ in rows)
    # The official CV of every flagged indicator is the one computed over every school as submitted.
    ref = marts_reference.compute(reference_schools(e2e["data"]))
    official = query(e2e["wh"], "select county_code, year, level, method, indicator, cv from marts.county_indicator_cv "
                                "where flagged_schools > 0")
    for *key, cv in official:
        assert cv == pytest.approx(ref.cv[tuple(key)].cv, rel=1e-9)


def _tables(wh: Path) -> dict[str, list[tuple]]:
    """Every raw table and mart, load metadata (times, run ids, the solver's seconds, when a plan was made) aside, in a stable order."""
    with duckdb.connect(str(wh), read_only=True) as conn:
        names = conn.execute("select table_schema || '.' || table_name from information_schema.tables "
                             "where table_schema in ('raw', 'marts') order by 1").fetchall()
        out = {}
        for (name,) in names:
            cols = [c for (c,) in conn.execute(f"select column_name from information_schema.columns where "
                                               f"table_schema || '.' || table_name = '{name}' order by ordinal_position")
                    .fetchall() if c not in ("loaded_at", "load_run_id", "solve_seconds", "planned_at")]
            out[name] = conn.execute(f"select {', '.join(cols)} from {name} order by all").fetchall()
    return out


def test_loading_the_same_files_again_gives_the_same_warehouse(e2e):
    # A sentinel in a 2023 mart row: a load of 2024 alone must not rebuild 2023 (2024 reads 2023, not the reverse).
    with duckdb.connect(str(e2e["wh"])) as conn:
        conn.execute("update marts.county_balance set basic_schools = -1 where year = 2023 and level = 'primary'")
    before = _tables(e2e["wh"])
    result = junheng("run", "--data-dir", str(e2e["data"]), "--warehouse", str(e2e["wh"]), "--year", "2024")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "重算的后续年度 recomputed" not in result.stdout
    after = _tables(e2e["wh"])
    assert after.keys() == before.keys() and len(after) >= 15
    for name in before:
        assert after[name] == before[name], name
    # ... nor leave 2023 stale for the next load: the views the first dbt step recreates keep their data version
    from junheng.definitions import defs
    from junheng.defs.orchestration import stale_years
    from junheng.lib.instance import instance_for

    assert stale_years(instance_for(e2e["wh"].resolve()), defs.get_repository_def().asset_graph, list(YEARS)) == []


def test_dbt_does_not_parse_the_project_for_a_new_warehouse(e2e):
    """dbt opens every warehouse under one name in a working directory of its own and takes the run's window from
    the environment (lib/dbt_state.dbt_workdir, macros/per_year.sql), so the partial-parse state the project's parse
    left serves a new warehouse and a new window: no invocation of the load parses the project (a new warehouse's
    profile used to force a full parse in the first one)."""
    log = next(line.split(": ", 1)[1] for line in e2e["stdout"].splitlines() if "run log" in line)
    invocations = Path(log).read_text(encoding="utf-8").split("Running with dbt=")[1:]
    assert len(invocations) == 4  # load_job: seeds and the flags' views, per-year, trends; then plan_job: the plan marts
    assert [("Unable to do partial parsing" in text) for text in invocations] == [False] * 4
    assert not list(e2e["wh"].parent.glob(".*.dbt"))  # the working directories are gone


def test_mart_contracts_are_enforced_by_duckdb(e2e):
    """not_null and allowed values are table constraints of every mart: a bad row cannot be written at all."""
    copy = e2e["wh"].with_name("constraints.duckdb")
    shutil.copy(e2e["wh"], copy)
    with duckdb.connect(str(copy)) as conn:
        constrained = {t for (t,) in conn.execute(
            "select distinct table_name from duckdb_constraints() where schema_name = 'marts' "
            "and constraint_type = 'NOT NULL'").fetchall()}
        assert {"county_indicator_cv", "county_balance", "quality_verdict", "school_indicators",
                "indicator_trend", "county_theil"} <= constrained
        with pytest.raises(duckdb.ConstraintException, match="NOT NULL"):
            conn.execute("insert into marts.county_balance "
                         "select * replace (null as county_code) from marts.county_balance limit 1")
        with pytest.raises(duckdb.ConstraintException, match="CHECK"):
            conn.execute("insert into marts.county_indicator_cv "
                         "select * replace ('senior' as level) from marts.county_indicator_cv limit 1")
        # ranges that must hold are constraints too (they were data tests, each a node and a scan per load)
        with pytest.raises(duckdb.ConstraintException, match="CHECK"):
            conn.execute("insert into marts.school_quality_compliance "
                         "select * replace (8 as indicators_met) from marts.school_quality_compliance limit 1")
        with pytest.raises(duckdb.ConstraintException, match="CHECK"):
            conn.execute("insert into marts.school_standard_gap "
                         "select * replace (-1.0 as gap) from marts.school_standard_gap limit 1")


def _file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_reload_while_reading_with_a_refused_year(e2e, tmp_path):
    data, wh = e2e["data"], e2e["wh"]
    before_2023 = query(wh, "select * from marts.county_indicator_cv where year = 2023 order by all")
    # 2024 resubmitted: one school's books doubled. 2022: a file with a bad cell, refused.
    (src,) = [f for f in (data / "census" / "2024").iterdir()]
    text = _census_reader.read(src)
    target = next(r for r in text if r.get("books") and r["school_type"] in ("小学", "primary"))
    rows = _census_reader.read_rows(src)
    header_row = next(i for i, r in enumerate(rows) if r and any(str(c) in ("学校标识码", "school_code") for c in r if c))
    code_col = next(i for i, c in enumerate(rows[header_row]) if str(c) in ("学校标识码", "school_code"))
    books_col = next(i for i, c in enumerate(rows[header_row]) if str(c).startswith("图书") or c == "books")
    for r in rows[header_row + 1:]:
        if r[code_col] is not None and str(r[code_col]) == target["school_code"]:
            r[books_col] = float(str(r[books_col]).replace(",", "")) * 2
    src.unlink()
    buf = io.StringIO()
    csv.writer(buf).writerows([["" if c is None else c for c in r] for r in rows])
    (data / "census" / "2024" / "resubmitted.csv").write_text(buf.getvalue(), encoding="utf-8")
    bad = data / "census" / "2022" / "bad.csv"
    bad.parent.mkdir(parents=True)
    bad.write_text("school_code,school_name,county_code,school_type,ownership,authority,urban_rural,"
                   "primary_students,junior_students\n3410240001,甲小学,341024,小学,公办,县级,城区,很多,0\n",
                   encoding="utf-8")

    reader = duckdb.connect(str(wh), read_only=True)  # an analyst holds the published file open
    seen_before = reader.execute("select sum(cv) from marts.county_indicator_cv").fetchone()
    result = junheng("run", "--data-dir", str(data), "--warehouse", str(wh), "--year", "2022", "--year", "2024")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "census/2022/bad.csv, 第2行 row 2, 列 column “primary_students”" in result.stdout
    assert "已入库年度 loaded: 2024" in result.stdout and "重算的后续年度 recomputed: 2023" in result.stdout
    # The reader was never blocked and still sees its consistent snapshot.
    assert reader.execute("select sum(cv) from marts.county_indicator_cv").fetchone() == seen_before
    reader.close()

    assert query(wh, "select count(*) from raw.census_schools where year = 2022") == [(0,)]
    books = query(wh, f"select books from raw.census_schools where year = 2024 and school_code = '{target['school_code']}'")
    assert books == [(target["books"] * 2,)]
    # 2023 reads 2022 (year over year), so it was rebuilt: the sentinel is gone and its figures are as before.
    assert query(wh, "select basic_schools from marts.county_balance where year = 2023 and level = 'primary'") != [(-1,)]
    assert query(wh, "select * from marts.county_indicator_cv where year = 2023 order by all") == before_2023
    # Trend marts reflect the reloaded year.
    trend = query(wh, "select t.cv, c.cv from marts.indicator_trend t join marts.county_indicator_cv c using "
                      "(county_code, year, level, method, indicator) where year = 2024 and indicator = 'B5'")
    assert trend and all(a == pytest.approx(b) for a, b in trend)
    runs = junheng("runs", "--warehouse", str(wh), "--problems").stdout
    assert "refused={'2022': 1}" in runs and "primary_students" in runs


def test_every_county_year_not_meeting_quality_has_a_verified_plan(e2e, tmp_path):
    """The load's planner (issue 13): each year the county does not meet §4.1 gets a plan that the official dbt models,
    recomputed on the data with the additions, confirm; its cost, proven lower bound and a gap within 5%. `junheng
    plan` gives the same plan from the published warehouse, and --costs changes what it costs."""
    con = duckdb.connect(str(e2e["wh"]), read_only=True)
    try:
        need = {y for (y,) in con.execute(
            "SELECT year FROM marts.county_balance WHERE county_code = ? GROUP BY year "
            "HAVING NOT bool_and(coalesce(quality_resource_met, false))", [COUNTY]).fetchall()}
        summary = {r[0]: r[1:] for r in con.execute(
            "SELECT year, status, verified, cost_total, lower_bound, gap FROM marts.investment_plan_summary "
            "WHERE county_code = ? AND target_year = year", [COUNTY]).fetchall()}
        adds = dict(con.execute("SELECT year, sum(cost) FROM marts.investment_plan WHERE county_code = ? GROUP BY year",
                                [COUNTY]).fetchall())
    finally:
        con.close()
    assert need and set(summary) == need
    for year, (status, verified, cost, bound, gap) in summary.items():
        assert status == "optimal" and verified is True, (year, status)
        assert adds[year] == pytest.approx(cost) and 0 < bound <= cost and gap <= 0.05
    year = max(need)
    out = junheng("plan", "--county", COUNTY, "--year", str(year), "--warehouse", str(e2e["wh"]), "--out", str(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"投入总额 cost: {summary[year][2]:,.0f} 元" in out.stdout and "verified: True" in out.stdout
    # every unit cost doubled: the same least-cost plan (costs scale), at twice the cost
    costs = tmp_path / "costs.csv"
    costs.write_text("resource,yuan_per_unit\n" + "".join(
        f"{r},{c * 2}\n" for r, c in [("teachers_above_degree", 100000), ("backbone_teachers", 100000),
                                      ("pe_art_teachers", 100000), ("teaching_aux_area_m2", 3000),
                                      ("sports_area_m2", 400), ("equipment_value_yuan", 1),
                                      ("multimedia_classrooms", 60000)]), encoding="utf-8")
    doubled = junheng("plan", "--county", COUNTY, "--year", str(year), "--warehouse", str(e2e["wh"]), "--costs", str(costs))
    assert doubled.returncode == 0 and f"投入总额 cost: {2 * summary[year][2]:,.0f} 元" in doubled.stdout
    costs.write_text("resource,yuan_per_unit\nmultimedia_classrooms,很贵\nswimming_pools,1\n", encoding="utf-8")
    bad = junheng("plan", "--county", COUNTY, "--warehouse", str(e2e["wh"]), "--costs", str(costs))
    assert bad.returncode == 2 and "costs.csv:2" in bad.stderr and "yuan_per_unit" in bad.stderr
    assert junheng("plan", "--county", "999999", "--warehouse", str(e2e["wh"])).returncode == 2


def test_plans_follow_the_figures(e2e):
    """Plans are their own Dagster job (plan_job) after the load: a load publishes its figures, then `junheng run`
    plans exactly the years whose plans Dagster reports missing or stale — the question plans_sensor asks too."""
    data, wh = e2e["data"], e2e["wh"]
    current = junheng("run", "--data-dir", str(data), "--warehouse", str(wh), "--plans-only")
    assert current.returncode == 0 and "every year's plans are current" in current.stdout, current.stdout
    planned_at = dict(query(wh, "select year, max(planned_at) from planner.plan_counties group by year"))
    # a load without plans: its figures are published, its year's plans (and only those) are out of date
    load = junheng("run", "--data-dir", str(data), "--warehouse", str(wh), "--year", "2024", "--no-plans")
    assert load.returncode == 0 and "investment plans" not in load.stdout, load.stdout
    plans = junheng("run", "--data-dir", str(data), "--warehouse", str(wh), "--plans-only")
    assert plans.returncode == 0, plans.stdout + plans.stderr
    assert "2024: " in plans.stdout and "2023: " not in plans.stdout and "已发布方案 / plans published" in plans.stdout
    # the statuses by the names the plan mart gives them (its status_zh), not a second list of names
    (line,) = [x for x in plans.stdout.splitlines() if x.startswith("2024: ")]
    for status, name in query(wh, "select distinct status, status_zh from marts.investment_plan_summary "
                                  "where year = 2024"):
        assert f"{name} {status} " in line, line
    after = dict(query(wh, "select year, max(planned_at) from planner.plan_counties group by year"))
    assert after[2024] > planned_at[2024] and {y: t for y, t in after.items() if y != 2024} == {
        y: t for y, t in planned_at.items() if y != 2024}
    runs = junheng("runs", "--warehouse", str(wh)).stdout.splitlines()
    assert "plan_job" in runs[-1] and "planned=[2024]" in runs[-1] and "load_job" in runs[-2]
