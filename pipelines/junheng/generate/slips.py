"""Implausible submissions planted on a copy of the true panel, and the answer key that lists them.

One slip per chosen school-year, never on a school-year with a real event (opening, merger, new
building), so the answer key and the clean events stay apart. Vectorised: the loops below run over
the handful of slip kinds and fields, never over schools.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from .counties import T_PRI, T_SPE
from .model import LATE_FROM, Panel

KINDS = (
    "unit_yuan",  # 教学仪器设备值 entered in 元 instead of 万元: ×10,000
    "unit_mu",  # 体育运动场馆面积 entered in 亩 instead of m²: ÷666.67
    "students_in_teachers",  # the section's students typed into its teachers column
    "tenfold_jump",  # one field ×10 from last year (an extra digit)
    "qualified_gt_teachers",  # more qualified (degree / title / backbone) teachers than teachers
    "section_mismatch",  # junior_* filled in for a 小学
    "negative",  # a count with a minus sign
)
_WEIGHTS = np.array([0.17, 0.14, 0.14, 0.16, 0.14, 0.11, 0.14])

KEY_SCHEMA = {
    "year": pl.Int64,
    "county_code": pl.String,
    "school_code": pl.String,
    "kind": pl.String,
    "field": pl.String,
    "true_value": pl.Float64,
    "submitted_value": pl.Float64,
}


def event_cells(p: Panel) -> np.ndarray:
    """(S, Y) school-years with a real, clean event: first year, year after a merger, a big change."""
    yv = p.years[None, :]
    ev = yv == p.open_year[:, None]
    prev = np.concatenate([p.active[:, :1], p.active[:, :-1]], axis=1)  # the first year counts as continuing
    ev |= p.active & ~prev  # first active year of a school opened in the period
    m = np.flatnonzero(p.merged_into >= 0)
    ev[p.merged_into[m], np.clip(np.searchsorted(p.years, p.close_year[m]), 0, len(p.years) - 1)] = True
    if p.changes:
        ev[p.changes[0], p.changes[1]] = True
    return ev


def plant(p: Panel, rng: np.random.Generator, rate: float) -> tuple[dict[str, np.ndarray], pl.DataFrame]:
    sub = {k: a.copy() for k, a in p.values.items()}
    S, Y = p.active.shape
    ok = p.active & (p.stype != T_SPE)[:, None] & ~event_cells(p)
    chosen = ok & (rng.random((S, Y)) < rate)
    kind = np.where(chosen, rng.choice(len(KINDS), size=(S, Y), p=_WEIGHTS / _WEIGHTS.sum()), -1)
    pick = rng.integers(0, 3, (S, Y))  # which of a kind's fields
    has_pri = ~np.isnan(p.values["primary_students"])
    prev_active = np.concatenate([np.zeros((S, 1), bool), p.active[:, :-1]], axis=1)
    year_ok_late = (p.years >= LATE_FROM)[None, :]
    # For a 九年一贯制 either section will do; otherwise the one the school has.
    sec_pri = has_pri & (np.isnan(p.values["junior_students"]) | (rng.random((S, Y)) < 0.5))

    rows = []

    def apply(mask: np.ndarray, fld: str, kind_name: str, fn) -> None:
        true = p.values[fld]
        mask = mask & ~np.isnan(true) & (true > 0) if kind_name != "section_mismatch" else mask
        if not mask.any():
            return
        s, y = np.nonzero(mask)
        t = np.nan_to_num(true[s, y])
        new = fn(t, s, y)
        sub[fld][s, y] = new
        rows.append((s, y, kind_name, fld, t, new))

    k = {name: kind == i for i, name in enumerate(KINDS)}
    apply(k["unit_yuan"], "equipment_value_10k_yuan", "unit_yuan", lambda t, s, y: np.round(t * 10_000, 2))
    apply(k["unit_mu"], "sports_area_m2", "unit_mu", lambda t, s, y: np.round(t / 666.67, 2))
    for sec, m in (("primary", sec_pri), ("junior", ~sec_pri)):
        students = p.values[f"{sec}_students"]
        apply(k["students_in_teachers"] & m, f"{sec}_teachers", "students_in_teachers",
              lambda t, s, y, st=students: st[s, y])
        fields = (f"{sec}_teachers_above_degree", f"{sec}_teachers_senior_title", f"{sec}_backbone_teachers")
        teachers = p.values[f"{sec}_teachers"]
        for i, fld in enumerate(fields):
            late = year_ok_late if i == 2 else True
            apply(
                k["qualified_gt_teachers"] & m & (pick == i) & late,
                fld,
                "qualified_gt_teachers",
                lambda t, s, y, tt=teachers: tt[s, y] + np.maximum(2, np.round(0.25 * tt[s, y])),
            )
    for i, fld in enumerate(("teaching_aux_area_m2", "books", "computers")):
        apply(k["tenfold_jump"] & prev_active & (pick == i), fld, "tenfold_jump", lambda t, s, y: t * 10)
    pri = (p.stype == T_PRI)[:, None]
    a = p.values["primary_students"]
    apply(k["section_mismatch"] & pri & (pick != 1), "junior_students", "section_mismatch",
          lambda t, s, y: np.round(np.nan_to_num(a[s, y]) * 0.12) + 1)
    apply(k["section_mismatch"] & pri & (pick == 1), "junior_teachers", "section_mismatch",
          lambda t, s, y: 2 + (s % 5).astype(float))
    for i, fld in enumerate(("computers", "books", "primary_classes")):
        apply(k["negative"] & (pick == i), fld, "negative", lambda t, s, y: -t)

    if not rows:
        return sub, pl.DataFrame(schema=KEY_SCHEMA)
    s = np.concatenate([r[0] for r in rows])
    y = np.concatenate([r[1] for r in rows])
    key = pl.DataFrame(
        {
            "year": p.years[y],
            "county_code": p.counties.code[p.county[s]],
            "school_code": p.code[s],
            "kind": np.concatenate([np.full(len(r[0]), r[2]) for r in rows]),
            "field": np.concatenate([np.full(len(r[0]), r[3]) for r in rows]),
            "true_value": np.concatenate([r[4] for r in rows]).astype(float),
            "submitted_value": np.concatenate([r[5] for r in rows]).astype(float),
        },
        schema=KEY_SCHEMA,
    )
    return sub, key


EVENT_SCHEMA = {
    "year": pl.Int64,
    "county_code": pl.String,
    "school_code": pl.String,
    "kind": pl.String,
    "detail": pl.String,
}


def events(p: Panel) -> pl.DataFrame:
    """The real changes: schools opened, closed, merged into another, and large real year-over-year changes."""
    first, last = p.years[0], p.years[-1]
    cc = p.counties.code[p.county]
    parts = []
    o = np.flatnonzero((p.open_year > first) & (p.open_year <= last))
    parts.append((p.open_year[o], cc[o], p.code[o], "opened", np.char.add("新建 ", p.name[o])))
    c = np.flatnonzero((p.close_year > first) & (p.close_year <= last))
    merged = p.merged_into[c] >= 0
    cm, cn = c[merged], c[~merged]
    parts.append((p.close_year[cn], cc[cn], p.code[cn], "closed", np.char.add("撤销 ", p.name[cn])))
    parts.append((p.close_year[cm], cc[cm], p.code[cm], "merged_into", p.code[p.merged_into[cm]]))
    if p.changes:
        cs, cy, cf, cr, cause = p.changes
        detail = np.char.add(np.char.add(np.char.add(cf, " x"), np.round(cr, 2).astype(str)), np.char.add(" ", cause))
        parts.append((p.years[cy], cc[cs], p.code[cs], "large_real_change", np.char.strip(detail)))
    return pl.DataFrame(
        {
            "year": np.concatenate([x[0] for x in parts]).astype(np.int64),
            "county_code": np.concatenate([x[1] for x in parts]),
            "school_code": np.concatenate([x[2] for x in parts]),
            "kind": np.concatenate([np.full(len(x[0]), x[3]) for x in parts]),
            "detail": np.concatenate([np.asarray(x[4], dtype=str) for x in parts]),
        },
        schema=EVENT_SCHEMA,
    )
