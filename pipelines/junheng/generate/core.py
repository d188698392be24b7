"""`generate()`: counties → school panel → planted slips → files, answer key and events."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from junheng.lib.schema import RETURN_COLUMNS

from .counties import Counties, national_counties, sample_counties
from .model import LATE_COLUMNS, LATE_FROM, MEASURES, Panel, build_panel, type_name
from .slips import EVENT_SCHEMA, KEY_SCHEMA, events, plant
from .writers import Style, census_table, returns_table, write_national_csv, write_table

SLIP_RATE = {"sample": 0.025, "national": 0.01}
ART_AREAS = ("music_room_area_m2", "art_room_area_m2")


@dataclass
class GenerateSummary:
    counties: int = 0
    schools_per_year: dict[int, int] = field(default_factory=dict)
    files_written: int = 0
    slips_planted: int = 0
    events: int = 0
    shapes: dict[str, int] = field(default_factory=dict)  # census file shape label -> files

    def text(self) -> str:
        years = sorted(self.schools_per_year)
        per_year = ", ".join(f"{y}: {self.schools_per_year[y]}" for y in years)
        return (
            f"{self.counties} counties, {self.files_written} files, {self.slips_planted} planted slips, "
            f"{self.events} events; schools per year: {per_year}"
        )


def census_frame(p: Panel, sub: dict[str, np.ndarray], yi: int, idx: np.ndarray) -> pl.DataFrame:
    """One year's rows for the schools `idx` (English names, English enum codes, NaN → null)."""
    year = int(p.years[yi])
    cols: dict[str, object] = {
        "school_code": p.code[idx],
        "school_name": p.name[idx],
        "county_code": p.counties.code[p.county[idx]],
        "county_name": p.counties.name[p.county[idx]],
        "school_type": type_name(p.stype[idx]),
        "ownership": np.where(p.private[idx], "private", "public"),
        "authority": np.array(["county", "prefecture", "province"])[p.authority[idx]],
        "urban_rural": np.array(["urban", "urban", "town", "town", "town", "rural", "rural"])[
            np.searchsorted([111, 112, 121, 122, 123, 210, 220], p.ur_code[idx])
        ],
        "urban_rural_code": p.ur_code[idx],
        "year": np.full(len(idx), year),
    }
    for m in MEASURES:
        if year < LATE_FROM and m in LATE_COLUMNS:
            continue  # older census forms did not ask for these
        cols[m] = pl.Series(m, sub[m][idx, yi], dtype=pl.Float64).fill_nan(None)
    return pl.DataFrame(cols)


# ------------------------------------------------------------------ county returns (spec §3)
# item -> (met range, failed range); bool items are simply True/False.
_RATE_ITEMS = {
    "special_school_funding_per_student": ((6000, 8500), (4200, 5900)),
    "teacher_pay_ratio": ((1.0, 1.12), (0.86, 0.99)),
    "training_completion_rate": ((100, 100), (88, 99.5)),
    "exchange_rate": ((10, 18), (5, 9.8)),
    "backbone_exchange_share": ((20, 35), (10, 19.5)),
    "certified_teacher_rate": ((100, 100), (96, 99.8)),
    "nearby_enrollment_primary_rate": ((100, 100), (95, 99.8)),
    "nearby_enrollment_junior_rate": ((95, 100), (88, 94.8)),
    "quota_allocation_rate": ((50, 85), (30, 49.5)),
    "migrant_public_rate": ((85, 98), (70, 84.5)),
    "junior_retention_rate": ((96, 99.6), (90, 94.8)),
    "disabled_enrollment_rate": ((95, 99.5), (85, 94.8)),
    "training_budget_share": ((5, 8), (2, 4.8)),
    "monitoring_between_school_rate": ((0.05, 0.14), (0.16, 0.26)),  # a share, lower is better
    "social_recognition_rate": ((86, 97), (72, 84.5)),
}
_DECIMALS = {"teacher_pay_ratio": 2, "monitoring_between_school_rate": 3, "special_school_funding_per_student": 0}


def returns_frame(c: Counties, year: int, rng: np.random.Generator) -> pl.DataFrame:
    """One row per county that files a return this year; quality counties meet every item."""
    idx = np.flatnonzero(c.returns_from <= year)
    n = len(idx)
    quality = c.quality_from[idx] <= year
    p_met = min(0.9, 0.5 + 0.05 * (year - 2017))
    cols: dict[str, object] = {"county_code": c.code[idx], "county_name": c.name[idx], "year": np.full(n, year)}
    for col in RETURN_COLUMNS[3:]:
        met = quality | (rng.random(n) < p_met)
        if col.kind == "bool":
            vals = pl.Series(col.name, met, dtype=pl.Boolean)
        else:
            (a, b), (fa, fb) = _RATE_ITEMS[col.name]
            v = np.where(met, rng.uniform(a, b, n), rng.uniform(fa, fb, n))
            vals = pl.Series(col.name, np.round(v, _DECIMALS.get(col.name, 1)))
        gap = (rng.random(n) < c.returns_gaps[idx]) & ~quality
        cols[col.name] = pl.select(pl.when(pl.Series(gap)).then(None).otherwise(vals)).to_series().alias(col.name)
    return pl.DataFrame(cols)


# Shapes of the yearly return files (years before 2017 have none: the method did not exist).
_RETURN_STYLES = {
    2017: (Style("csv", "utf-8", "en"), ("是", "否"), "all"),
    2018: (Style("xlsx", headers="zh", sheets=("县",)), ("是", "否"), "all"),
    2019: (Style("csv", "gb18030", "zh", title=True), ("1", "0"), "all"),
    2020: (Style("csv", "utf-8-sig", "zh"), ("true", "false"), "county"),
    2021: (Style("xlsx", headers="zh_loose", sheets=("Sheet1",)), ("是", "否"), "all"),
    2022: (Style("csv", "utf-8", "en", extra=True), ("yes", "no"), "all"),
    2023: (Style("xlsx", headers="zh", sheets=("说明", "县")), ("是", "否"), "all"),
    2024: (Style("csv", "utf-8-sig", "zh_loose"), ("是", "否"), "all"),
}


# ------------------------------------------------------------------ sample census file shapes
_BASE_STYLES = (
    Style("csv", "utf-8", "en"),
    Style("csv", "utf-8-sig", "zh", thousands=True, total=True),
    Style("csv", "gb18030", "zh", title=True, ur_code=True),
    Style("xlsx", headers="zh_loose", shuffle=True, extra=True, sheets=("学校",)),
    Style("xlsx", headers="en", enums="en", title=True, sheets=("说明", "schools")),
    Style("csv", "utf-8", "zh_loose", shuffle=True, enums="mixed", ur_code=True, na_zero=True),
)


def _style_for(ci: int, year: int, rng: np.random.Generator) -> Style:
    base = _BASE_STYLES[(ci + year) % len(_BASE_STYLES)]
    s = Style(**base.__dict__)
    if s.fmt == "csv" and not s.total:
        s.total = rng.random() < 0.25
    if s.fmt == "csv" and not s.thousands:
        s.thousands = rng.random() < 0.25
    s.extra = s.extra or rng.random() < 0.15
    s.drop_optional = rng.random() < 0.25
    s.na_zero = s.na_zero or rng.random() < 0.3
    return s


def _title(style: Style, county: str, year: int) -> str | None:
    if not style.title:
        return None
    return f"{year}年教育事业统计 学校基本情况" if style.fmt == "csv" else f"{county}{year}年学校基本情况统计表"


def _write_sample(out: Path, p: Panel, sub, rng: np.random.Generator, summary: GenerateSummary) -> None:
    c = p.counties
    for yi, year in enumerate(p.years):
        for ci in range(len(c)):
            idx = np.flatnonzero((p.county == ci) & p.active[:, yi])
            if not len(idx):
                continue
            frame = census_frame(p, sub, yi, idx)
            if year == LATE_FROM and ci % 2 == 1:
                frame = frame.drop(ART_AREAS)  # some counties' 2017 forms had the rooms but not their areas
            style = _style_for(ci, int(year), rng)
            if c.code[ci] == "330822" and year == 2019:
                style = Style("xlsx", headers="zh", sheets=("学校",), numeric_codes=True)
            # 兰考 2021 came in two files: county-town schools and village schools.
            parts = [frame]
            if c.code[ci] == "410225" and year == 2021:
                parts = [frame.filter(pl.col("urban_rural") != "rural"), frame.filter(pl.col("urban_rural") == "rural")]
            for k, part in enumerate(parts):
                suffix = f"_part{k + 1}" if len(parts) > 1 else ""
                path = out / "census" / str(year) / f"{c.code[ci]}_{c.slug[ci]}{suffix}.{style.fmt}"
                header, rows = census_table(part, style, int(year), rng)
                write_table(path, header, rows, style, _title(style, c.name[ci], int(year)))
                summary.files_written += 1
                summary.shapes[style.label()] = summary.shapes.get(style.label(), 0) + 1

    for year, (style, bools, split) in _RETURN_STYLES.items():
        if year not in p.years:
            continue
        frame = returns_frame(c, year, rng)
        if not frame.height:
            continue
        groups = [frame] if split == "all" else [frame.slice(i, 1) for i in range(frame.height)]
        for g in groups:
            stem = f"{g['county_code'][0]}_return" if split == "county" else f"county_returns_{year}"
            path = out / "county_returns" / str(year) / f"{stem}.{style.fmt}"
            header, rows = returns_table(g, style, bools, rng)
            title = f"{year}年县域义务教育优质均衡发展自评表" if style.title else None
            write_table(path, header, rows, style, title)
            summary.files_written += 1


def _write_national(out: Path, p: Panel, sub, rng: np.random.Generator, summary: GenerateSummary) -> None:
    """One plain UTF-8 CSV per province and year (vectorised: polars writes the rows)."""
    prov = p.counties.province[p.county]
    for yi, year in enumerate(p.years):
        act = p.active[:, yi]
        for pc in np.unique(prov):
            idx = np.flatnonzero(act & (prov == pc))
            if len(idx):
                write_national_csv(out / "census" / str(year) / f"{pc}.csv", census_frame(p, sub, yi, idx))
                summary.files_written += 1


def generate(
    out_dir: Path,
    *,
    seed: int = 20241,
    scale: str = "sample",
    years: range = range(2015, 2025),
    formats: str = "mixed",
    n_counties: int | None = None,
) -> GenerateSummary:
    """Write a census (and county returns, answer key, events) under `out_dir`; same seed, same bytes.

    `scale="sample"`: six counties modelled on the seed reports, files in mixed real shapes
    (`formats="csv"` writes them all as plain UTF-8 CSV instead). `scale="national"`: about 2,800
    counties (`n_counties` to make fewer, e.g. for a quick test), one plain CSV per province and year.
    """
    if scale not in SLIP_RATE:
        raise ValueError(f"scale must be sample or national, not {scale!r}")
    if formats not in ("mixed", "csv"):
        raise ValueError(f"formats must be mixed or csv, not {formats!r}")
    out = Path(out_dir)
    for sub_dir in ("census", "county_returns"):
        if (out / sub_dir).exists():
            shutil.rmtree(out / sub_dir)  # a stale year from an earlier run would otherwise be loaded
    out.mkdir(parents=True, exist_ok=True)
    years_arr = np.array(list(years), dtype=np.int64)
    ss = np.random.SeedSequence(seed)
    county_seed, returns_seed = ss.spawn(2)
    county_rng = np.random.default_rng(county_seed)
    summary = GenerateSummary()
    keys, evs = [], []

    if scale == "sample":
        counties = sample_counties()
        chunks = [np.arange(len(counties))]
    else:
        counties = national_counties(county_rng, n_counties or 2_800)
        # Simulate a province at a time: memory stays at one province's (schools × years) arrays.
        chunks = [np.flatnonzero(counties.province == pc) for pc in np.unique(counties.province)]
    summary.counties = len(counties)

    chunk_seeds = ss.spawn(len(chunks))
    for chunk, cs in zip(chunks, chunk_seeds):
        rng = np.random.default_rng(cs)
        p = build_panel(counties.take(chunk), years_arr, rng)
        sub, key = plant(p, rng, SLIP_RATE[scale])
        keys.append(key)
        evs.append(events(p))
        for yi, year in enumerate(years_arr):
            n = int(p.active[:, yi].sum())
            summary.schools_per_year[int(year)] = summary.schools_per_year.get(int(year), 0) + n
        if scale == "sample" and formats == "mixed":
            _write_sample(out, p, sub, rng, summary)
        else:
            _write_national(out, p, sub, rng, summary)

    if scale == "national" or formats == "csv":
        rng = np.random.default_rng(returns_seed)
        for year in years_arr:
            if year >= LATE_FROM:
                frame = returns_frame(counties, int(year), rng)
                path = out / "county_returns" / str(year) / "county_returns.csv"
                path.parent.mkdir(parents=True, exist_ok=True)
                frame.write_csv(path)
                summary.files_written += 1

    key = pl.concat([pl.DataFrame(schema=KEY_SCHEMA), *keys]).sort("year", "county_code", "school_code", "kind", "field")
    ev = pl.concat([pl.DataFrame(schema=EVENT_SCHEMA), *evs]).sort("year", "county_code", "school_code", "kind", "detail")
    key.write_csv(out / "answer_key.csv")
    ev.write_csv(out / "events.csv")
    summary.slips_planted = key.height
    summary.events = ev.height
    return summary
