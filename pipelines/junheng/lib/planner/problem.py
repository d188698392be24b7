"""The planning problem of one county and year (spec §6), and the exact rules a plan is judged by.

Everything here is plain data: the warehouse side (lib/planner/data.py) fills it from the marts and seeds, the solver
(lib/planner/solve.py) turns it into a mixed-integer second-order-cone programme. ``evaluate`` applies §4.1's rules
to a county with additions, in the same arithmetic as the dbt models (x_i = R_i·scale/P_i, X = ΣR·scale/ΣP,
CV = sqrt(Σ P_i/P (x_i − X)²)/X); the solver uses it only to round and prune its answer — the plan's verdict of record
is the recomputation by the dbt models themselves (lib/planner/verify.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Item:
    """What a plan can add (seed plan_items, costs from seed unit_costs or --costs)."""

    resource: str  # the int_school_parts column it raises, e.g. 'multimedia_classrooms'
    scope: str  # 'school' (whole-school facility, split over the parts, spec §1) or 'part' (a section's teachers)
    step: float  # practical unit the plan is rounded up to: 1 m², 100 yuan, 1 room, 1 teacher
    integral: bool  # whole units only (rooms, teachers)
    cost: float  # yuan per unit of the resource
    name_zh: str = ""
    unit_zh: str = ""
    census_unit: float = 1.0  # resource units per census unit (equipment: 10,000 yuan per 万元)


@dataclass(frozen=True)
class Indicator:
    """One 2017 indicator (seed indicators, standards per level from indicator_standards)."""

    code: str  # Q1..Q7
    resource: str
    scale: float  # 1, or 100 for "per hundred students"
    standard: dict[str, float]  # level -> standard


@dataclass
class Part:
    """One school part of the 2017 scope with students (a row of int_school_parts)."""

    school_code: str
    level: str  # 'primary' | 'junior'
    students: float
    share: float  # the part's split share of whole-school facilities (spec §1)
    # resource -> the school's total for a whole-school facility (split by `share` when valued, as dbt does:
    # (R + Δ)·share), the part's own count for teachers; None: not reported
    resources: dict[str, float | None]
    raisable: bool = True  # the county may invest here (public and county-run; seed method_constants)
    school_name: str = ""
    census: dict[str, float] = field(default_factory=dict)  # resource -> the census value, where units differ


@dataclass
class CountyProblem:
    county_code: str
    year: int  # data year
    target_year: int
    province_code: str
    parts: list[Part]
    indicators: list[Indicator]
    cv_threshold: dict[str, float]  # level -> CV threshold (0.50 / 0.45)
    min_met: int  # indicators of seven a part must meet (6)
    min_share: float  # the missed one reaches this share of its standard (0.85)
    items: dict[str, Item]  # resource -> item
    student_factor: dict[str, float] = field(default_factory=dict)  # level -> projection factor, stated in the plan
    # (level, indicator) -> the reporting parts as arrays (county_cv); built on first use, not pickled
    _columns: dict = field(default_factory=dict, repr=False, compare=False)

    def schools(self) -> list[str]:
        return sorted({p.school_code for p in self.parts})

    def __getstate__(self):
        return {**self.__dict__, "_columns": {}}


# additions: {(school_code, level or None, resource): amount in resource units}; level None = whole school
Additions = dict[tuple[str, str | None, str], float]


def part_resource(problem: CountyProblem, part: Part, resource: str, additions: Additions) -> float | None:
    base = part.resources.get(resource)
    if base is None:
        return None
    item = problem.items.get(resource)
    if item is not None and item.scope == "school":
        add = additions.get((part.school_code, None, resource), 0.0)
        if item.census_unit != 1.0:
            # as dbt computes it from the census with the addition in place: ((c + Δ/u)·u)·share, c = base/u the
            # census value; the same doubles, so a plan exactly at a standard is judged the same way
            c = part.census.get(resource, base / item.census_unit)
            return ((c + add / item.census_unit) * item.census_unit) * part.share
        return (base + add) * part.share
    if item is None:
        return base
    return base + additions.get((part.school_code, part.level, resource), 0.0)


@dataclass
class Verdict:
    passes: bool
    failures: list[str]  # human-readable, Chinese first
    cvs: dict[tuple[str, str], float | None]  # (level, indicator) -> CV
    noncompliant: list[tuple[str, str]]  # (school_code, level)
    undetermined: list[tuple[str, str]]


def part_state(problem: CountyProblem, part: Part, additions: Additions, margin: float = 0.0) -> bool | None:
    """The school rule for one part (school_quality_compliance.compliant): False, True, or None when unreported
    values leave it open."""
    met = evaluated = 0
    lowest_missed = math.inf
    for ind in problem.indicators:
        r = part_resource(problem, part, ind.resource, additions)
        if r is None:
            continue
        evaluated += 1
        x = r / part.students * ind.scale
        std = ind.standard[part.level]
        if x >= std * (1 + margin):
            met += 1
        elif std > 0:
            lowest_missed = min(lowest_missed, x / (std * (1 + margin)))
    n = len(problem.indicators)
    if evaluated - met > n - problem.min_met or lowest_missed < problem.min_share:
        return False
    return True if evaluated == n else None


@dataclass
class _Column:
    """The parts of one level that report one indicator's resource, as arrays, and where each finds its addition."""

    students: np.ndarray
    base: np.ndarray  # the resource without additions (the census value where units differ, see part_resource)
    share: np.ndarray
    keys: list  # the additions key of each part
    kind: str  # 'school' (whole-school item), 'census' (whole-school item in another census unit), 'part', 'none'
    census_unit: float


def _column(problem: CountyProblem, level: str, ind: Indicator) -> _Column:
    key = (level, ind.code)
    col = problem._columns.get(key)
    if col is None:
        parts = [p for p in problem.parts if p.level == level and p.resources.get(ind.resource) is not None]
        item = problem.items.get(ind.resource)
        kind = "none" if item is None else item.scope
        unit = item.census_unit if item is not None else 1.0
        if kind == "school" and unit != 1.0:
            kind = "census"
            base = [p.census.get(ind.resource, p.resources[ind.resource] / unit) for p in parts]
        else:
            base = [p.resources[ind.resource] for p in parts]
        keys = [(p.school_code, None if kind in ("school", "census") else p.level, ind.resource) for p in parts]
        col = _Column(np.array([p.students for p in parts], dtype=float), np.array(base, dtype=float),
                      np.array([p.share for p in parts], dtype=float), keys, kind, unit)
        problem._columns[key] = col
    return col


def county_cv(problem: CountyProblem, level: str, ind: Indicator, additions: Additions) -> float | None:
    """The students-weighted CV of one indicator at one level (spec §2) over the parts that report it. Each part's
    resource is part_resource's, element by element (the same doubles); sums are correctly rounded (math.fsum), the
    closest a double comes to dbt's order-independent exact sums."""
    col = _column(problem, level, ind)
    if not len(col.students):
        return None
    add = np.array([additions.get(k, 0.0) for k in col.keys]) if additions else np.zeros(len(col.keys))
    if col.kind == "census":
        r = ((col.base + add / col.census_unit) * col.census_unit) * col.share
    elif col.kind == "school":
        r = (col.base + add) * col.share
    else:
        r = col.base + add
    p = math.fsum(col.students.tolist())
    big_x = math.fsum(r.tolist()) * ind.scale / p
    if not big_x:
        return None
    x = r / col.students * ind.scale
    return math.sqrt(math.fsum((col.students / p * (x - big_x) ** 2).tolist())) / big_x


def cv_ok(problem: CountyProblem, level: str, ind: Indicator, additions: Additions, margin: float = 0.0) -> bool:
    if not any(p.level == level and p.resources.get(ind.resource) is not None for p in problem.parts):
        return True  # no part of this level reports it: no CV to judge
    cv = county_cv(problem, level, ind, additions)
    return cv is not None and cv <= problem.cv_threshold[level] * (1 - margin)


def evaluate(problem: CountyProblem, additions: Additions, margin: float = 0.0) -> Verdict:
    """§4.1 for the county with `additions`: the school rule for every part and every CV within its threshold.

    margin > 0 tightens every threshold by that relative amount (a standard ×(1+margin), a CV threshold ×(1−margin))."""
    failures: list[str] = []
    noncompliant, undetermined = [], []
    for part in problem.parts:
        state = part_state(problem, part, additions, margin)
        if state is False:
            noncompliant.append((part.school_code, part.level))
            failures.append(f"{part.school_code} {part.level}: 学校达标规则未满足 / school rule not met")
        elif state is None:
            undetermined.append((part.school_code, part.level))
            failures.append(f"{part.school_code} {part.level}: 指标未填报，无法判定 / unreported indicator")
    cvs: dict[tuple[str, str], float | None] = {}
    for level in sorted({p.level for p in problem.parts}):
        for ind in problem.indicators:
            if not any(p.level == level and p.resources.get(ind.resource) is not None for p in problem.parts):
                continue
            cvs[(level, ind.code)] = county_cv(problem, level, ind, additions)
            if not cv_ok(problem, level, ind, additions, margin):
                failures.append(f"{level} {ind.code}: 差异系数 {cvs[(level, ind.code)]} 超过 "
                                f"{problem.cv_threshold[level]} / CV above threshold")
    return Verdict(not failures, failures, cvs, noncompliant, undetermined)


def passes_after_change(problem: CountyProblem, additions: Additions, key: tuple[str, str | None, str],
                        margin: float = 0.0) -> bool:
    """evaluate(...).passes for `additions` that differ from a passing plan only at `key`: only the parts of that
    school and the CVs of that resource's indicators can change, so only they are judged (the same functions)."""
    school, level, resource = key
    parts = [p for p in problem.parts if p.school_code == school and (level is None or p.level == level)]
    if any(part_state(problem, p, additions, margin) is not True for p in parts):
        return False
    for ind in problem.indicators:
        if ind.resource == resource:
            for lv in {p.level for p in parts}:
                if not cv_ok(problem, lv, ind, additions, margin):
                    return False
    return True


def cost_of(problem: CountyProblem, additions: Additions) -> float:
    return sum(problem.items[r].cost * amount for (_, _, r), amount in additions.items())
