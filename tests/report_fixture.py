"""A small warehouse holding the marts the reports read, with realistic, internally consistent values.

Every table is created from the dbt contract (tests/mart_contract.py reads dbt_project/models/marts/**/*.yml: the same
columns, types, NOT NULL and CHECK constraints as the real marts), so a fixture column that is not in a contract, or a
row that breaks one, fails here. The numbers are computed with the spec's formulas (tests/marts_reference.py: county
value and students-weighted CV, school rule, CV shares, gaps, Theil–Sen trend and projection, the §5 ranking), so a
report rendered from this file looks like a real one. It does not depend on dbt or the pipeline.

Counties (2019–2024):
  431230 通道  uneven, improving; county returns with gaps (incomplete); a planted slip: 2022 equipment value
               submitted in yuan by one flagged primary school (official primary Q6/B3 CV 9.1, the clean CV normal)
  431229 靖州  every CV and every return item met, one small primary school fails the school rule: not met by QS only
  431228 芷江  every item met: the one county that reaches high-quality balance
  340103 庐阳区 (Anhui) prints the mean of the seven 2017 CVs; some return items not met
"""

from __future__ import annotations

import csv
import math
import random
from datetime import datetime
from pathlib import Path

import duckdb

import marts_reference as ref
from mart_contract import columns, contracts, create_table_sql

YEARS = list(range(2019, 2025))
SLIP = ("431230", 2022, "primary")  # county, year, level of the planted (flagged) unit slip
COUNTIES = [
    # code, name, seed, starting spread, yearly improvement, wealth, kind
    ("431230", "通道侗族自治县", 11, 0.72, 0.045, 1.0, "uneven"),
    ("431229", "靖州苗族侗族自治县", 12, 0.05, 0.0, 1.35, "qs_only"),
    ("431228", "芷江侗族自治县", 13, 0.05, 0.0, 1.35, "met"),
    ("340103", "庐阳区", 14, 0.45, 0.015, 1.0, "uneven_anhui"),
]
PROVINCES = {"43": ("湖南省", "Hunan"), "34": ("安徽省", "Anhui")}
PREFECTURES = {"4312": ("怀化市", "Huaihua"), "3401": ("合肥市", "Hefei")}
PRIMARY_NAMES = ["县第一完全小学", "县第二完全小学", "坪坦中心小学", "陇城中心小学", "金殿小学", "牙屯堡小学", "双江镇中心小学",
                 "菁芜洲小学"]
JUNIOR_NAMES = ["芙蓉中学", "县第二中学", "坪坦中学", "陇城中学"]

B = {
    "B1": ("aux_area", 1), "B2": ("sports_area", 1), "B3": ("equipment_yuan", 1), "B4": ("computers", 100),
    "B5": ("books", 1), "B6": ("teachers", 1), "B7": ("above_degree", 1), "B8": ("senior_title", 1),
}
Q = {
    "Q1": ("above_degree", 100), "Q2": ("backbone", 100), "Q3": ("pe_art", 100), "Q4": ("aux_area", 1),
    "Q5": ("sports_area", 1), "Q6": ("equipment_yuan", 1), "Q7": ("multimedia", 100),
}
INPUT_FIELD = {  # the census column each resource comes from (flagged_school_impact.field)
    "equipment_yuan": "equipment_value_10k_yuan",
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
UNITS = {"Q1": ("人", "teachers"), "Q2": ("人", "teachers"), "Q3": ("人", "teachers"), "Q4": ("平方米", "m²"),
         "Q5": ("平方米", "m²"), "Q6": ("元", "yuan"), "Q7": ("间", "rooms")}
QS_REQUIREMENT = ("每所学校至少6项达到标准，其余不低于标准的85%",
                  "every school part meets at least 6 of the 7 standards and the other reaches 85% of its standard")


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
                "dev": {r: rng.gauss(0, 1) for r in PER_STUDENT[level]},
            })
    return schools


def _requirements() -> list[dict]:
    """The national scorecard rows of the dbt seed, and the province overrides."""
    seed = Path(__file__).resolve().parents[1] / "dbt_project" / "seeds" / "scorecard_requirements.csv"
    with seed.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


class _Buf:
    def __init__(self):
        self.rows: dict[str, list[dict]] = {}

    def add(self, table: str, **values) -> dict:
        unknown = set(values) - set(columns(table))
        assert not unknown, f"{table}: not in the dbt contract: {sorted(unknown)}"
        self.rows.setdefault(table, []).append(values)
        return values

    def flush(self, con) -> None:
        import pandas as pd

        for table, rows in self.rows.items():
            cols = columns(table)
            df = pd.DataFrame([[r.get(c) for c in cols] for r in rows], columns=cols).astype(object)  # noqa: F841
            con.execute(f"INSERT INTO {table} SELECT * FROM df")


def write_report_fixture(path: Path) -> Path:
    """Write the fixture warehouse at ``path`` (replacing it) and return the path."""
    path = Path(path)
    if path.exists():
        path.unlink()
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA marts")
    for table in contracts():
        con.execute(create_table_sql(table))
    buf = _Buf()
    requirements = _requirements()
    rank_rows = []
    for code, cname, seed, spread0, improve, wealth, kind in COUNTIES:
        rng = random.Random(seed * 7)
        schools = _schools(code, seed)
        series: dict[tuple, list] = {}  # (level, method, indicator) -> [(year, X, cv, X_clean, cv_clean, thr)]
        prov = code[:2]
        for t, year in enumerate(YEARS):
            spread = max(0.04, spread0 - improve * t)
            growth = 1 + 0.03 * t
            buf.add("marts.dim_county_year", county_code=code, year=year, province_code=prov,
                    prefecture_code=code[:4], county_name=cname,
                    county_name_submitted=None if year == 2023 else cname,
                    name_basis="earlier_year" if year == 2023 else "submitted",
                    in_census=True, in_returns=True, schools=len(schools))
            per_level: dict[str, list] = {"primary": [], "junior": []}
            for s in schools:
                students = round(s["students"] * (1 + 0.01 * t))
                res = {r: base * students * growth * wealth
                       * math.exp(spread * SPREAD_FACTOR[r] * s["dev"][r] - (spread * SPREAD_FACTOR[r]) ** 2 / 2)
                       for r, base in PER_STUDENT[s["level"]].items()}
                if kind == "qs_only" and s["school_code"].endswith("1007"):  # the smallest village school
                    res["sports_area"] *= 0.55
                    res["multimedia"] *= 0.5
                for r in ("computers", "teachers", "above_degree", "senior_title", "backbone", "pe_art", "multimedia",
                          "books"):
                    res[r] = float(max(1, round(res[r])))
                per_level[s["level"]].append((s, students, res))
                buf.add("marts.dim_school_year", school_code=s["school_code"], year=year, school_name=s["school_name"],
                        county_code=code, school_type=s["school_type"], ownership="public", authority="county",
                        urban_rural=s["urban_rural"], compulsory_students=float(students))
            level_verdicts = {}
            for level, rows in per_level.items():
                flagged_code = rows[3][0]["school_code"] if (code, year, level) == SLIP else None
                cvs = {}
                for method, table in (("basic", B), ("quality", Q)):
                    for ind, (rkey, mult) in table.items():
                        pairs = [(res[rkey], st) for _, st, res in rows]
                        X, cv = ref.county_cv(pairs, mult)
                        Xc, cvc = X, cv
                        n_flag = 0
                        if flagged_code and rkey == "equipment_yuan":
                            Xc, cvc = ref.county_cv([(res[rkey], st) for s, st, res in rows
                                                     if s["school_code"] != flagged_code], mult)
                            X, cv, n_flag = X * 8.2, 9.1, 1  # as if one school had entered 元 in the 万元 column
                        thr = ref.QUALITY_CV_THRESHOLD[level] if method == "quality" else None
                        P = sum(st for _, st, _ in rows)
                        provisional = bool(thr is not None and n_flag and (cv <= thr) != (cvc <= thr))
                        buf.add("marts.county_indicator_cv", county_code=code, year=year, level=level, method=method,
                                indicator=ind, county_value=X, cv=cv, schools=len(rows), students=float(P),
                                cv_threshold=thr, meets_cv=None if thr is None else cv <= thr,
                                schools_not_reported=0, total_schools=len(rows) + 1, total_students=float(P + 40),
                                flagged_schools=n_flag, county_value_clean=Xc, cv_clean=cvc,
                                schools_clean=len(rows) - n_flag,
                                students_clean=float(P - (rows[3][1] if n_flag else 0)),
                                meets_cv_clean=None if thr is None else cvc <= thr, provisional=provisional)
                        cvs[(method, ind)] = (X, cv, Xc, cvc, thr)
                        series.setdefault((level, method, ind), []).append((year, X, cv, Xc, cvc, thr, n_flag))
                        _theil(buf, code, year, level, method, ind,
                               [(s["urban_rural"], st, res[rkey] * mult / st * st) for s, st, res in rows])
                        shares = ref.cv_shares(pairs, mult)
                        order = sorted(range(len(rows)), key=lambda i: (-(shares[i] or 0), rows[i][0]["school_code"]))
                        for i, (s, st, res) in enumerate(rows):
                            x = res[rkey] * mult / st
                            std = ref.STANDARDS[level].get(ind) if method == "quality" else None
                            flagged = s["school_code"] == flagged_code and rkey == "equipment_yuan"
                            buf.add("marts.school_indicators", school_code=s["school_code"], year=year, level=level,
                                    method=method, indicator=ind, county_code=code, school_type=s["school_type"],
                                    urban_rural=s["urban_rural"], students=float(st), resource=res[rkey], value=x,
                                    standard=std, meets=None if std is None else x >= std,
                                    share_of_standard=None if std is None else x / std, warning_flagged=flagged)
                            buf.add("marts.school_cv_share", county_code=code, year=year, level=level, method=method,
                                    indicator=ind, school_code=s["school_code"], students=float(st), value=x,
                                    county_value=X, share=shares[i], share_rank=order.index(i) + 1)
                            if flagged:
                                buf.add("marts.flagged_school_impact", county_code=code, year=year,
                                        school_code=s["school_code"], level=level, method=method, indicator=ind,
                                        rule_id="R_UNIT_SLIP_10K_YUAN", field=INPUT_FIELD[rkey],
                                        submitted_value=float(round(res[rkey])), expected="|log10(x / last year)| not within 4±0.5",
                                        flag_detail="slip__R_UNIT_SLIP_10K_YUAN", part_value=x * 10_000,
                                        county_value=X, county_value_clean=Xc, cv=cv, cv_clean=cvc,
                                        cv_threshold=thr, provisional=provisional)
                # school rule, gaps (2017 method)
                compliant = not_compliant = 0
                gap_totals: dict[str, list] = {}
                for s, st, res in rows:
                    values = {ind: res[rkey] * mult / st for ind, (rkey, mult) in Q.items()}
                    c = ref.school_compliance(values, level)
                    compliant += c.compliant is True
                    not_compliant += c.compliant is False
                    flagged = s["school_code"] == flagged_code
                    buf.add("marts.school_quality_compliance", school_code=s["school_code"], year=year, level=level,
                            county_code=code, school_type=s["school_type"], urban_rural=s["urban_rural"],
                            students=float(st), indicators_met=c.indicators_met, indicators_evaluated=7,
                            lowest_share_missed=c.lowest_share_missed, compliant=c.compliant,
                            warning_flagged=flagged)
                    if c.compliant is not True:
                        buf.add("marts.school_item_failures", county_code=code, year=year, item="QS", level=level,
                                school_code=s["school_code"], status="not_met", indicators_met=c.indicators_met,
                                indicators_evaluated=7, lowest_share_missed=c.lowest_share_missed,
                                warning_flagged=flagged)
                    for ind, x in values.items():
                        std = ref.STANDARDS[level][ind]
                        if x < std:
                            gap = ref.standard_gap(x, std, st, Q[ind][1])
                            gap_totals.setdefault(ind, []).append(gap)
                            buf.add("marts.school_standard_gap", county_code=code, school_code=s["school_code"],
                                    year=year, level=level, indicator=ind, value=x, standard=std, students=float(st),
                                    gap=gap, unit=UNITS[ind][0], unit_en=UNITS[ind][1])
                for ind, gs in gap_totals.items():
                    buf.add("marts.county_standard_gap", county_code=code, year=year, level=level, indicator=ind,
                            schools_below=len(gs), gap=math.fsum(gs), unit=UNITS[ind][0], unit_en=UNITS[ind][1])
                # county balance
                comp = ref.composite([cvs[("basic", f"B{i}")][1] for i in range(1, 9)])
                comp_clean = ref.composite([cvs[("basic", f"B{i}")][3] for i in range(1, 9)])
                q_cvs = [cvs[("quality", i)] for i in Q]
                q_ok = all(c[1] <= c[4] for c in q_cvs)
                q_ok_clean = all(c[3] <= c[4] for c in q_cvs)
                resource_met = q_ok and not_compliant == 0
                level_verdicts[level] = (resource_met, q_cvs, compliant, not_compliant, len(rows))
                thr_c = ref.COMPOSITE_THRESHOLD[level]
                buf.add("marts.county_balance", county_code=code, year=year, level=level, basic_schools=len(rows),
                        basic_students=float(sum(st for _, st, _ in rows)), composite_cv=comp,
                        composite_threshold=thr_c, basic_met=comp <= thr_c, composite_cv_clean=comp_clean,
                        basic_met_clean=comp_clean <= thr_c, basic_provisional=(comp <= thr_c) != (comp_clean <= thr_c),
                        quality_cvs_met=sum(c[1] <= c[4] for c in q_cvs), quality_cv_met=q_ok,
                        quality_composite_cv=(sum(c[1] for c in q_cvs) / 7) if prov == "34" else None,
                        schools_total=len(rows), schools_compliant=compliant, schools_not_compliant=not_compliant,
                        schools_undetermined=0, quality_resource_met=resource_met,
                        quality_resource_met_clean=q_ok_clean and not_compliant == 0,
                        quality_provisional=resource_met != (q_ok_clean and not_compliant == 0))
                series.setdefault((level, "basic", "composite"), []).append(
                    (year, None, comp, None, comp_clean, thr_c, None))
            # scorecard: Q1-Q7 and QS per level, then G, E, S
            card = []
            for level in ("primary", "junior"):
                resource_met, q_cvs, compliant, not_compliant, n = level_verdicts[level]
                for ind, (X, cv, _, _, thr) in zip(Q, q_cvs):
                    below = sum(1 for s, st, res in per_level[level]
                                if res[Q[ind][0]] * Q[ind][1] / st < ref.STANDARDS[level][ind])
                    card.append(dict(part="resource", item=ind, level=level, name_zh=None, value=cv, cv_threshold=thr,
                                     county_value=X, standard=ref.STANDARDS[level][ind], schools_failing=below,
                                     schools_checked=n, schools_unknown=0,
                                     requirement_zh=f"差异系数 ≤ {thr}", requirement_en=f"CV at most {thr}",
                                     status="met" if cv <= thr else "not_met"))
                card.append(dict(part="resource", item="QS", level=level, name_zh="每所学校资源配置达标",
                                 value=float(not_compliant), schools_failing=not_compliant, schools_checked=n,
                                 schools_unknown=0, requirement_zh=QS_REQUIREMENT[0], requirement_en=QS_REQUIREMENT[1],
                                 status="not_met" if not_compliant else "met"))
            for req in (r for r in requirements if r["province_code"] == "*" and r["source"] != "schools"):
                over = next((r for r in requirements if r["province_code"] == prov and r["item"] == req["item"]), req)
                item = req["item"]
                if kind in ("met", "qs_only"):
                    status = "met"
                else:
                    x = rng.random()
                    status = "met" if x < 0.55 + 0.07 * t else ("no_data" if x > 0.93 and kind == "uneven" else "not_met")
                row = dict(part=req["part"], item=item, level=None, name_zh=req["name_zh"],
                           requirement_zh=over["requirement_zh"], requirement_en=over["requirement_en"], status=status)
                if req["source"] == "census":  # G03-G05: the schools failing
                    failing = [] if status != "not_met" else rng.sample(schools, rng.randint(1, 3))
                    if status == "no_data":
                        status = row["status"] = "met"
                    row.update(value=float(len(failing)), schools_failing=len(failing), schools_checked=len(schools),
                               schools_unknown=0)
                    for s in failing:
                        buf.add("marts.school_item_failures", county_code=code, year=year, item=item, level=None,
                                school_code=s["school_code"], status="not_met", compulsory_students=float(s["students"]),
                                max_students=2000.0, oversized_classes=1.0, rooms_needed=2.0, warning_flagged=False)
                else:
                    row.update(field_1=req["field_1"], field_2=req["field_2"] or None)
                    if status == "no_data":
                        row["value"] = None
                    elif req["op_1"] == "is_true":
                        row["value"] = 1.0 if status == "met" else 0.0
                    else:
                        thr = float(over["threshold_1"])
                        up = req["op_1"].startswith(">")
                        row["value"] = round(thr * ((1.04 if up else 0.9) if status == "met" else (0.93 if up else 1.2)), 2)
                    if req["field_2"]:
                        thr2 = float(req["threshold_2"])
                        up2 = req["op_2"].startswith(">")
                        row["value_2"] = None if status == "no_data" else round(
                            thr2 * ((1.1 if up2 else 0.5) if status == "met" else 1.0 if up2 else 0.5), 3)
                card.append(row)
            for row in card:
                buf.add("marts.quality_scorecard", county_code=code, year=year,
                        requirement=f"{row['requirement_zh']} / {row['requirement_en']}",
                        detail=None, provisional=False, name_en=None, **row)
            parts = {}
            for part in ("resource", "government", "quality", "recognition"):
                st = [r["status"] for r in card if r["part"] == part]
                parts[part] = "incomplete" if "no_data" in st else ("not_met" if "not_met" in st else "met")
            verdict = ("met" if all(p == "met" for p in parts.values())
                       else "incomplete" if "incomplete" in parts.values() else "not_met")
            items_met = sum(r["status"] == "met" for r in card)
            buf.add("marts.quality_verdict", county_code=code, year=year, verdict=verdict,
                    resource_part=parts["resource"], government_part=parts["government"],
                    quality_part=parts["quality"], recognition_part=parts["recognition"], items_met=items_met,
                    items_total=len(card), items_not_met=sum(r["status"] == "not_met" for r in card),
                    items_no_data=sum(r["status"] == "no_data" for r in card),
                    schools_not_compliant=sum(v[3] for v in level_verdicts.values()), schools_undetermined=0,
                    verdict_clean=verdict, provisional=False)
            ratios = [c[1] / c[4] for v in level_verdicts.values() for c in v[1]]
            rank_rows.append(dict(county_code=code, year=year, province_code=prov, verdict=verdict,
                                  verdict_order=ref.RANK_VERDICT_ORDER[verdict], items_met=items_met,
                                  items_total=len(card), mean_cv_ratio=sum(ratios) / len(ratios)))
        _trends(buf, code, series)
        buf.add("marts.dim_county", county_code=code, county_name=cname, province_code=prov,
                province_name=PROVINCES[prov][0], province_name_en=PROVINCES[prov][1], prefecture_code=code[:4],
                prefecture_name=PREFECTURES[code[:4]][0], prefecture_name_en=PREFECTURES[code[:4]][1],
                first_year=YEARS[0], last_year=YEARS[-1], years_present=len(YEARS),
                years=",".join(map(str, YEARS)), census_years=len(YEARS), return_years=len(YEARS), name_count=1,
                names=f"{cname} {YEARS[0]}–{YEARS[-1]}")
    for year in YEARS:
        rows = sorted((r for r in rank_rows if r["year"] == year),
                      key=lambda r: ref.progress_key(r["verdict"], r["items_met"], r["mean_cv_ratio"]))
        in_province: dict[str, int] = {}
        for k, r in enumerate(rows, start=1):
            in_province[r["province_code"]] = in_province.get(r["province_code"], 0) + 1
            buf.add("marts.county_progress_rank", **r, progress_rank=k, province_rank=in_province[r["province_code"]])
    _plans(buf)
    buf.flush(con)
    con.close()
    return path


PLAN_ITEMS = [  # resource, name, unit, amount, unit cost, kind, whole school?  (seed plan_items / unit_costs)
    ("multimedia_classrooms", "网络多媒体教室", "间", 2, 60000.0, "capital", True, 7),
    ("sports_area_m2", "体育运动场馆", "平方米", 850, 400.0, "capital", True, 5),
    ("pe_art_teachers", "体育、艺术专任教师", "人", 1, 100000.0, "annual", False, 3),
    ("teaching_aux_area_m2", "教学及辅助用房", "平方米", 120, 3000.0, "capital", True, 4),
]


def _plans(buf: _Buf) -> None:
    """431230 in 2024 does not meet §4.1: a plan for its failing schools (an addition each, hand-chosen), and the
    summary that adds them up; the other counties were not planned (431228 meets §4.1)."""
    code, year = "431230", 2024
    failing = [r for r in buf.rows["marts.school_quality_compliance"]
               if r["county_code"] == code and r["year"] == year and r["compliant"] is False]
    names = {r["school_code"]: r["school_name"] for r in buf.rows["marts.dim_school_year"] if r["year"] == year}
    adds = []
    for i, r in enumerate(failing):
        resource, name, unit, amount, unit_cost, kind, whole, order = PLAN_ITEMS[i % len(PLAN_ITEMS)]
        adds.append(buf.add(
            "marts.investment_plan", county_code=code, year=year, target_year=year, school_code=r["school_code"],
            school_name=names.get(r["school_code"]), school_type="primary" if r["level"] == "primary" else "junior",
            level="whole_school" if whole else r["level"], resource=resource, item_name_zh=name, unit_zh=unit,
            amount=float(amount), unit_cost=unit_cost, cost=amount * unit_cost, cost_kind=kind, item_order=order))

    def total(resource, field="amount"):
        return float(sum(a[field] for a in adds if a["resource"] == resource))

    cost = float(sum(a["cost"] for a in adds))
    buf.add(
        "marts.investment_plan_summary", county_code=code, year=year, target_year=year, status="optimal",
        status_zh="最优方案", verified=True, explanation_zh="复核通过", cost_total=cost,
        cost_capital=float(sum(a["cost"] for a in adds if a["cost_kind"] == "capital")),
        cost_annual=float(sum(a["cost"] for a in adds if a["cost_kind"] == "annual")),
        lower_bound=cost * 0.9995, gap=0.0005, teachers_added=total("pe_art_teachers"),
        teachers_above_degree_added=0.0, backbone_teachers_added=0.0, pe_art_teachers_added=total("pe_art_teachers"),
        teachers_cost=total("pe_art_teachers", "cost"), teaching_aux_area_m2_added=total("teaching_aux_area_m2"),
        teaching_aux_area_cost=total("teaching_aux_area_m2", "cost"), sports_area_m2_added=total("sports_area_m2"),
        sports_area_cost=total("sports_area_m2", "cost"), equipment_yuan_added=0.0,
        multimedia_classrooms_added=total("multimedia_classrooms"),
        multimedia_classrooms_cost=total("multimedia_classrooms", "cost"),
        schools_with_additions=len({a["school_code"] for a in adds}), student_factor_primary=None,
        student_factor_junior=None, flagged_parts=0, solver="SCIP (PySCIPOpt 6.3.0)", solve_seconds=0.2,
        costs_source="seed", planned_at=datetime(2025, 12, 2, 9, 30))


def _trends(buf: _Buf, code: str, series: dict[tuple, list]) -> None:
    """indicator_trend rows (spec §5) with the reference's last change, Theil–Sen trend and projection."""
    for (level, method, ind), pts in series.items():
        official = [(y, cv) for y, _, cv, _, _, _, _ in pts]
        clean = [(y, c) for y, _, _, _, c, _, _ in pts]
        values = [(y, x) for y, x, _, _, _, _, _ in pts]
        last_cv, last_clean, last_value = (ref.change_per_year(official), ref.change_per_year(clean),
                                           ref.change_per_year(values))
        for year, X, cv, Xc, cvc, thr, n_flag in pts:
            upto = [(y, c) for y, c in clean if y <= year]
            window = upto[-5:]
            slope = ref.theil_sen_slope(upto)
            status, projected = ref.projection(upto, thr, year, cv)
            buf.add("marts.indicator_trend", county_code=code, level=level, method=method, indicator=ind, year=year,
                    county_value=X, cv=cv, county_value_clean=Xc, cv_clean=cvc, flagged_schools=n_flag,
                    value_last_change=last_value.get(year) if X is not None else None,
                    cv_last_change=last_cv[year], cv_clean_last_change=last_clean[year], cv_threshold=thr,
                    meets_cv=None if thr is None else cv <= thr, meets_cv_clean=None if thr is None else cvc <= thr,
                    trend_points=len(window), trend_first_year=window[0][0], trend_slope=slope,
                    trend_median_year=None if slope is None else ref._median([float(y) for y, _ in window]),
                    trend_median_cv=None if slope is None else ref._median([c for _, c in window]),
                    projected_year=projected, projection_status=status)


def _theil(buf: _Buf, code, year, level, method, ind, parts: list[tuple[str, float, float]]) -> None:
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
        buf.add("marts.county_theil_group", county_code=code, year=year, level=level, method=method, indicator=ind,
                urban_rural=g, schools=len(gp), students=float(Pg), resource_share=Rg / R, student_share=Pg / P,
                theil_t_group=Tg, theil_t_group_contribution=(Rg / R) * Tg, between_term=between)
    buf.add("marts.county_theil", county_code=code, year=year, level=level, method=method, indicator=ind,
            schools=len(parts), theil_t=total_between + total_within, theil_between=total_between,
            theil_within=total_within)


if __name__ == "__main__":  # pragma: no cover
    import sys

    print(write_report_fixture(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/report_fixture.duckdb")))
