"""The school panel: every school of a set of counties over the years, as (schools × years) arrays.

Everything here is vectorised over schools and years, so the same code makes the six-county sample
and the 200,000-school national set. Values are the *true* ones; slips are planted later
(`slips.py`) on a copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from junheng.lib.schema import CENSUS_COLUMNS

from .counties import NEVER, T_CS, T_JUN, T_NINE, T_PRI, T_SPE, T_TP, T_TWELVE, TYPES, Counties
from .names import CN_ORDINALS, TOWN_STEMS, VILLAGE_STEMS

BASE_YEAR = 2015
UR_CODES = np.array([111, 112, 121, 122, 123, 210, 220])
UR_CLASS = np.array([0, 0, 1, 1, 1, 2, 2])  # 0 城区, 1 镇区, 2 乡村

# P(urban/rural code | school type), columns in UR_CODES order.
_UR_P = np.array(
    [
        [0.08, 0.07, 0.12, 0.08, 0.05, 0.45, 0.15],  # 小学
        [0.00, 0.00, 0.00, 0.00, 0.00, 0.70, 0.30],  # 教学点
        [0.12, 0.08, 0.25, 0.10, 0.05, 0.30, 0.10],  # 初中
        [0.10, 0.05, 0.15, 0.10, 0.00, 0.45, 0.15],  # 九年一贯制
        [0.60, 0.20, 0.20, 0.00, 0.00, 0.00, 0.00],  # 完全中学
        [0.70, 0.30, 0.00, 0.00, 0.00, 0.00, 0.00],  # 十二年一贯制
        [1.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00],  # 特教
    ]
)
# Median total students in 2015 by type and urban class (城区, 镇区, 乡村), before scaling to the county.
_SIZE = np.array(
    [
        [1400, 700, 220],
        [35, 35, 35],
        [1300, 800, 450],
        [1200, 700, 400],
        [2800, 2400, 2000],
        [1500, 1200, 1000],
        [90, 90, 90],
    ],
    dtype=float,
)
# Share of a school's students in the primary / junior / senior section.
_SECTION_SHARE = np.array(
    [
        [1.0, 0.0, 0.0],
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.63, 0.37, 0.0],
        [0.0, 0.45, 0.55],
        [0.45, 0.30, 0.25],
        [0.65, 0.35, 0.0],  # special schools enrol children of both stages
    ]
)
HAS_PRI = np.isin(np.arange(7), [T_PRI, T_TP, T_NINE, T_TWELVE, T_SPE])
HAS_JUN = np.isin(np.arange(7), [T_JUN, T_NINE, T_CS, T_TWELVE, T_SPE])
HAS_SEN = np.isin(np.arange(7), [T_CS, T_TWELVE])

MEASURES = tuple(c.name for c in CENSUS_COLUMNS if c.kind == "number")
# Fields watched for large real changes (≥ ×1.8 or ≤ ×0.55 from last year), listed as events.
CHANGE_FIELDS = (
    "primary_students",
    "junior_students",
    "teaching_aux_area_m2",
    "sports_area_m2",
    "equipment_value_10k_yuan",
    "books",
    "computers",
)
# Columns the oldest exports lack (added to the census later); present from LATE_FROM on.
LATE_COLUMNS = (
    "primary_backbone_teachers",
    "junior_backbone_teachers",
    "primary_pe_art_teachers",
    "junior_pe_art_teachers",
    "multimedia_classrooms",
    "music_rooms",
    "music_room_area_m2",
    "art_rooms",
    "art_room_area_m2",
)
LATE_FROM = 2017

# 2017 standards (balance-methods §4.1), used to lift "quality" counties over them.
STD = {
    "above": (4.2, 5.3),  # per 100 students
    "backbone": (1.0, 1.0),
    "pe_art": (0.9, 0.9),
    "area": (4.5, 5.8),
    "sports": (7.5, 10.2),
    "equip_yuan": (2000.0, 2500.0),
    "multimedia": (2.3, 2.4),  # per 100 students
}


@dataclass
class Panel:
    years: np.ndarray  # (Y,)
    counties: Counties
    county: np.ndarray  # (S,) county index
    stype: np.ndarray  # (S,) type id
    ur_code: np.ndarray  # (S,) 3-digit code
    private: np.ndarray  # (S,) bool
    authority: np.ndarray  # (S,) 0 县级, 1 地级, 2 省级
    open_year: np.ndarray  # (S,)
    close_year: np.ndarray  # (S,) first year absent, NEVER if still open
    merged_into: np.ndarray  # (S,) school index or -1
    code: np.ndarray  # (S,) str, 10 digits
    name: np.ndarray  # (S,) str
    active: np.ndarray  # (S, Y) bool
    values: dict[str, np.ndarray] = field(default_factory=dict)  # measure -> (S, Y) float, NaN where n/a
    # Large real year-over-year changes: school, year index, field, ratio to last year, cause.
    changes: tuple[np.ndarray, ...] = ()

    @property
    def n_schools(self) -> int:
        return len(self.code)


def _grouped_rank(group: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """1-based rank of each masked element inside its (sorted) group; 0 where not masked."""
    c = np.cumsum(mask)
    starts = np.searchsorted(group, group, side="left")
    before = np.where(starts > 0, c[starts - 1], 0)
    return np.where(mask, c - before, 0)


def _pick_in_group(group_of_candidates: np.ndarray, groups: np.ndarray, u: np.ndarray) -> np.ndarray:
    """For each requested group, a uniformly chosen candidate index (-1 when the group has none)."""
    lo = np.searchsorted(group_of_candidates, groups, side="left")
    hi = np.searchsorted(group_of_candidates, groups, side="right")
    n = hi - lo
    return np.where(n > 0, lo + np.floor(u * n).astype(np.int64), -1)


def build_panel(counties: Counties, years: np.ndarray, rng: np.random.Generator) -> Panel:
    C = len(counties)
    years = np.asarray(years, dtype=np.int64)
    Y = len(years)
    t = (years - BASE_YEAR).astype(float)[None, :]  # (1, Y)

    # ------------------------------------------------ schools of 2015 and the ones opened later
    tc = counties.type_counts
    stype0 = np.repeat(np.tile(np.arange(7), C), tc.ravel())
    county0 = np.repeat(np.repeat(np.arange(C), 7), tc.ravel())
    n_new = np.round(tc.sum(axis=1) * 0.06 * counties.urbanise).astype(np.int64)
    county1 = np.repeat(np.arange(C), n_new)
    stype1 = rng.choice([T_PRI, T_JUN, T_NINE], size=len(county1), p=[0.7, 0.2, 0.1])
    # Opening and closing years are drawn over the whole model period, so a shorter `years` is a window on it.
    last = max(int(years[-1]), BASE_YEAR + 1)
    open1 = rng.integers(BASE_YEAR + 1, last + 1, len(county1))

    order = np.argsort(np.concatenate([county0, county1]), kind="stable")
    county = np.concatenate([county0, county1])[order]
    stype = np.concatenate([stype0, stype1])[order]
    is_new = np.concatenate([np.zeros(len(county0), bool), np.ones(len(county1), bool)])[order]
    open_year = np.concatenate([np.full(len(county0), 0), open1])[order]
    S = len(county)

    ur_idx = (rng.random(S)[:, None] > np.cumsum(_UR_P[stype], axis=1)).sum(axis=1)
    ur_idx = np.minimum(ur_idx, 6)
    ur_idx = np.where(is_new, rng.integers(0, 2, S), ur_idx)  # new schools go up in the county town
    ur_class = UR_CLASS[ur_idx]

    # Private schools: every 十二年一贯制 (as in 祁门), some town/urban schools, more among new ones.
    p_private = np.where(is_new, 0.15, 0.06) * np.isin(stype, [T_PRI, T_JUN, T_NINE]) * (ur_class < 2)
    private = (stype == T_TWELVE) | (rng.random(S) < p_private)

    # Who runs it: the county's second 完全中学 belongs to the prefecture, a few urban 初中 too; the
    # province runs the odd 附属小学.
    authority = np.zeros(S, dtype=np.int64)
    cs_rank = _grouped_rank(county, stype == T_CS)
    authority[cs_rank >= 2] = 1
    authority[(stype == T_JUN) & (ur_class == 0) & ~private & (rng.random(S) < 0.05)] = 1
    prov_cand = (stype == T_PRI) & (ur_class == 0) & ~private & ~is_new
    authority[prov_cand & (_grouped_rank(county, prov_cand) <= counties.province_run[county])] = 2

    # ------------------------------------------------ closures and mergers of village schools
    closable = ~is_new & (ur_class == 2) & np.isin(stype, [T_PRI, T_TP])
    p_close = np.where(stype == T_TP, 0.35, 0.18) * counties.urbanise[county]
    closes = closable & (rng.random(S) < p_close)
    close_year = np.where(closes, rng.integers(BASE_YEAR + 1, last + 1, S), NEVER)
    target_ok = ~is_new & (close_year == NEVER) & np.isin(stype, [T_PRI, T_NINE]) & (ur_class < 2) & ~private
    cand = np.flatnonzero(target_ok)
    pick = _pick_in_group(county[cand], county, rng.random(S))
    merged_into = np.where(closes & (rng.random(S) < 0.7) & (pick >= 0), cand[np.maximum(pick, 0)], -1)

    yv = years[None, :]
    active = (yv >= open_year[:, None]) & (yv < close_year[:, None])

    # ------------------------------------------------ students
    base = rng.lognormal(np.log(_SIZE[stype, ur_class]), 0.45) * np.where(private, 0.7, 1.0)
    scalable = ~np.isin(stype, [T_TP, T_SPE])
    comp_share = (_SECTION_SHARE[stype, 0] + _SECTION_SHARE[stype, 1])
    fixed = np.bincount(county, base * comp_share * ~scalable * ~is_new, minlength=C)
    scal = np.bincount(county, base * comp_share * scalable * ~is_new, minlength=C)
    factor = np.clip((counties.students - fixed) / np.maximum(scal, 1), 0.3, 8.0)
    base = np.where(scalable, base * factor[county], base)

    drift = np.array([0.015, 0.0, -0.05])[ur_class] * counties.urbanise[county]
    drift = np.where(stype == T_TP, -0.07, drift) + np.where(private, 0.03, 0.0)
    drift = np.where(stype == T_SPE, 0.01, drift) + rng.normal(0, 0.012, S)
    walk = np.cumsum(rng.normal(0, 0.02, (S, Y)), axis=1)
    total = base[:, None] * np.exp(drift[:, None] * t + walk)
    ramp = np.clip(0.45 + 0.25 * (yv - open_year[:, None]), 0.45, 1.0)  # new schools fill up over 3 years
    total = np.where(is_new[:, None], total * ramp, total)

    # Pupils of a merged village school move to the receiving school from the merger year on.
    m = np.flatnonzero(merged_into >= 0)
    if len(m):
        prev = np.clip(np.searchsorted(years, close_year[m]) - 1, 0, Y - 1)
        moved = 0.7 * total[m, prev]
        add = np.zeros_like(total)
        np.add.at(add, merged_into[m], moved[:, None] * (yv >= close_year[m][:, None]))
        total += add

    quality = (yv >= counties.quality_from[county][:, None])  # (S, Y) lifted to the 2017 standards
    q_county = counties.quality_from[county] < NEVER
    cap = np.where(np.isin(stype, [T_NINE, T_TWELVE]), 2300.0, 1850.0)  # G04, with a margin
    total = np.where(q_county[:, None], np.minimum(total, cap[:, None] / np.maximum(comp_share, 0.1)[:, None]), total)
    total = np.where(active, total, 0.0)

    share = _SECTION_SHARE[stype] * np.exp(rng.normal(0, 0.05, (S, 3))) * (_SECTION_SHARE[stype] > 0)
    share /= share.sum(axis=1, keepdims=True)
    A, B, Cs = (np.round(total * share[:, k, None]) for k in range(3))
    floor = np.where(stype == T_TP, 3, 8)[:, None] * active
    A = np.where(HAS_PRI[stype][:, None], np.maximum(A, floor), 0)
    B = np.where(HAS_JUN[stype][:, None], np.maximum(B, floor), 0)
    Cs = np.where(HAS_SEN[stype][:, None], np.maximum(Cs, floor), 0)

    # ------------------------------------------------ classes
    poor = (counties.wealth[county] < 1.0)[:, None]
    # Typical class size: crowded in the county seat (less so each year), small in villages.
    city = (ur_class == 0)[:, None]
    size_p = np.array([46.0, 40.0, 28.0])[ur_class][:, None] + np.where(poor, 2.0, 0.0) - np.where(city, 0.6, 0.0) * t
    size_j = np.array([52.0, 48.0, 42.0])[ur_class][:, None] + np.where(poor, 2.0, 0.0) - np.where(city, 0.7, 0.0) * t
    size_p = size_p * np.exp(rng.normal(0, 0.06, S))[:, None]
    size_j = size_j * np.exp(rng.normal(0, 0.06, S))[:, None]
    size_p = np.where(quality, np.minimum(size_p, 41.0), size_p)  # G05: no oversized classes
    size_j = np.where(quality, np.minimum(size_j, 46.0), size_j)
    pc = np.where(A > 0, np.maximum(1, np.ceil(A / np.maximum(size_p, 10))), 0)
    pc = np.where(stype[:, None] == T_TP, np.clip(np.ceil(A / 12), 1, 4) * (A > 0), pc)
    pc = np.where(stype[:, None] == T_SPE, np.ceil(A / 10), pc)
    jc = np.where(B > 0, np.maximum(1, np.ceil(B / np.maximum(size_j, 10))), 0)
    jc = np.where(stype[:, None] == T_SPE, np.ceil(B / 10), jc)
    over45 = np.where(quality, 0, np.round(pc * np.clip((A / np.maximum(pc, 1) - 43) / 6, 0, 1)))
    over50 = np.where(quality, 0, np.round(jc * np.clip((B / np.maximum(jc, 1) - 48) / 6, 0, 1)))

    # ------------------------------------------------ teachers (fewer pupils per teacher in villages)
    te_s = np.exp(rng.normal(0, 0.08, S))[:, None] * np.exp(rng.normal(0, 0.02, (S, Y)))
    pt = np.maximum(A / np.array([19.0, 17.0, 15.0])[ur_class][:, None], pc * 1.45) * te_s
    pt = np.where(stype[:, None] == T_TP, np.maximum(1, A / 9), pt)
    jt = np.maximum(B / np.array([14.0, 13.0, 11.0])[ur_class][:, None], jc * 2.8) * te_s
    pt = np.where(stype[:, None] == T_SPE, A / 4, pt)
    jt = np.where(stype[:, None] == T_SPE, B / 4, jt)
    pt = np.where(A > 0, np.maximum(1, np.round(pt)), 0)
    jt = np.where(B > 0, np.maximum(1, np.round(jt)), 0)

    qc = ((counties.wealth - 1.0) * 0.1)[county][:, None] - 0.03 * (ur_class == 2)[:, None]

    def teacher_share(level: float, slope: np.ndarray | float, sd: float, lo=0.0, hi=1.0) -> np.ndarray:
        return np.clip(level + slope * t + qc + rng.normal(0, sd, S)[:, None], lo, hi)

    bb_slope = 0.011 * counties.wealth[county][:, None]
    shares = {
        "primary_teachers_above_degree": (pt, teacher_share(0.90, 0.010, 0.04)),
        "junior_teachers_above_degree": (jt, teacher_share(0.68, 0.025, 0.05)),
        "primary_teachers_senior_title": (pt, teacher_share(0.42, 0.006, 0.08, 0.05, 0.9)),
        "junior_teachers_senior_title": (jt, teacher_share(0.48, 0.006, 0.08, 0.05, 0.9)),
        "primary_backbone_teachers": (pt, teacher_share(0.05, bb_slope, 0.03, 0, 0.4)),
        "junior_backbone_teachers": (jt, teacher_share(0.06, bb_slope, 0.03, 0, 0.4)),
        "primary_pe_art_teachers": (pt, teacher_share(0.09, 0.006, 0.03, 0, 0.3)),
        "junior_pe_art_teachers": (jt, teacher_share(0.10, 0.006, 0.03, 0, 0.3)),
    }
    qual = {k: np.minimum(np.round(n * s), n) for k, (n, s) in shares.items()}
    qual["primary_pe_art_teachers"] = np.where(stype[:, None] == T_TP, 0, qual["primary_pe_art_teachers"])

    # ------------------------------------------------ facilities: per student level × school multiplier
    W = A + 1.3 * B + 1.3 * Cs  # junior / senior pupils need more room and kit than primary
    W = np.where(stype[:, None] == T_SPE, 3.0 * (A + B), W)
    W = np.where(is_new[:, None], W / ramp, W)  # a new school is built for the pupils it will have
    w = counties.wealth[county][:, None]
    sig = counties.spread[county][:, None] * np.maximum(0.35, 1 - counties.converge[county][:, None] * t)
    common = rng.normal(0, 1, S)

    def multiplier(adj: np.ndarray | float = 1.0) -> np.ndarray:
        z = 0.6 * common + 0.8 * rng.normal(0, 1, S)
        return adj * np.exp(z[:, None] * sig - 0.5 * sig**2) * np.exp(rng.normal(0, 0.025, (S, Y)))

    land = np.array([0.65, 1.0, 1.4])[ur_class][:, None]  # city schools are short of playground
    rural_fixed = (ur_class == 2)[:, None] * active
    area = 4.2 * w * (1 + 0.035 * t) * W * multiplier() + rural_fixed * np.where(stype == T_TP, 60, 120)[:, None]
    sports = 6.0 * w * (1 + 0.035 * t) * W * multiplier(land) + rural_fixed * 200
    equip = 1300 * w * (1 + 0.09 * t) * W * multiplier() / 10_000  # yuan → 万元
    books = 24 * w * (1 + 0.035 * t) * W * multiplier()
    computers = 8.5 * w * (1 + 0.045 * t) * W * multiplier() / 100
    multimedia = 1.0 * w * (1 + 0.13 * t) * W * multiplier() / 100

    # Music and art rooms: one of each per 12 classes, built up over the years.
    need = np.ceil((pc + jc) / 12) * active
    ready = rng.random(S)[:, None] < np.clip(0.35 + 0.07 * t + 0.2 * (w - 1), 0, 1)
    music_rooms = np.where(ready, need, np.maximum(need - 1, 0))
    art_rooms = np.where(ready & (rng.random(S)[:, None] < 0.9), need, np.maximum(need - 1, 0))
    tiny = (stype == T_TP)[:, None] | (A + B < 60)
    music_rooms = np.where(tiny, 0, music_rooms)
    art_rooms = np.where(tiny, 0, art_rooms)
    per_room = 70 + 4 * t + rng.normal(0, 8, S)[:, None]

    # A few real step changes: a new teaching building or a new sports ground.
    n_big = int(round(S * 0.03)) if Y > 2 else 0
    big_s = rng.choice(S, size=n_big, replace=False)
    big_y = rng.integers(2, max(Y, 3), n_big)
    big_f = rng.integers(0, 2, n_big)
    big_x = rng.uniform(1.8, 2.4, n_big)
    ok = active[big_s, big_y] & active[big_s, big_y - 1] & (open_year[big_s] < years[big_y] - 1)
    big_s, big_y, big_f, big_x = big_s[ok], big_y[ok], big_f[ok], big_x[ok]
    for f, arr in ((0, area), (1, sports)):
        sel = big_f == f
        step = np.ones_like(arr)
        from_then_on = np.arange(Y)[None, :] >= big_y[sel][:, None]
        np.multiply.at(step, big_s[sel], np.where(from_then_on, big_x[sel][:, None], 1.0))
        arr *= step

    # ------------------------------------------------ quality counties: every school over the 2017 bar
    in_scope = ((stype != T_SPE) & (stype != T_TP))[:, None] | ((stype == T_TP)[:, None] & (A >= 50))
    lift = quality & in_scope & active
    # Counties build up to the standard over the two years before: 70 %, 85 %, then all of it.
    qf = counties.quality_from[county][:, None]
    ramp_in = np.select([yv >= qf, yv == qf - 1, yv == qf - 2], [1.0, 0.85, 0.7], 0.0) * (in_scope & active)
    headroom = rng.uniform(1.03, 1.25, S)[:, None]  # how far above the bar each school ends up
    Wspl = A + 1.1 * B + 1.32 * Cs
    shp = np.where(np.isin(stype, [T_NINE, T_TWELVE])[:, None], A / np.maximum(Wspl, 1), 1.0)
    shj = np.where(np.isin(stype, [T_NINE, T_TWELVE])[:, None], 1.1 * B / np.maximum(Wspl, 1), 1.0)
    shj = np.where(stype[:, None] == T_CS, B / np.maximum(B + 1.2 * Cs, 1), shj)

    def required(key: str, per: float = 1.0) -> np.ndarray:
        sp, sj = STD[key]
        r = np.maximum(sp * A / np.maximum(shp, 1e-9), sj * B / np.maximum(shj, 1e-9)) / per
        return r * headroom * ramp_in

    area = np.maximum(area, required("area"))
    sports = np.maximum(sports, required("sports"))
    equip = np.maximum(equip, required("equip_yuan", 10_000))
    multimedia = np.maximum(multimedia, required("multimedia", 100))
    for sec, n_t, stud, k in (("primary", pt, A, 0), ("junior", jt, B, 1)):
        pairs = (("teachers_above_degree", "above"), ("backbone_teachers", "backbone"), ("pe_art_teachers", "pe_art"))
        for col, key in pairs:
            name = f"{sec}_{col}"
            need_t = np.where(lift & (stud > 0), np.ceil(STD[key][k] * stud / 100 * 1.04), 0)
            qual[name] = np.maximum(qual[name], need_t)
            n_t[...] = np.maximum(n_t, qual[name])
    music_rooms = np.where(lift, np.maximum(music_rooms, need), music_rooms)
    art_rooms = np.where(lift, np.maximum(art_rooms, need), art_rooms)
    per_room = np.where(lift, np.maximum(per_room, 100), per_room)

    # ------------------------------------------------ assemble, n/a sections as NaN
    def sec(arr: np.ndarray, has: np.ndarray) -> np.ndarray:
        out = np.where(active, arr, np.nan).astype(float)
        out[~has[stype]] = np.nan
        return out

    v: dict[str, np.ndarray] = {
        "primary_students": sec(A, HAS_PRI),
        "junior_students": sec(B, HAS_JUN),
        "senior_students": sec(Cs, HAS_SEN),
        "primary_classes": sec(pc, HAS_PRI),
        "junior_classes": sec(jc, HAS_JUN),
        "primary_classes_over_45": sec(over45, HAS_PRI),
        "junior_classes_over_50": sec(over50, HAS_JUN),
        "primary_teachers": sec(pt, HAS_PRI),
        "junior_teachers": sec(jt, HAS_JUN),
    }
    for k, arr in qual.items():
        v[k] = sec(arr, HAS_PRI if k.startswith("primary") else HAS_JUN)
    all_types = np.ones(7, bool)
    v["teaching_aux_area_m2"] = sec(np.round(area), all_types)
    v["sports_area_m2"] = sec(np.round(sports), all_types)
    v["equipment_value_10k_yuan"] = sec(np.round(equip, 2), all_types)
    v["books"] = sec(np.round(books), all_types)
    v["computers"] = sec(np.round(computers), all_types)
    v["multimedia_classrooms"] = sec(np.round(multimedia), all_types)
    v["music_rooms"] = sec(music_rooms, all_types)
    v["art_rooms"] = sec(art_rooms, all_types)
    v["music_room_area_m2"] = sec(np.round(music_rooms * per_room), all_types)
    v["art_room_area_m2"] = sec(np.round(art_rooms * (per_room - 4)), all_types)
    assert set(v) == set(MEASURES), set(MEASURES) ^ set(v)

    # Every large year-over-year change of the true values is a real event (events.csv), with its cause.
    prev_ok = active & np.concatenate([np.zeros((S, 1), bool), active[:, :-1]], axis=1)
    receiving = np.zeros((S, Y), bool)
    if len(m):
        receiving[merged_into[m], np.clip(np.searchsorted(years, close_year[m]), 0, Y - 1)] = True
    building = np.zeros((S, Y, 2), bool)
    building[big_s, big_y, big_f] = True
    lifting = (ramp_in > 0) & (yv >= qf - 2) & (yv <= qf)
    changes = []
    for f in CHANGE_FIELDS:
        cur, prev = v[f], np.concatenate([np.full((S, 1), np.nan), v[f][:, :-1]], axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = cur / prev
        big = prev_ok & (prev >= 20) & ((ratio >= 1.8) | (ratio <= 0.55))
        cause = np.select(
            [
                building[:, :, 0] & (f == "teaching_aux_area_m2"),
                building[:, :, 1] & (f == "sports_area_m2"),
                receiving,
                lifting,
            ],
            ["新教学楼投入使用", "新建运动场", "接收撤并学校师生", "标准化建设达标"],
            default="",
        )
        ss_, yy_ = np.nonzero(big)
        changes.append((ss_, yy_, np.full(len(ss_), f), ratio[ss_, yy_], cause[ss_, yy_]))

    # ------------------------------------------------ identity
    # 学校标识码: a lead digit, the county code, and three digits distinct within the county, drawn at
    # random so neighbouring schools do not get neighbouring codes. Some counties' codes lead with 0.
    start = np.searchsorted(county, county, side="left")
    n_c = np.bincount(county, minlength=C)[county]
    rank = np.empty(S, dtype=np.int64)
    rank[np.lexsort((rng.random(S), county))] = np.arange(S)
    rank -= start  # a random permutation of 0..n-1 inside each county
    step = 1000 / n_c  # each school gets its own slot of `step` numbers, and a random place in it
    tail = (np.floor(rank * step) + np.floor(rng.random(S) * np.floor(step))).astype(np.int64)
    lead = np.where(np.isin(counties.code, ["431230", "341722"]) | (counties.code.astype(np.int64) % 7 == 3), "0", "1")
    code = np.char.add(np.char.add(lead[county], counties.code[county]), np.char.zfill(tail.astype(str), 3))
    name = _names(counties, county, stype, ur_class, private, authority, rng)

    return Panel(
        years=years, counties=counties, county=county, stype=stype, ur_code=UR_CODES[ur_idx], private=private,
        authority=authority, open_year=np.where(is_new, open_year, 0), close_year=close_year,
        merged_into=merged_into, code=code, name=name, active=active, values=v,
        changes=tuple(np.concatenate([c[i] for c in changes]) for i in range(5)),
    )


def _names(counties, county, stype, ur_class, private, authority, rng) -> np.ndarray:
    S = len(county)
    cname = counties.name[county]
    town = np.array(TOWN_STEMS)[rng.integers(0, len(TOWN_STEMS), S)]
    village = np.array(VILLAGE_STEMS)[rng.integers(0, len(VILLAGE_STEMS), S)]
    town_kind = np.where(rng.random(S) < 0.7, "镇", "乡")
    place = np.char.add(town, town_kind)
    ords = np.array(CN_ORDINALS)

    def ordinal(mask: np.ndarray) -> np.ndarray:
        return ords[np.minimum(_grouped_rank(county, mask), 99)]

    urban_pri = (stype == T_PRI) & (ur_class == 0) & ~private
    jun_urban = (stype == T_JUN) & (ur_class < 2) & ~private
    brand = np.array(["育才", "明德", "英才", "博文", "启航", "新华"])[rng.integers(0, 6, S)]
    a = np.char.add
    names = np.select(
        [
            authority == 2,
            private & (stype == T_TWELVE),
            private,
            stype == T_SPE,
            stype == T_CS,
            urban_pri,
            (stype == T_PRI) & (ur_class == 1),
            stype == T_PRI,
            stype == T_TP,
            jun_urban,
            stype == T_JUN,
            stype == T_NINE,
        ],
        [
            a(cname, "师范附属小学"),
            a(a(cname, brand), "学校"),
            a(a(cname, brand), np.where(stype == T_PRI, "实验小学", np.where(stype == T_JUN, "中学", "实验学校"))),
            a(cname, "特殊教育学校"),
            a(a(a(cname, "第"), ordinal(stype == T_CS)), "中学"),
            a(a(a(cname, "城关镇第"), ordinal(urban_pri)), "小学"),
            a(a(cname, place), "中心小学"),
            a(a(a(cname, place), village), "小学"),
            a(a(a(cname, place), village), "教学点"),
            a(a(a(cname, "第"), ordinal(jun_urban)), "初级中学"),
            a(a(cname, place), "初级中学"),
            a(a(cname, place), "九年一贯制学校"),
        ],
        default=a(cname, "学校"),
    )
    return names


def type_name(stype: np.ndarray) -> np.ndarray:
    return np.array(TYPES)[stype]
