"""Independent plain-Python computation of the balance methods (shared/spec/balance-methods.md).

No SQL and nothing from the dbt project: the end-to-end test feeds the same school rows (dicts keyed by the census
column names of ``raw.census_schools``, codes as in the warehouse: school_type ``nine_year`` etc., ownership
``public``/``private``, authority ``county``/...; ``None`` = not reported) to :func:`compute` and compares the result
with the marts. National defaults only (no province overrides act on these figures).

    ref = compute(schools)
    ref.cv[(county_code, year, level, method, indicator)]  -> CountyCV(county_value, cv, schools, students)
    ref.composite[(county_code, year, level)]              -> 2012 composite CV (mean of the eight) or None
    ref.basic_met[(county_code, year, level)]              -> composite <= 0.65 / 0.55
    ref.school_values[(school_code, year, level, method, indicator)] -> value or None
    ref.compliance[(school_code, year, level)]             -> Compliance(indicators_met, lowest_share_missed, compliant)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# spec §1: weights of the weighted student shares per school type and section
SPLIT_WEIGHTS = {
    "primary": {"primary": 1.0},
    "teaching_point": {"primary": 1.0},
    "junior": {"junior": 1.0},
    "nine_year": {"primary": 1.0, "junior": 1.1},
    "complete_secondary": {"junior": 1.0, "senior": 1.2},
    "twelve_year": {"primary": 1.0, "junior": 1.1, "senior": 1.32},
    "special": {},
}
FACILITIES = ("teaching_aux_area_m2", "sports_area_m2", "equipment_value_10k_yuan", "books", "computers",
              "multimedia_classrooms")
YUAN_PER_10K = 10_000.0
TEACHING_POINT_MIN = 50
BASIC_TYPES = {"primary", "junior", "nine_year", "complete_secondary", "twelve_year"}

# indicator -> (resource key of a part, scale)
BASIC = {
    "B1": ("teaching_aux_area_m2", 1), "B2": ("sports_area_m2", 1), "B3": ("equipment_yuan", 1),
    "B4": ("computers", 100), "B5": ("books", 1), "B6": ("teachers", 1),
    "B7": ("teachers_above_degree", 1), "B8": ("teachers_senior_title", 1),
}
QUALITY = {
    "Q1": ("teachers_above_degree", 100), "Q2": ("backbone_teachers", 100), "Q3": ("pe_art_teachers", 100),
    "Q4": ("teaching_aux_area_m2", 1), "Q5": ("sports_area_m2", 1), "Q6": ("equipment_yuan", 1),
    "Q7": ("multimedia_classrooms", 100),
}
STANDARDS = {
    "primary": {"Q1": 4.2, "Q2": 1.0, "Q3": 0.9, "Q4": 4.5, "Q5": 7.5, "Q6": 2000.0, "Q7": 2.3},
    "junior": {"Q1": 5.3, "Q2": 1.0, "Q3": 0.9, "Q4": 5.8, "Q5": 10.2, "Q6": 2500.0, "Q7": 2.4},
}
COMPOSITE_THRESHOLD = {"primary": 0.65, "junior": 0.55}
QUALITY_CV_THRESHOLD = {"primary": 0.50, "junior": 0.45}
SCHOOL_MIN_MET = 6
SCHOOL_MIN_SHARE = 0.85


def _num(v) -> float:
    return 0.0 if v is None else float(v)


def split_parts(school: dict) -> list[dict]:
    """The primary and junior parts of one school (spec §1), whole-school facilities split by weighted shares."""
    weights = SPLIT_WEIGHTS[school["school_type"]]
    students = {s: _num(school.get(f"{s}_students")) for s in ("primary", "junior", "senior")}
    denominator = sum(w * students[s] for s, w in weights.items())
    parts = []
    for level in ("primary", "junior"):
        if level not in weights:
            continue
        share = weights[level] * students[level] / denominator if denominator > 0 else None
        part = {
            "school_code": school["school_code"], "county_code": school["county_code"], "year": school.get("year"),
            "school_type": school["school_type"], "ownership": school["ownership"], "authority": school["authority"],
            "urban_rural": school.get("urban_rural"), "level": level, "students": students[level], "share": share,
        }
        for f in FACILITIES:
            v = school.get(f)
            part[f] = None if v is None or share is None else float(v) * share
        part["equipment_yuan"] = (None if part["equipment_value_10k_yuan"] is None
                                  else part["equipment_value_10k_yuan"] * YUAN_PER_10K)
        for f in ("teachers", "teachers_above_degree", "teachers_senior_title", "backbone_teachers",
                  "pe_art_teachers", "classes"):
            v = school.get(f"{level}_{f}")
            part[f] = None if v is None else float(v)
        parts.append(part)
    return parts


def in_basic_scope(part: dict) -> bool:
    """2012 scope (spec §3): county-run public schools of the five regular types."""
    return (part["school_type"] in BASIC_TYPES and part["ownership"] == "public"
            and part["authority"] == "county")


def in_quality_scope(part: dict) -> bool:
    """2017 scope (spec §4.1): all but special schools and teaching points under 50 students."""
    if part["school_type"] == "special":
        return False
    return part["school_type"] != "teaching_point" or part["students"] >= TEACHING_POINT_MIN


def value(resource: float | None, students: float, scale: float) -> float | None:
    if resource is None or not students:
        return None
    return resource / students * scale


def county_cv(pairs: list[tuple[float, float]], scale: float = 1) -> tuple[float | None, float | None]:
    """(county value X, students-weighted CV) over (resource, students) pairs (spec §2)."""
    pairs = [(r, p) for r, p in pairs if r is not None and p and p > 0]
    if not pairs:
        return None, None
    total_p = sum(p for _, p in pairs)
    x = sum(r for r, _ in pairs) / total_p * scale
    if x == 0:
        return x, None
    var = sum(p / total_p * (r / p * scale - x) ** 2 for r, p in pairs)
    return x, math.sqrt(var) / x


def composite(cvs: list[float | None]) -> float | None:
    """2012 composite: simple mean of the eight CVs (None when one is undefined)."""
    if len(cvs) != len(BASIC) or any(c is None for c in cvs):
        return None
    return sum(cvs) / len(cvs)


@dataclass
class Compliance:
    indicators_met: int
    lowest_share_missed: float | None
    compliant: bool | None


def school_compliance(values: dict[str, float | None], level: str) -> Compliance:
    """The 2017 school rule (spec §4.1): at least 6 of 7 met and the missed one at least 85% of its standard."""
    std = STANDARDS[level]
    met = [ind for ind, v in values.items() if v is not None and v >= std[ind]]
    missed = [v / std[ind] for ind, v in values.items() if v is not None and v < std[ind]]
    unreported = sum(1 for v in values.values() if v is None)
    lowest = min(missed) if missed else None
    if len(missed) > len(std) - SCHOOL_MIN_MET or (lowest is not None and lowest < SCHOOL_MIN_SHARE):
        ok = False
    elif unreported == 0:
        ok = True
    else:
        ok = None
    return Compliance(len(met), lowest, ok)


@dataclass
class CountyCV:
    county_value: float | None
    cv: float | None
    schools: int
    students: float


@dataclass
class Reference:
    cv: dict = field(default_factory=dict)
    composite: dict = field(default_factory=dict)
    basic_met: dict = field(default_factory=dict)
    school_values: dict = field(default_factory=dict)
    compliance: dict = field(default_factory=dict)


def compute(schools: list[dict]) -> Reference:
    ref = Reference()
    groups: dict[tuple, list[tuple[float, float]]] = {}
    seen: set[tuple] = set()
    for school in schools:
        for part in split_parts(school):
            if part["students"] <= 0:
                continue  # a part with zero students has no indicator value and is left out
            for method, table, scoped in (("basic", BASIC, in_basic_scope), ("quality", QUALITY, in_quality_scope)):
                if not scoped(part):
                    continue
                qvals = {}
                for ind, (res, scale) in table.items():
                    key = (part["county_code"], part["year"], part["level"], method, ind)
                    seen.add(key)
                    v = value(part[res], part["students"], scale)
                    ref.school_values[(part["school_code"], part["year"], part["level"], method, ind)] = v
                    if v is not None:
                        groups.setdefault(key, []).append((part[res], part["students"]))
                    qvals[ind] = v
                if method == "quality":
                    ref.compliance[(part["school_code"], part["year"], part["level"])] = school_compliance(
                        qvals, part["level"])
    for key in seen:
        pairs = groups.get(key, [])
        scale = (BASIC if key[3] == "basic" else QUALITY)[key[4]][1]
        x, cv = county_cv(pairs, scale)
        ref.cv[key] = CountyCV(x, cv, len(pairs), sum(p for _, p in pairs))
    for (county, year, level, method, _ind) in list(ref.cv):
        if method != "basic" or (county, year, level) in ref.composite:
            continue
        comp = composite([ref.cv[(county, year, level, "basic", i)].cv for i in BASIC])
        ref.composite[(county, year, level)] = comp
        ref.basic_met[(county, year, level)] = None if comp is None else comp <= COMPOSITE_THRESHOLD[level]
    return ref


# ---------------------------------------------------------------- spec §5 (what users also need)

def change_per_year(points: list[tuple[int, float | None]]) -> dict[int, float | None]:
    """Per year: difference to the previous year with data, divided by the years between them."""
    out, prev = {}, None
    for year, v in sorted(points):
        if v is None:
            out[year] = None
            continue
        out[year] = None if prev is None else (v - prev[1]) / (year - prev[0])
        prev = (year, v)
    return out


def _window(points: list[tuple[int, float | None]]) -> list[tuple[int, float]]:
    """The last five years with data (spec §5)."""
    return [(y, c) for y, c in sorted(points) if c is not None][-5:]


def theil_sen_slope(points: list[tuple[int, float | None]]) -> float | None:
    """The trend (年均变化, spec §5): the median of the pairwise slopes over the last five years with data; None with
    fewer than three. Feed it the clean series (without warning-flagged parts)."""
    pts = _window(points)
    if len(pts) < 3:
        return None
    slopes = sorted((c2 - c1) / (y2 - y1) for i, (y1, c1) in enumerate(pts) for (y2, c2) in pts[i + 1:])
    mid = len(slopes) // 2
    return slopes[mid] if len(slopes) % 2 else (slopes[mid - 1] + slopes[mid]) / 2


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2


def projection(points: list[tuple[int, float | None]], threshold: float | None, year: int,
               official_cv: float | None = None) -> tuple[str, int | None]:
    """(projection_status, projected_year) of the row ``year`` (spec §5), ``points`` the clean CVs up to that year:
    met (the official CV is within), met_clean (the latest clean CV of the window is), too_few_years, not_descending,
    projected: the line through the median point (median year, median CV) with the Theil–Sen slope, the first whole
    year after ``year`` in which it is at or below the threshold."""
    if threshold is None:
        return "no_threshold", None
    if official_cv is not None and official_cv <= threshold:
        return "met", None
    pts = _window([(y, c) for y, c in points if y <= year])
    if pts and pts[-1][1] <= threshold:
        return "met_clean", None
    slope = theil_sen_slope(pts)
    if slope is None:
        return "too_few_years", None
    if slope >= 0:
        return "not_descending", None
    my, mc = _median([float(y) for y, _ in pts]), _median([c for _, c in pts])
    return "projected", max(math.ceil(round(my + (threshold - mc) / slope, 9)), year + 1)


def projected_year(points: list[tuple[int, float | None]], threshold: float) -> int | None:
    """The projected crossing year of the last point's year (spec §5), or None; ``points`` the clean CVs."""
    pts = [(y, c) for y, c in sorted(points) if c is not None]
    if not pts:
        return None
    return projection(pts, threshold, pts[-1][0], pts[-1][1])[1]


RANK_VERDICT_ORDER = {"met": 1, "incomplete": 2, "not_met": 3}


def progress_key(verdict: str, items_met: int, mean_cv_ratio: float | None) -> tuple:
    """Ranking counties by progress (spec §5): verdict (met, incomplete, not met), then items met (more first), then
    the mean CV / threshold (lower first; none last). Sort ascending by this key."""
    return (RANK_VERDICT_ORDER[verdict], -items_met, mean_cv_ratio is None, mean_cv_ratio or 0.0)


def cv_shares(pairs: list[tuple[float, float]], scale: float = 1) -> list[float | None]:
    """Each school's share of the CV: (P_i/P)(x_i - X)^2 / sum_j (P_j/P)(x_j - X)^2, in input order."""
    total_p = sum(p for _, p in pairs)
    x = sum(r for r, _ in pairs) / total_p * scale
    terms = [p / total_p * (r / p * scale - x) ** 2 for r, p in pairs]
    s = sum(terms)
    return [t / s if s else None for t in terms]


def standard_gap(value_: float, standard: float, students: float, scale: float = 1) -> float:
    """Physical units missing to reach the standard: (standard - value) x students (/100 per hundred)."""
    return (standard - value_) * students / scale if value_ < standard else 0.0


def theil(rows: list[tuple[float, float, str]]) -> tuple[float, float, float]:
    """(T, T_between, T_within) over (resource, students, group) rows: T = sum (R_i/R) ln((R_i/R)/(P_i/P)),
    a part with R_i = 0 contributing 0; between/within over the groups (T = T_between + sum_g (R_g/R) T_g)."""
    def t(sub):
        r_tot = sum(r for r, _ in sub)
        p_tot = sum(p for _, p in sub)
        return sum(r / r_tot * math.log((r / r_tot) / (p / p_tot)) for r, p in sub if r > 0) if r_tot > 0 else 0.0
    total = t([(r, p) for r, p, _ in rows])
    r_all = sum(r for r, _, _ in rows)
    p_all = sum(p for _, p, _ in rows)
    between = within = 0.0
    for g in sorted({g for _, _, g in rows}):
        sub = [(r, p) for r, p, gg in rows if gg == g]
        r_g, p_g = sum(r for r, _ in sub), sum(p for _, p in sub)
        if r_g > 0:
            between += r_g / r_all * math.log((r_g / r_all) / (p_g / p_all))
            within += r_g / r_all * t(sub)
    return total, between, within
