"""Property of every plan (issue 13): on random counties, the plan applied to the census and recomputed by the official
dbt models passes §4.1, and taking away one whole room or teacher, or 1% of any area or equipment addition (at least
one practical unit: 1 m², 100 yuan), makes some rule fail (no waste). The recomputation is the real one: raw census rows in a scratch DuckDB file, `dbt seed` and the
verdict models (stg_census_schools → int_school_parts → … → county_balance)."""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import subprocess

import duckdb
from junheng.lib.dbt_state import DBT, DBT_PROJECT_DIR
from junheng.lib.planner import verify as vf
from junheng.lib.planner.data import load_problems
from junheng.lib.planner.problem import evaluate
from junheng.lib.planner.solve import solve
from junheng.lib.schema import CENSUS_COLUMNS
from junheng.lib.warehouse import ensure_raw_schema

YEAR = 2024
COLUMNS = [c.name for c in CENSUS_COLUMNS]


def random_county(rng: random.Random, county: str, n: int) -> list[dict]:
    """n schools around the 2017 standards (some below them, some far above: both rules bind somewhere), a third of
    them 九年一贯制 (whole-school facilities split over two parts)."""
    rows = []
    for i in range(n):
        kind = rng.choice(["primary", "primary", "junior", "nine_year"])
        p = rng.randint(80, 900) if kind != "junior" else 0
        j = rng.randint(80, 700) if kind != "primary" else 0
        k = (p + 1.1 * j) / 100  # per hundred weighted students
        lo, hi = 0.6, 1.8

        def f(x):
            return x * rng.uniform(lo, hi)

        rows.append({
            "school_code": f"{county}{i:04d}", "school_name": f"测试学校{i}", "county_code": county,
            "county_name": "测试县", "school_type": kind, "ownership": "public", "authority": "county",
            "urban_rural": rng.choice(["urban", "town", "rural"]), "year": YEAR,
            "primary_students": p, "junior_students": j, "senior_students": 0,
            "primary_classes": max(1, p // 45) if p else 0, "junior_classes": max(1, j // 50) if j else 0,
            "primary_classes_over_45": 0, "junior_classes_over_50": 0,
            "primary_teachers": round(p / 17), "junior_teachers": round(j / 13),
            "primary_teachers_above_degree": round(f(4.5 * p / 100)), "junior_teachers_above_degree": round(f(5.6 * j / 100)),
            "primary_teachers_senior_title": round(p / 40), "junior_teachers_senior_title": round(j / 30),
            "primary_backbone_teachers": round(f(1.1 * p / 100)), "junior_backbone_teachers": round(f(1.1 * j / 100)),
            "primary_pe_art_teachers": round(f(1.0 * p / 100)), "junior_pe_art_teachers": round(f(1.0 * j / 100)),
            "teaching_aux_area_m2": round(f(500 * k), 1), "sports_area_m2": round(f(850 * k), 1),
            "equipment_value_10k_yuan": round(f(23 * k), 2), "books": round(30 * 100 * k),
            "computers": round(12 * k), "multimedia_classrooms": round(f(2.5 * k)),
            "music_rooms": 1, "music_room_area_m2": 100, "art_rooms": 1, "art_room_area_m2": 95,
        })
    return rows


def write_census(path, rows: list[dict]) -> None:
    """Append `rows` to raw.census_schools of the file at `path` (created with the raw schema if new)."""
    con = duckdb.connect(str(path))
    try:
        ensure_raw_schema(con)
        now = dt.datetime(2024, 12, 1)
        for i, r in enumerate(rows):
            cols = [c for c in COLUMNS if c in r]
            con.execute(
                f"INSERT INTO raw.census_schools ({', '.join(cols)}, source_file, source_sha256, source_row, loaded_at, "
                f"load_run_id) VALUES ({', '.join('?' * len(cols))}, 'property', 'x', ?, ?, 'test')",
                [r[c] for c in cols] + [i + 2, now])
    finally:
        con.close()


def seed(path) -> None:
    env = {**os.environ, "JUNHENG_DBT_DATABASE": str(path)}
    target = path.parent / "seed-target"
    subprocess.run([DBT, "seed", "--quiet", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
                    "--target-path", str(target), "--log-path", str(path.parent / "logs")],
                   cwd=DBT_PROJECT_DIR, env=env, check=True, capture_output=True)


def minus_one_unit(problem, additions: dict) -> list[tuple[str, dict]]:
    """Every plan with one unit taken away: a whole room or teacher, or 1% of an area or equipment addition — but at
    least its practical unit (1 m², 100 yuan, spec §6): a plan rounded up to whole m² may keep up to 1 m² of slack, which
    is 1% of an addition only from 100 m² up."""
    out = []
    for key, amount in additions.items():
        item = problem.items[key[2]]
        less = dict(additions)
        less[key] = amount - (item.step if item.integral else max(0.01 * amount, item.step))
        if less[key] <= 0:
            del less[key]
        out.append((f"{key[0]} {key[1] or 'whole_school'} {key[2]} -{'1' if item.integral else '1%'}", less))
    return out


def test_random_counties_plans_pass_the_official_models_and_waste_nothing(tmp_path):
    rng = random.Random(20261128)
    counties = [f"3499{i:02d}" for i in range(6)]
    rows = [r for c in counties for r in random_county(rng, c, rng.randint(6, 14))]
    base = tmp_path / "base.duckdb"
    write_census(base, rows)
    seed(base)
    vf.run_verdict_models(base, YEAR)
    con = duckdb.connect(str(base), read_only=True)
    try:
        problems = load_problems(con, YEAR, counties)
        fields = vf.census_fields(con)
    finally:
        con.close()
    assert len(problems) == len(counties)
    plans = {p.county_code: solve(p) for p in problems}
    planned = [p for p in problems if plans[p.county_code].additions]
    assert len(planned) >= 4, {c: (r.status, r.reason_zh) for c, r in plans.items()}  # the draw makes most fail
    for p in planned:
        assert plans[p.county_code].status == "optimal"
        assert plans[p.county_code].gap <= 0.05

    # One recomputation for both checks (a copy of the base file: it has the seeds): the original counties with
    # their plans, and each plan less one unit as a county of its own (schools renamed).
    check = tmp_path / "check.duckdb"
    shutil.copyfile(base, check)
    changes = {p.county_code: vf.census_changes(p, plans[p.county_code].additions, fields) for p in planned}
    variants, labels = [], {}
    by_county: dict[str, list[dict]] = {}
    for r in rows:
        by_county.setdefault(r["county_code"], []).append(r)
    for p in planned:
        for label, less in minus_one_unit(p, plans[p.county_code].additions):
            assert not evaluate(p, less).passes, label  # the solver's own exact rules agree
            code = f"34{5000 + len(labels):04d}"
            rename = {r["school_code"]: f"{code}{r['school_code'][-4:]}" for r in by_county[p.county_code]}
            variants += [{**r, "county_code": code, "school_code": rename[r["school_code"]]} for r in by_county[p.county_code]]
            changes[code] = [(rename[s], f, a) for s, f, a in vf.census_changes(p, less, fields)]
            labels[code] = f"{p.county_code}: {label}"
    write_census(check, variants)
    vf.apply_additions(check, YEAR, changes)
    vf.run_verdict_models(check, YEAR)
    got = vf.verdicts(check, YEAR)
    # 1. every plan, applied to the census and recomputed by dbt, passes §4.1
    for p in planned:
        assert got[p.county_code] == (True, ""), p.county_code
    # 2. every plan less one unit fails some rule
    wasteful = [labels[c] for c in labels if got[c][0]]
    assert not wasteful, f"a unit could be taken away and the county still passes: {wasteful}"
    assert len(labels) >= 10
