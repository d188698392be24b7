"""Plausibility rules (issue 4, issue 14): per rule a school that trips it and schools that do not; the flags asset.

Small hand-made census rows: a clean panel of schools over 2021–2022, then one offender per rule in 2022, loaded into
a small warehouse with the dbt views the flags read (quality_db.py). The values the rules judge are SQL over those
views (values_sql.py) and Great Expectations is the only evaluator (it returns the failing rows); the years are
flagged in order, so 2022 reads 2021's stored verdicts. The flags are computed once per module (fixture), so the
per-rule tests are just lookups.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from junheng.defs.quality.checks import CURRENT_YEAR_TABLES, build_checks
from junheng.defs.quality.flags import FLAG_COLUMNS
from junheng.defs.quality.gx_run import SUITES_DIR, suite_dicts
from junheng.defs.quality.rules import load_rules
from quality_db import build_template, flag_years, warehouse

RULES = load_rules()
Y = 2022


def school(code: str, stype: str = "primary", county: str = "340100", scale: float = 1.0, seed: int = 0) -> dict:
    """A plausible school (per-student values mid-range), deterministic per seed."""
    r = np.random.default_rng(seed)
    d = dict(school_code=code, school_name=f"学校{code}", county_code=county, school_type=stype,
             ownership="public", authority="county", urban_rural="rural")
    a = float(round(r.integers(200, 900) * scale)) if stype in ("primary", "nine_year") else 0.0
    b = float(round(r.integers(200, 900) * scale)) if stype in ("junior", "nine_year") else 0.0
    tot = a + b
    d.update(primary_students=a, junior_students=b, senior_students=None,
             primary_classes=round(a / 40) if a else 0.0, junior_classes=round(b / 45) if b else 0.0,
             primary_classes_over_45=0.0, junior_classes_over_50=0.0)
    for lvl, n in (("primary", a), ("junior", b)):
        t = round(n * 0.065)
        d.update({f"{lvl}_teachers": t, f"{lvl}_teachers_above_degree": round(t * .8),
                  f"{lvl}_teachers_senior_title": round(t * .4), f"{lvl}_backbone_teachers": round(t * .1),
                  f"{lvl}_pe_art_teachers": round(t * .12)})
    d.update(teaching_aux_area_m2=round(tot * r.uniform(4, 7)), sports_area_m2=round(tot * r.uniform(6, 12)),
             equipment_value_10k_yuan=round(tot * r.uniform(1500, 3000) / 1e4, 2), books=round(tot * r.uniform(20, 40)),
             computers=round(tot * r.uniform(.08, .14)), multimedia_classrooms=max(1, round(tot / 40)),
             music_rooms=2.0, music_room_area_m2=200.0, art_rooms=1.0, art_room_area_m2=95.0)
    return d


def grown(d: dict, seed: int) -> dict:
    """Next year's submission of the same school: a few percent of ordinary change."""
    r = np.random.default_rng(1000 + seed)
    e = dict(d)
    for k in ("primary_students", "junior_students", "teaching_aux_area_m2", "books", "equipment_value_10k_yuan"):
        if e[k]:
            e[k] = float(round(e[k] * r.uniform(0.97, 1.05), 2))
    return e


OFFENDERS = {  # rule -> (school, how 2022 is submitted)
    "R_RANGE_TEACHING_AREA_PER_STUDENT": ("P01", lambda d: d.update(teaching_aux_area_m2=d["primary_students"] * 0.1)),
    "R_RANGE_SPORTS_AREA_PER_STUDENT": ("P02", lambda d: d.update(sports_area_m2=round(d["sports_area_m2"] / 666.67, 2))),
    "R_UNIT_SLIP_MU_M2": ("P02", None),
    "R_RANGE_EQUIPMENT_PER_STUDENT": ("P03", lambda d: d.update(equipment_value_10k_yuan=d["equipment_value_10k_yuan"] * 1e4)),
    "R_UNIT_SLIP_10K_YUAN": ("P03", None),
    "R_RANGE_BOOKS_PER_STUDENT": ("P04", lambda d: d.update(books=d["primary_students"] * 0.5)),
    "R_RANGE_COMPUTERS_PER_100": ("P05", lambda d: d.update(computers=d["primary_students"] * 5)),
    "R_RANGE_TEACHERS_PER_STUDENT": ("P06", lambda d: d.update(primary_teachers=d["primary_students"])),
    "R_SUBCOUNT_EXCEEDS_TOTAL": ("P07", lambda d: d.update(primary_teachers_above_degree=d["primary_teachers"] + 5)),
    "R_CLASSES_FOR_STUDENTS": ("P08", lambda d: d.update(primary_classes=0.0)),
    "R_STUDENTS_PER_CLASS": ("P09", lambda d: d.update(primary_classes=d["primary_students"])),
    "R_ROOM_AREA_PER_ROOM": ("P10", lambda d: d.update(music_room_area_m2=5000.0)),
    "R_SECTION_MISMATCH": ("P11", lambda d: d.update(junior_students=20.0)),
    "R_NEGATIVE": ("P12", lambda d: d.update(computers=-d["computers"])),
    "R_YOY_HB_OUTLIER": ("P13", lambda d: d.update(books=d["books"] * 10)),
    "R_TYPE_CHANGED": ("P15", lambda d: d.update(school_type="nine_year", junior_students=300.0, junior_classes=7.0,
                                                 junior_teachers=20.0)),
    "R_COUNTY_CHANGED": ("P16", lambda d: d.update(county_code="340102")),
}
# the rules with more than one expectation: an offender per expectation (rule, field it flags)
VARIANTS = {
    ("R_ROOM_AREA_PER_ROOM", "music_rooms"): ("P17", lambda d: d.update(music_rooms=0.0)),  # area without rooms
    ("R_ROOM_AREA_PER_ROOM", "art_room_area_m2"): ("P18", lambda d: d.update(art_room_area_m2=0.0)),  # rooms, no area
    ("R_CLASSES_FOR_STUDENTS", "primary_students"): ("P19", lambda d: d.update(primary_students=0.0)),
    ("R_STUDENTS_PER_CLASS", "primary_students"): ("P20", lambda d: d.update(primary_classes=1.0)),
}
MERGER = "P14"  # students, teachers and resources all ×1.8: large but believable (info, never a warning)


def _merge(d: dict) -> None:
    for k in ("primary_students", "primary_classes", "primary_teachers", "primary_teachers_above_degree",
              "primary_teachers_senior_title", "primary_backbone_teachers", "primary_pe_art_teachers",
              "teaching_aux_area_m2", "sports_area_m2", "equipment_value_10k_yuan", "books", "computers"):
        d[k] = float(round(d[k] * 1.8))


def build_panel() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(2021, 2022, 2023) census frames. Clean schools C.., offenders P.., a new and a vanished school."""
    base = [school(f"C{i:02d}", seed=i) for i in range(24)]
    base += [school(f"J{i:02d}", "junior", seed=100 + i) for i in range(12)]
    base += [school(f"N{i:02d}", "nine_year", seed=200 + i) for i in range(12)]
    base += [school(f"P{i:02d}", seed=300 + i) for i in range(1, 21)]
    base += [school("GONE1", seed=400)]
    y21 = [dict(d, year=2021) for d in base]
    y22, y23 = [], []
    for i, d in enumerate(base):
        if d["school_code"] == "GONE1":
            continue
        e = grown(d, i)
        f = grown(e, 50 + i)
        for code, fn in [*OFFENDERS.values(), *VARIANTS.values()]:
            if code == d["school_code"] and fn is not None:
                fn(e)
        if d["school_code"] == MERGER:
            _merge(e)
            f = grown(e, 50 + i)
        y22.append(dict(e, year=2022))
        y23.append(dict(f, year=2023))  # 2023: every slip corrected (P13's books fall back to normal)
    y22.append(dict(school("NEW01", seed=500), year=2022))
    y23.append(dict(grown(school("NEW01", seed=500), 9), year=2023))
    return pd.DataFrame(y21), pd.DataFrame(y22), pd.DataFrame(y23)


def returns_2022() -> pd.DataFrame:
    ok = {c: 98.0 for c in ("training_completion_rate", "certified_teacher_rate", "nearby_enrollment_primary_rate",
                            "nearby_enrollment_junior_rate", "quota_allocation_rate", "migrant_public_rate",
                            "junior_retention_rate", "disabled_enrollment_rate", "social_recognition_rate")}
    ok.update(exchange_rate=12.0, backbone_exchange_share=25.0, training_budget_share=6.0, teacher_pay_ratio=1.05,
              monitoring_between_school_rate=0.11, special_school_funding_per_student=7000.0)
    for b in ("layout_planned", "urban_rural_unified", "small_school_funding_floor", "staffing_within_quota",
              "left_behind_care_system", "charter_and_it", "ict_teaching", "moral_education_good",
              "curriculum_complete", "homework_burden_ok", "monitoring_level_ok"):
        ok[b] = True
    clean = dict(ok, county_code="340100")
    bad_range = dict(ok, county_code="340101", training_completion_rate=150.0, teacher_pay_ratio=105.0)
    bad_share = dict(ok, county_code="340102", certified_teacher_rate=0.99)
    missing = dict(ok, county_code="340103", social_recognition_rate=None)
    missing_too = dict(ok, county_code="340105", social_recognition_rate=None)  # the same item, another county
    return pd.DataFrame([clean, bad_range, bad_share, missing, missing_too])


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return build_template(tmp_path_factory.mktemp("quality"))


@pytest.fixture(scope="module")
def panel():
    return build_panel()


def flags_of(template: Path, path: Path, census: list[pd.DataFrame], year: int, returns=None, rules=None
             ) -> pd.DataFrame:
    """The flags of `year` in a warehouse holding `census`, every earlier year flagged first (as a load does)."""
    warehouse(template, path, census, returns)
    years = sorted({int(y) for df in census for y in df["year"]} | {year})
    with duckdb.connect(str(path)) as conn:
        out = flag_years(conn, [y for y in years if y <= year], rules=rules)
    return out[year][0]


@pytest.fixture(scope="module")
def flags(panel, template, tmp_path_factory):
    y21, y22, _ = panel
    # Schools of the county without a return (R_RETURN_MISSING): one school in 340104.
    y22 = pd.concat([y22, pd.DataFrame([dict(school("X01", county="340104", seed=600), year=2022)])],
                    ignore_index=True)
    return flags_of(template, tmp_path_factory.mktemp("flags") / "wh.duckdb", [y21, y22], Y, {Y: returns_2022()})


CLEAN = [f"C{i:02d}" for i in range(24)] + [f"J{i:02d}" for i in range(12)] + [f"N{i:02d}" for i in range(12)]


def _has(flags: pd.DataFrame, rule: str, school: str | None = None, county: str | None = None) -> pd.DataFrame:
    f = flags[flags["rule_id"] == rule]
    if school is not None:
        f = f[f["school_code"] == school]
    if county is not None:
        f = f[(f["county_code"] == county) & f["school_code"].isna()]
    return f


def test_flag_table_shape(flags):
    assert list(flags.columns) == FLAG_COLUMNS
    assert set(flags["severity"]) <= {"warning", "info"}
    assert (flags["year"] == Y).all()


@pytest.mark.parametrize("rule", sorted(OFFENDERS))
def test_rule_trips_on_its_offender(flags, rule):
    code = OFFENDERS[rule][0]
    hit = _has(flags, rule, code)
    assert len(hit), f"{rule} did not flag {code}:\n{flags[flags.school_code == code]}"
    assert (hit["severity"] == RULES[rule].severity).all()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_each_expectation_of_a_rule_trips_on_its_offender(flags, variant):
    rule, field = variant
    hit = _has(flags, rule, VARIANTS[variant][0])
    assert field in set(hit["field"]), f"{rule} did not flag {field} of {VARIANTS[variant][0]}:\n{hit}"


@pytest.mark.parametrize("rule", sorted(OFFENDERS))
def test_rule_quiet_on_clean_schools(flags, rule):
    assert _has(flags, rule)["school_code"].isin(CLEAN).sum() == 0


def test_clean_schools_have_no_warning(flags):
    w = flags[(flags["severity"] == "warning") & flags["school_code"].isin(CLEAN)]
    assert w.empty, w.to_string()


def test_unit_slips_named_and_hb_not_duplicated(flags):
    assert _has(flags, "R_UNIT_SLIP_10K_YUAN", "P03")["field"].tolist() == ["equipment_value_10k_yuan"]
    assert _has(flags, "R_UNIT_SLIP_MU_M2", "P02")["field"].tolist() == ["sports_area_m2"]
    # the same field is not reported again as a generic HB outlier
    hb = _has(flags, "R_YOY_HB_OUTLIER")
    assert not ((hb["school_code"] == "P03") & (hb["field"] == "equipment_value_10k_yuan")).any()


def test_tenfold_jump_is_a_warning_on_books(flags):
    hb = _has(flags, "R_YOY_HB_OUTLIER", "P13")
    assert hb["field"].tolist() == ["books"]
    assert hb["severity"].eq("warning").all()


def test_merger_is_info_not_warning(flags):
    f = flags[flags["school_code"] == MERGER]
    assert not f.empty and set(f["rule_id"]) == {"R_YOY_LARGE_CHANGE"}
    assert (f["severity"] == "info").all()


def test_appeared_and_vanished_are_info(flags):
    assert _has(flags, "R_SCHOOL_APPEARED", "NEW01")["severity"].tolist() == ["info"]
    assert _has(flags, "R_SCHOOL_VANISHED", "GONE1")["severity"].tolist() == ["info"]
    assert _has(flags, "R_SCHOOL_APPEARED")["school_code"].isin(CLEAN).sum() == 0


def test_return_rules(flags):
    assert set(_has(flags, "R_RETURN_RATE_RANGE", county="340101")["field"]) == {"training_completion_rate",
                                                                                 "teacher_pay_ratio"}
    assert _has(flags, "R_RETURN_RATE_AS_SHARE", county="340102")["field"].tolist() == ["certified_teacher_rate"]
    for county in ("340103", "340105"):  # each county's return is flagged, not only the first one's
        assert _has(flags, "R_RETURN_REQUIRED_MISSING", county=county)["field"].tolist() == ["social_recognition_rate"]
    assert _has(flags, "R_RETURN_MISSING", county="340104")["severity"].tolist() == ["info"]
    clean_county = flags[(flags["county_code"] == "340100") & flags["school_code"].isna()]
    assert clean_county.empty, clean_county.to_string()


def test_no_yoy_flags_without_last_year(panel, template, tmp_path):
    _, y22, _ = panel
    out = flags_of(template, tmp_path / "wh.duckdb", [y22], Y)
    assert not out["rule_id"].str.startswith(("R_YOY", "R_UNIT_SLIP", "R_SCHOOL_")).any()
    assert len(_has(out, "R_NEGATIVE", "P12"))  # current-year rules still run


def test_year_after_a_slip_is_not_flagged(panel, template, tmp_path):
    """P13's books were ×10 in 2022 and back to normal in 2023: 2023 is clean."""
    out = flags_of(template, tmp_path / "wh.duckdb", list(panel), 2023)
    w = out[(out["severity"] == "warning") & out["school_code"].notna()]
    assert w.empty, w.to_string()


def test_last_years_stored_warnings_are_no_baseline(panel, template, tmp_path):
    """2023 compares with 2022 where 2022's stored verdicts trust the value: P04's books were out of range in 2022
    (a warning on the year's own values), so their return to normal in 2023 is not a jump. Without that stored
    verdict, or once the county confirmed the 2022 value (issue 15), 2022 is the baseline and 2023 is flagged."""
    _, y22, y23 = panel  # no 2021: only 2022's own warnings keep its slips from being 2023's baseline
    path = tmp_path / "wh.duckdb"
    out = flags_of(template, path, [y22, y23], 2023)
    assert _has(out, "R_YOY_HB_OUTLIER", "P04").empty and _has(out, "R_YOY_LARGE_CHANGE", "P04").empty
    with duckdb.connect(str(path)) as conn:
        stored = conn.execute("SELECT rule_id, field FROM marts.submission_flags WHERE year = 2022 "
                              "AND school_code = 'P04'").fetchall()
        assert ("R_RANGE_BOOKS_PER_STUDENT", "books") in stored
        conn.execute("DELETE FROM marts.submission_flags WHERE year = 2022 AND school_code = 'P04'")
        again = flag_years(conn, [2023])[2023][0]
    assert _has(again, "R_YOY_HB_OUTLIER", "P04")["field"].tolist() == ["books"]
    # a confirmed value is real: a baseline despite its warning
    with duckdb.connect(str(path)) as conn:
        flag_years(conn, [2022])
        conn.execute("CREATE OR REPLACE VIEW raw.flag_confirmations_in_force AS "
                     "SELECT 2022 AS year, 'P04' AS school_code, 'R_RANGE_BOOKS_PER_STUDENT' AS rule_id, "
                     "'books' AS field")
        confirmed = flag_years(conn, [2023])[2023][0]
    assert _has(confirmed, "R_YOY_HB_OUTLIER", "P04")["field"].tolist() == ["books"]


def test_thresholds_come_from_the_rules_alone(panel, template, tmp_path):
    """The SQL computes values, GX judges them against the rules' bounds: a tighter bound in the rules (nothing else
    changed) flags clean schools whose books per student lie beyond it, and changes no other rule on the year's own
    values (year-over-year rules may change: a value flagged last year is no baseline)."""
    y21, y22, _ = panel
    rules = copy.deepcopy(RULES)
    rules["R_RANGE_BOOKS_PER_STUDENT"].params["primary"]["max"] = 30
    base = flags_of(template, tmp_path / "base.duckdb", [y21, y22], Y)
    tight = flags_of(template, tmp_path / "tight.duckdb", [y21, y22], Y, rules=rules)
    books = _has(tight, "R_RANGE_BOOKS_PER_STUDENT")
    assert books["school_code"].isin(CLEAN).sum() > 0 and "1–30 volumes/student" in set(books["expected"])
    assert set(_has(base, "R_RANGE_BOOKS_PER_STUDENT")["school_code"]) < set(books["school_code"])

    current = {ch.rule_id for ch in build_checks(RULES) if ch.table in CURRENT_YEAR_TABLES}

    def others(f):
        f = f[f["rule_id"].isin(current - {"R_RANGE_BOOKS_PER_STUDENT"})]
        return set(map(tuple, f[["school_code", "rule_id", "field"]].astype(str).values))

    assert others(tight) == others(base)


def test_gx_returns_every_failing_row_of_every_check(panel, template, tmp_path):
    """GX is the evaluator of record: each check's failing rows are GX's own (its count equals its row list), and
    every flag of a current-year rule is one of them."""
    y21, y22, _ = panel
    path = warehouse(template, tmp_path / "wh.duckdb", [y21, y22])
    with duckdb.connect(str(path)) as conn:
        out = flag_years(conn, [2021, 2022])[2022]
    flags22, outcome = out
    assert outcome.unexpected and all(outcome.unexpected[f.check.key] == len(f.index) for f in outcome.failures)
    current = {f.check.rule_id for f in outcome.failures if f.check.table in CURRENT_YEAR_TABLES}
    assert current <= {ch.rule_id for ch in build_checks(RULES)} and "R_NEGATIVE" in current
    assert set(flags22[flags22["rule_id"].isin(current)]["rule_id"]) == current


def test_suite_json_matches_rules():
    """expectations/suites/*.json are regenerated from rules.yml (python -m junheng.defs.quality.gx_run --write)."""
    for table, d in suite_dicts(RULES).items():
        saved = json.loads((SUITES_DIR / f"junheng_{table}.json").read_text(encoding="utf-8"))
        assert saved == json.loads(json.dumps(d, ensure_ascii=False, sort_keys=True)), table


def test_gx_imports_ahead_and_does_not_fingerprint_the_frames():
    """Two speed-ups of the flags step lean on GX internals, so an upgrade that moves them fails here, not silently:
    prefetch_gx (started by the load's first dbt step) imports the modules a validation needs, every one of which
    must exist (a wrong name would be swallowed by the background thread); and GX's batch fingerprint (a hash of
    every judged frame, ~1 s a national year, read by nobody) is off through the module constant HASH_THRESHOLD."""
    import subprocess
    import sys

    code = ("import sys; import junheng.defs.quality.gx_run as g; assert 'great_expectations' not in sys.modules; "
            "g.prefetch_gx(); g._prefetch.join(); missing = [m for m in g.GX_MODULES if m not in sys.modules]; "
            "assert not missing, missing; g._gx(); "
            "from great_expectations.execution_engine import pandas_execution_engine as pe; "
            "import inspect; assert pe.HASH_THRESHOLD == 0; "
            "assert 'HASH_THRESHOLD' in inspect.getsource(pe.PandasExecutionEngine.get_batch_data_and_markers)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_every_rule_documented_and_parameterised():
    for r in RULES.values():
        for lang in ("zh", "en"):
            assert {"what", "when", "resolve"} <= set(r.description[lang]), r.id
    hb = RULES["R_YOY_HB_OUTLIER"].params
    assert {"U", "A", "C"} <= set(hb)


# ---------------------------------------------------------------- the Dagster asset


def test_flags_asset_replaces_the_years_of_its_run_and_publishes(tmp_path, panel, template):
    """One run over 2022–2023 (the years after a reloaded 2022): both years' flags are replaced in the load's copy,
    and what the run materializes reaches the published file through published_warehouse."""
    import dagster as dg
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from junheng.defs.publish import published_warehouse_asset
    from junheng.defs.quality import FLAGS_KEY, quality_assets, quality_checks
    from junheng.defs.resources import WarehouseResource

    y21, y22, y23 = panel
    published = warehouse(template, tmp_path / "wh.duckdb", [y21, y22, y23])
    with duckdb.connect(str(published)) as conn:
        # stale rows of 2022 and 2023 that the run must replace
        conn.execute("INSERT INTO marts.submission_flags VALUES (2022, '340100', 'C00', 'R_STALE', 'warning', "
                     "NULL, NULL, NULL, NULL), (2023, '340100', 'C00', 'R_STALE', 'warning', NULL, NULL, NULL, NULL)")
    wh = WarehouseResource(published=str(published), data_dir=str(tmp_path))
    res = dg.materialize(
        [*quality_assets, *quality_checks, published_warehouse_asset([FLAGS_KEY])],
        resources={"warehouse": wh},
        tags={ASSET_PARTITION_RANGE_START_TAG: "2022", ASSET_PARTITION_RANGE_END_TAG: "2023"},
    )
    assert res.success
    assert not published.with_name("wh.duckdb.building").exists()
    with duckdb.connect(str(published), read_only=True) as conn:
        f = conn.execute("SELECT * FROM marts.submission_flags").df()
    assert "R_STALE" not in set(f["rule_id"])
    assert set(f["year"]) == {2022, 2023}
    assert len(f[(f.year == 2022) & (f.rule_id == "R_NEGATIVE") & (f.school_code == "P12")]) == 1
    assert f[(f.year == 2023) & (f.severity == "warning") & f.school_code.notna()].empty
    # per-partition metadata: each year its own counts, GX's seconds and Data Docs, published beside the warehouse
    mats = {m.partition: m for m in res.asset_materializations_for_node("marts__submission_flags")}
    assert set(mats) == {"2022", "2023"}
    md = mats["2022"].metadata
    assert md["warnings"].value > 0 and Path(md["gx_data_docs"].value).exists()
    assert md["seconds"].value["gx_s"] > 0
    assert (published.parent / "docs" / "gx" / "index.html").exists()
    checks = {e.check_name: e for e in res.get_asset_check_evaluations()}
    assert set(checks) == {"school_plausibility", "county_return_plausibility"}
    assert not checks["school_plausibility"].passed  # warnings exist: reported, never blocking
    assert checks["school_plausibility"].severity.value == "WARN"


def test_flags_asset_reads_the_dbt_views():
    """The flags read the views the load's first dbt step creates: declared upstream of the flags asset."""
    import dagster as dg

    from junheng.defs.quality import quality_assets

    deps = {k.to_user_string() for k in quality_assets[0].asset_deps[dg.AssetKey(["marts", "submission_flags"])]}
    assert {"staging/stg_census_schools", "intermediate/int_school_parts", "raw/census_schools"} <= deps


def test_a_run_that_would_not_publish_is_refused_before_it_starts(tmp_path, panel, template):
    import dagster as dg

    from junheng.defs.quality import quality_assets
    from junheng.defs.resources import WarehouseResource

    published = warehouse(template, tmp_path / "wh.duckdb", [panel[0]])
    before = published.read_bytes()
    wh = WarehouseResource(published=str(published), data_dir=str(tmp_path))
    res = dg.materialize(quality_assets, partition_key="2021", resources={"warehouse": wh}, raise_on_error=False)
    assert not res.success
    assert "published_warehouse" in str(res.all_events)
    assert res.get_asset_materialization_events() == []
    assert published.read_bytes() == before


def test_quality_values_split_with_the_seed_and_its_provincial_overrides(tmp_path, template):
    """The per-student values the range rules judge use the section split of int_school_parts: the split_weights
    seed (spec §1 worked example: 23,226 books -> 9,711.6 primary, 13,514.4 junior), a province's override included."""
    from junheng.defs.quality import values_sql as V

    census = pd.DataFrame({
        "year": [2022, 2022], "school_code": ["a", "b"], "school_name": ["a", "b"], "county_code": ["110101", "120101"],
        "school_type": ["nine_year", "nine_year"], "ownership": ["public"] * 2, "authority": ["county"] * 2,
        "urban_rural": ["urban"] * 2, "primary_students": [166.0, 166.0], "junior_students": [210.0, 210.0],
        "books": [23226.0, 23226.0]})
    path = warehouse(template, tmp_path / "wh.duckdb", [census])
    checks = build_checks(RULES)

    def books(level: str) -> list[float]:
        with duckdb.connect(str(path)) as conn:
            for name, sql in V.census_sql(2022, RULES):  # the census in force the relations read
                conn.execute(f"CREATE TEMP TABLE {name} AS {sql}")
            df = conn.execute(V.parts_sql(level, RULES, checks)).df().sort_values("school_code")
        return (df["books_per_student"] * df["students"]).tolist()

    assert books("primary") == pytest.approx([9711.6, 9711.6], abs=0.05)
    assert books("junior") == pytest.approx([13514.4, 13514.4], abs=0.05)
    with duckdb.connect(str(path)) as conn:  # a provincial override row, as the seed would hold it
        conn.execute("INSERT INTO config.split_weights VALUES ('11', 'nine_year', 'junior', 1.5)")
    junior = books("junior")
    assert junior[0] == pytest.approx(23226 * 1.5 * 210 / (166 + 1.5 * 210))  # province 11: the override
    assert junior[1] == pytest.approx(13514.4, abs=0.05)  # province 12: the national weight
