"""A small warehouse holding the marts the reports read, with realistic, internally consistent values.

The numbers are computed here from generated school resources with the spec's formulas (students-weighted
county value and CV, school CV shares, gaps to standard, progress ranking), so a report rendered from this
file looks like a real one. It does not depend on dbt or the pipeline: the report tests use it.

Table and column names follow the marts as committed in dbt_project/models/marts (see
``junheng.reports.data``); keep the two in step.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import duckdb

from marts_reference import projected_year  # the spec §5 definition, shared with the end-to-end checks

YEARS = list(range(2019, 2025))
COUNTIES = [
    # code, name, seed, starting spread (larger = less balanced), yearly improvement
    ("431230", "通道侗族自治县", 11, 0.72, 0.045),
    ("431229", "靖州苗族侗族自治县", 12, 0.60, 0.03),
    ("431228", "芷江侗族自治县", 13, 0.80, 0.07),
    ("340103", "庐阳区", 14, 0.45, 0.015),
]
PRIMARY_NAMES = ["县第一完全小学", "县第二完全小学", "坪坦中心小学", "陇城中心小学", "金殿小学", "牙屯堡小学", "双江镇中心小学", "菁芜洲小学"]
JUNIOR_NAMES = ["芙蓉中学", "县第二中学", "坪坦中学", "陇城中学"]

# indicator: (resource key, multiplier) -> value = resource * mult / students
B = {
    "B1": ("aux_area", 1), "B2": ("sports_area", 1), "B3": ("equipment_yuan", 1), "B4": ("computers", 100),
    "B5": ("books", 1), "B6": ("teachers", 1), "B7": ("above_degree", 1), "B8": ("senior_title", 1),
}
Q = {
    "Q1": ("above_degree", 100), "Q2": ("backbone", 100), "Q3": ("pe_art", 100), "Q4": ("aux_area", 1),
    "Q5": ("sports_area", 1), "Q6": ("equipment_yuan", 1), "Q7": ("multimedia", 100),
}
STANDARD = {
    "primary": {"Q1": 4.2, "Q2": 1.0, "Q3": 0.9, "Q4": 4.5, "Q5": 7.5, "Q6": 2000, "Q7": 2.3},
    "junior": {"Q1": 5.3, "Q2": 1.0, "Q3": 0.9, "Q4": 5.8, "Q5": 10.2, "Q6": 2500, "Q7": 2.4},
}
PER_STUDENT = {  # typical per-student resource of a school at the standard, by level
    "primary": {"aux_area": 4.6, "sports_area": 7.8, "equipment_yuan": 2100, "computers": 0.11, "books": 28,
                "teachers": 0.058, "above_degree": 0.045, "senior_title": 0.030, "backbone": 0.011,
                "pe_art": 0.0095, "multimedia": 0.025},
    "junior": {"aux_area": 6.0, "sports_area": 10.5, "equipment_yuan": 2600, "computers": 0.12, "books": 33,
               "teachers": 0.075, "above_degree": 0.056, "senior_title": 0.046, "backbone": 0.011,
               "pe_art": 0.0095, "multimedia": 0.026},
}
SPREAD_FACTOR = {"aux_area": 0.8, "sports_area": 1.2, "equipment_yuan": 1.0, "computers": 0.9, "books": 0.8,
                 "teachers": 0.5, "above_degree": 0.6, "senior_title": 0.8, "backbone": 1.1, "pe_art": 1.0,
                 "multimedia": 0.9}
CV_THRESHOLD = {"primary": 0.50, "junior": 0.45}
COMPOSITE_THRESHOLD = {"primary": 0.65, "junior": 0.55}
GOV_ITEMS = [f"G{i:02d}" for i in range(1, 16)]
EDU_ITEMS = [f"E{i:02d}" for i in range(1, 10)]


def _cv(values: list[tuple[float, float]]) -> tuple[float, float]:
    """(students, value) pairs -> (county value X as weighted mean, CV)."""
    P = sum(p for p, _ in values)
    X = sum(p * x for p, x in values) / P
    var = sum(p / P * (x - X) ** 2 for p, x in values)
    return X, (math.sqrt(var) / X if X else float("nan"))


def _schools(code: str, seed: int):
    rng = random.Random(seed)
    schools = []
    for level, names in (("primary", PRIMARY_NAMES), ("junior", JUNIOR_NAMES)):
        for k, name in enumerate(names):
            schools.append({
                "school_code": f"{code}{'1' if level == 'primary' else '2'}{k:03d}",
                "school_name": name,
                "level": level,
                "school_type": level,
                "urban_rural": "urban" if k < 2 else ("town" if k < 4 else "rural"),
                "students": rng.randint(300, 2400) if k < 2 else rng.randint(90, 900),
                # each school's own deviation from the typical ratio, per resource
                "dev": {r: rng.gauss(0, 1) for r in PER_STUDENT[level]},
            })
    return schools


def write_report_fixture(path: Path) -> Path:
    """Write the fixture warehouse at ``path`` (replacing it) and return the path."""
    path = Path(path)
    if path.exists():
        path.unlink()
    con = duckdb.connect(str(path))
    for s in ("raw", "marts"):
        con.execute(f"CREATE SCHEMA {s}")
    con.execute("""CREATE TABLE raw.census_schools (year INTEGER, school_code VARCHAR, school_name VARCHAR,
        county_code VARCHAR, county_name VARCHAR, school_type VARCHAR, urban_rural VARCHAR)""")
    con.execute("""CREATE TABLE raw.county_returns (year INTEGER, county_code VARCHAR, county_name VARCHAR)""")
    con.execute("""CREATE TABLE marts.county_indicator_cv (county_code VARCHAR, year INTEGER, level VARCHAR,
        method VARCHAR, indicator VARCHAR, county_value DOUBLE, cv DOUBLE, schools INTEGER, students DOUBLE,
        cv_threshold DOUBLE, meets_cv BOOLEAN)""")
    con.execute("""CREATE TABLE marts.county_balance (county_code VARCHAR, year INTEGER, level VARCHAR,
        composite_cv DOUBLE, composite_threshold DOUBLE, basic_met BOOLEAN, quality_cv_met BOOLEAN,
        schools_compliant INTEGER, schools_total INTEGER, quality_resource_met BOOLEAN)""")
    con.execute("""CREATE TABLE marts.school_indicators (school_code VARCHAR, year INTEGER, level VARCHAR,
        method VARCHAR, indicator VARCHAR, county_code VARCHAR, urban_rural VARCHAR, students DOUBLE,
        value DOUBLE, standard DOUBLE, meets BOOLEAN)""")
    con.execute("""CREATE TABLE marts.school_quality_compliance (school_code VARCHAR, year INTEGER,
        level VARCHAR, county_code VARCHAR, urban_rural VARCHAR, students DOUBLE, indicators_met INTEGER,
        lowest_share_missed DOUBLE, compliant BOOLEAN)""")
    con.execute("""CREATE TABLE marts.quality_scorecard (county_code VARCHAR, year INTEGER, part VARCHAR,
        item VARCHAR, level VARCHAR, name_zh VARCHAR, name_en VARCHAR, value DOUBLE, detail VARCHAR,
        requirement VARCHAR, status VARCHAR, provisional BOOLEAN)""")
    con.execute("""CREATE TABLE marts.quality_verdict (county_code VARCHAR, year INTEGER, items_met INTEGER,
        items_total INTEGER, items_no_data INTEGER, verdict VARCHAR)""")
    con.execute("""CREATE TABLE marts.indicator_trend (county_code VARCHAR, level VARCHAR, method VARCHAR,
        indicator VARCHAR, year INTEGER, county_value DOUBLE, cv DOUBLE, cv_change_per_year DOUBLE,
        cv_threshold DOUBLE, projected_year INTEGER)""")
    con.execute("""CREATE TABLE marts.school_cv_share (county_code VARCHAR, year INTEGER, level VARCHAR,
        method VARCHAR, indicator VARCHAR, school_code VARCHAR, value DOUBLE, county_value DOUBLE, share DOUBLE)""")
    con.execute("""CREATE TABLE marts.school_standard_gap (county_code VARCHAR, school_code VARCHAR, year INTEGER,
        level VARCHAR, indicator VARCHAR, value DOUBLE, standard DOUBLE, students DOUBLE, gap DOUBLE, unit VARCHAR)""")
    con.execute("""CREATE TABLE marts.county_standard_gap (county_code VARCHAR, year INTEGER, level VARCHAR,
        indicator VARCHAR, schools_below INTEGER, gap DOUBLE, unit VARCHAR)""")
    con.execute("""CREATE TABLE marts.county_theil (county_code VARCHAR, year INTEGER, level VARCHAR, method VARCHAR,
        indicator VARCHAR, schools INTEGER, theil_t DOUBLE, theil_between DOUBLE, theil_within DOUBLE)""")
    con.execute("""CREATE TABLE marts.county_theil_group (county_code VARCHAR, year INTEGER, level VARCHAR,
        method VARCHAR, indicator VARCHAR, urban_rural VARCHAR, schools INTEGER, students DOUBLE,
        resource_share DOUBLE, student_share DOUBLE, theil_t_group DOUBLE, theil_t_group_contribution DOUBLE,
        between_term DOUBLE)""")
    con.execute("""CREATE TABLE marts.county_progress_rank (county_code VARCHAR, year INTEGER, items_met INTEGER,
        items_total INTEGER, mean_cv_ratio DOUBLE, progress_rank INTEGER, province_rank INTEGER)""")

    buf: dict[str, list] = {}
    units = {"Q1": "人", "Q2": "人", "Q3": "人", "Q4": "平方米", "Q5": "平方米", "Q6": "元", "Q7": "间"}
    rank_rows = []
    for code, cname, seed, spread0, improve in COUNTIES:
        rng = random.Random(seed * 7)
        schools = _schools(code, seed)
        trend_cv: dict[tuple, list] = {}
        for t, year in enumerate(YEARS):
            spread = max(0.15, spread0 - improve * t)
            growth = 1 + 0.03 * t
            _add(buf, "raw.county_returns", [year, code, cname])
            per_level: dict[str, list] = {"primary": [], "junior": []}
            for s in schools:
                _add(buf, "raw.census_schools", [year, s["school_code"], s["school_name"], code, cname, s["school_type"], s["urban_rural"]])
                students = round(s["students"] * (1 + 0.01 * t))
                res = {r: base * students * growth
                       * math.exp(spread * SPREAD_FACTOR[r] * s["dev"][r] - (spread * SPREAD_FACTOR[r]) ** 2 / 2)
                       for r, base in PER_STUDENT[s["level"]].items()}
                for r in ("computers", "teachers", "above_degree", "senior_title", "backbone", "pe_art", "multimedia", "books"):
                    res[r] = float(round(res[r]))
                per_level[s["level"]].append((s, students, res))
            for level, rows in per_level.items():
                cvs = {}
                for method, table in (("basic", B), ("quality", Q)):
                    for ind, (rkey, mult) in table.items():
                        vals = [(st, res[rkey] * mult / st) for s, st, res in rows]
                        X, cv = _cv(vals)
                        cvs[(method, ind)] = (X, cv)
                        thr = CV_THRESHOLD[level] if method == "quality" else None
                        _add(buf, "marts.county_indicator_cv", [code, year, level, method, ind, X, cv, len(rows), sum(st for _, st, _ in rows),
                                     thr, None if thr is None else cv <= thr])
                        trend_cv.setdefault((level, method, ind), []).append((year, X, cv, thr))
                        P = sum(st for _, st, _ in rows)
                        _theil(buf, code, year, level, method, ind,
                               [(s["urban_rural"], st, x * st) for (s, st, _), (_, x) in zip(rows, vals)])
                        denom = sum(st / P * (x - X) ** 2 for st, x in vals)
                        for (s, st, res), (_, x) in zip(rows, vals):
                            std = STANDARD[level].get(ind) if method == "quality" else None
                            _add(buf, "marts.school_indicators", [s["school_code"], year, level, method, ind, code,
                                         s["urban_rural"], st, x, std,
                                         None if std is None else x >= std])
                            _add(buf, "marts.school_cv_share", [code, year, level, method, ind, s["school_code"], x, X,
                                         (st / P * (x - X) ** 2 / denom) if denom else None])
                # gaps and school compliance (2017 method)
                compliant = 0
                for s, st, res in rows:
                    met, lowest = 0, None
                    for ind, (rkey, mult) in Q.items():
                        x = res[rkey] * mult / st
                        std = STANDARD[level][ind]
                        if x >= std:
                            met += 1
                        else:
                            share = x / std
                            lowest = share if lowest is None else min(lowest, share)
                            gap = (std - x) * st / (100 if mult == 100 else 1)
                            _add(buf, "marts.school_standard_gap", [code, s["school_code"], year, level, ind, x, std, st, gap, units[ind]])
                    ok = met == 7 or (met == 6 and lowest is not None and lowest >= 0.85)
                    compliant += ok
                    _add(buf, "marts.school_quality_compliance",
                         [s["school_code"], year, level, code, s["urban_rural"], st, met, lowest, ok])
                composite = sum(cvs[("basic", f"B{i}")][1] for i in range(1, 9)) / 8
                trend_cv.setdefault((level, "basic", "composite"), []).append(
                    (year, None, composite, COMPOSITE_THRESHOLD[level]))
                q_ok = all(cvs[("quality", i)][1] <= CV_THRESHOLD[level] for i in Q)
                _add(buf, "marts.county_balance", [code, year, level, composite, COMPOSITE_THRESHOLD[level],
                             composite <= COMPOSITE_THRESHOLD[level], q_ok, compliant, len(rows),
                             q_ok and compliant == len(rows)])
            # scorecard: resource items from the CVs, the rest plausible
            met_count, total, no_data = 0, 0, 0
            ratio_sum = 0.0
            for level in ("primary", "junior"):
                for ind in Q:
                    X, cv = next((r[1], r[2]) for r in reversed(trend_cv[(level, "quality", ind)]) if r[0] == year)
                    status = "met" if cv <= CV_THRESHOLD[level] else "not_met"
                    ratio_sum += cv / CV_THRESHOLD[level]
                    thr = CV_THRESHOLD[level]
                    below = sum(1 for sc, st, res in per_level[level]
                                if res[Q[ind][0]] * Q[ind][1] / st < STANDARD[level][ind])
                    _add(buf, "marts.quality_scorecard", [
                        code, year, "resource", ind, level, None, None, cv,
                        f"县域值 county value: {round(X, 4)}; 标准 standard: {STANDARD[level][ind]}; "
                        f"低于标准学校 parts below standard: {below} / {len(per_level[level])}",
                        f"差异系数 CV ≤ {thr} / CV at most {thr}", status, False])
                    total += 1
                    met_count += status == "met"
            for req in _requirements():
                item, part = req["item"], req["part"]
                r = rng.random()
                status = "met" if r < 0.55 + 0.07 * t else ("no_data" if r > 0.96 else "not_met")
                value, detail = None, None
                if req["source"] == "census":  # G03-G05: the count of schools failing
                    value = 0.0 if status == "met" else float(rng.randint(1, 3))
                    detail = f"不达标学校 schools failing: {int(value)} / 12; 未报 not reported: 0"
                    if status == "no_data":
                        status, value = "met", 0.0
                elif req["op_1"] == "is_true":
                    value = 1.0 if status == "met" else 0.0
                else:
                    thr = float(req["threshold_1"])
                    value = round(thr * (1.0 + 0.05 * rng.random()) if status == "met" else thr * 0.93, 2)
                if req["field_2"] and req["source"] == "return":
                    v2 = float(req["threshold_2"]) * (1.1 if status == "met" else 0.9)
                    detail = f"{req['field_1']}={value}; {req['field_2']}={v2}"
                if status == "no_data":
                    value, detail = None, (f"{req['field_1']}=NULL; {req['field_2']}=NULL" if req["field_2"] else None)
                _add(buf, "marts.quality_scorecard", [code, year, part, item, None, req["name_zh"], req["name_en"], value,
                                                      detail, f"{req['requirement_zh']} / {req['requirement_en']}",
                                                      status, False])
                total += 1
                met_count += status == "met"
                no_data += status == "no_data"
            verdict = "met" if met_count == total else ("incomplete" if no_data else "not_met")
            _add(buf, "marts.quality_verdict", [code, year, met_count, total, no_data, verdict])
            rank_rows.append([code, year, met_count, total, ratio_sum / 14])
        # trends
        for (level, method, ind), pts in trend_cv.items():
            prev = None
            for i, (year, X, cv, thr) in enumerate(pts):
                change = None if prev is None else (cv - prev[1]) / (year - prev[0])
                proj = projected_year([(y, c) for y, _, c, _ in pts[: i + 1]], thr) if thr is not None else None
                _add(buf, "marts.indicator_trend", [code, level, method, ind, year, X, cv, change, thr, proj])
                prev = (year, cv)
    for year in YEARS:
        rows = sorted((r for r in rank_rows if r[1] == year), key=lambda r: (-r[2], r[4]))
        in_province: dict[str, int] = {}
        for k, r in enumerate(rows, start=1):
            in_province[r[0][:2]] = in_province.get(r[0][:2], 0) + 1
            _add(buf, "marts.county_progress_rank", [*r, k, in_province[r[0][:2]]])
    _flush(con, buf)
    # The figures without flagged parts (issue 4): equal to the official ones except one planted slip,
    # equipment value submitted in yuan instead of 10,000 yuan, in 通道 2022 (primary Q6 and B3).
    con.execute("ALTER TABLE marts.county_indicator_cv ADD COLUMN cv_clean DOUBLE")
    con.execute("ALTER TABLE marts.county_indicator_cv ADD COLUMN flagged_schools INTEGER DEFAULT 0")
    con.execute("UPDATE marts.county_indicator_cv SET cv_clean = cv")
    con.execute("""UPDATE marts.county_indicator_cv SET cv = 9.1, flagged_schools = 1
                   WHERE county_code = '431230' AND year = 2022 AND level = 'primary' AND indicator IN ('Q6', 'B3')""")
    con.execute("""UPDATE marts.indicator_trend SET cv = 9.1
                   WHERE county_code = '431230' AND year = 2022 AND level = 'primary' AND indicator = 'Q6'""")
    con.execute("""INSERT INTO marts.county_standard_gap
        SELECT county_code, year, level, indicator, count(*), sum(gap), any_value(unit)
        FROM marts.school_standard_gap GROUP BY ALL""")
    con.close()
    return path


def _theil(buf, code, year, level, method, ind, parts: list[tuple[str, float, float]]) -> None:
    """Theil-T with its urban/town/rural decomposition (spec §5) into county_theil(_group)."""
    R = sum(r for _, _, r in parts)
    P = sum(p for _, p, _ in parts)
    if R <= 0:
        return
    total_between = total_within = 0.0
    for g in ("urban", "town", "rural"):
        gp = [(p, r) for u, p, r in parts if u == g]
        if not gp:
            continue
        Rg, Pg = sum(r for _, r in gp), sum(p for p, _ in gp)
        Tg = sum((r / Rg) * math.log((r / Rg) / (p / Pg)) for p, r in gp if r > 0) if Rg > 0 else 0.0
        between = (Rg / R) * math.log((Rg / R) / (Pg / P)) if Rg > 0 else 0.0
        total_between += between
        total_within += (Rg / R) * Tg
        _add(buf, "marts.county_theil_group", [code, year, level, method, ind, g, len(gp), Pg, Rg / R, Pg / P,
                                               Tg, (Rg / R) * Tg, between])
    _add(buf, "marts.county_theil", [code, year, level, method, ind, len(parts), total_between + total_within,
                                     total_between, total_within])


def _requirements() -> list[dict]:
    """The national scorecard requirements, as the dbt seed gives them (province '*')."""
    import csv

    seed = Path(__file__).resolve().parents[1] / "dbt_project" / "seeds" / "scorecard_requirements.csv"
    with seed.open(encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if r["province_code"] == "*"]


def _add(buf: dict, table: str, row: list) -> None:
    buf.setdefault(table, []).append(row)


def _flush(con, buf: dict) -> None:
    import pandas as pd

    for table, rows in buf.items():
        cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
        df = pd.DataFrame(rows, columns=cols).astype(object)  # noqa: F841 (read by DuckDB)
        con.execute(f"INSERT INTO {table} SELECT * FROM df")


if __name__ == "__main__":  # pragma: no cover
    import sys

    print(write_report_fixture(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/report_fixture.duckdb")))
