"""County profiles: the hand-made sample counties and the synthetic national set.

A profile fixes what differs between counties and drives everything the model draws:
size, wealth (facility levels), spread (how unequal its schools are), how fast that spread
shrinks, whether and when it reaches the 2017 high-quality standards, and how it files its
yearly county return.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .names import COUNTY_SYLLABLES, PROVINCES

# School types in model order; index into this tuple is the type id used in arrays.
TYPES = ("primary", "teaching_point", "junior", "nine_year", "complete_secondary", "twelve_year", "special")
T_PRI, T_TP, T_JUN, T_NINE, T_CS, T_TWELVE, T_SPE = range(7)

NEVER = 9999


@dataclass
class Counties:
    code: np.ndarray  # str, 6 digits
    name: np.ndarray  # str
    province: np.ndarray  # str, 2 digits
    slug: np.ndarray  # str, ascii file-name stem
    type_counts: np.ndarray  # int (n, 7): schools of each type in 2015
    students: np.ndarray  # compulsory students (primary + junior) in 2015
    wealth: np.ndarray  # multiplier on facility levels, ~0.7..1.4
    spread: np.ndarray  # lognormal sigma of school-to-school differences, ~0.25..0.7
    converge: np.ndarray  # yearly relative shrink of that spread
    urbanise: np.ndarray  # multiplier on the village→town drift
    quality_from: np.ndarray  # first year every school is brought up to the 2017 standards (NEVER = not)
    returns_from: np.ndarray  # first year with a county return (NEVER = never files one)
    returns_gaps: np.ndarray  # share of return cells left empty ("no data")
    province_run: np.ndarray  # int: how many urban primaries are run by the province (附属小学)

    def __len__(self) -> int:
        return len(self.code)

    def take(self, idx: np.ndarray) -> "Counties":
        return Counties(**{k: getattr(self, k)[idx] for k in self.__dataclass_fields__})


# name, code, slug, type counts (小学, 教学点, 初中, 九年, 完中, 十二年, 特教), students 2015, wealth, spread,
# converge, urbanise, quality_from, returns_from, returns_gaps, province-run primaries.
# Sizes follow the seed reports (兰考 255 schools / 122,794 students; 祁门 36 schools + 38 teaching points /
# 11,705; 常山 28 小学 + 7 初中 + 1 特教 / 24,331; 通道 26 + 11); 泗县 is shrunk to fit the sample.
_SAMPLE = (
    ("兰考县", "410225", "lankao", (175, 32, 36, 2, 2, 1, 1), 118_000, 0.80, 0.55, 0.035, 1.2, NEVER, 2017, 0.00, 0),
    ("祁门县", "341024", "qimen", (16, 14, 8, 8, 1, 1, 1), 11_700, 1.10, 0.42, 0.050, 0.8, 2022, 2017, 0.00, 1),
    ("通道侗族自治县", "431230", "tongdao", (22, 6, 8, 2, 1, 0, 1), 21_000, 0.90, 0.62, 0.020, 1.0, NEVER, 2018, 0.25, 0),
    ("常山县", "330822", "changshan", (26, 1, 7, 1, 1, 0, 1), 24_300, 1.35, 0.30, 0.060, 1.0, 2020, 2017, 0.00, 0),
    ("泗县", "341324", "sixian", (34, 8, 10, 4, 2, 1, 1), 40_000, 0.85, 0.55, 0.045, 1.3, 2024, 2018, 0.05, 0),
    ("石台县", "341722", "shitai", (8, 4, 2, 2, 1, 0, 1), 5_500, 1.00, 0.38, 0.030, 0.7, NEVER, NEVER, 0.00, 0),
)


def sample_counties() -> Counties:
    rows = list(zip(*_SAMPLE))
    return Counties(
        name=np.array(rows[0]),
        code=np.array(rows[1]),
        province=np.array([c[:2] for c in rows[1]]),
        slug=np.array(rows[2]),
        type_counts=np.array(rows[3], dtype=np.int64),
        students=np.array(rows[4], dtype=np.float64),
        wealth=np.array(rows[5]),
        spread=np.array(rows[6]),
        converge=np.array(rows[7]),
        urbanise=np.array(rows[8]),
        quality_from=np.array(rows[9], dtype=np.int64),
        returns_from=np.array(rows[10], dtype=np.int64),
        returns_gaps=np.array(rows[11]),
        province_run=np.array(rows[12], dtype=np.int64),
    )


def national_counties(rng: np.random.Generator, n: int = 2_800) -> Counties:
    """About 2,800 counties spread over the 31 provinces, ~71 schools each on average."""
    prov_codes = np.array([p for p, _ in PROVINCES])
    # Bigger provinces hold more counties; weights are rough, the total is what matters.
    weights = rng.gamma(3.0, 1.0, len(prov_codes))
    prov = np.sort(rng.choice(len(prov_codes), size=n, p=weights / weights.sum()))
    # County code: province + prefecture (01..) + county (21..), unique by construction.
    rank = np.arange(n) - np.searchsorted(prov, prov)  # position inside its province
    pref = 1 + rank // 12
    cty = 21 + rank % 12
    code = np.char.add(np.char.add(prov_codes[prov], np.char.zfill(pref.astype(str), 2)), cty.astype(str))

    syl = np.array(COUNTY_SYLLABLES)
    a, b = rng.integers(0, len(syl), n), rng.integers(0, len(syl), n)
    name = np.char.add(np.char.add(syl[a], syl[b]), "县")

    n_schools = np.clip(rng.lognormal(np.log(64), 0.55, n), 8, 400).round().astype(np.int64)
    frac = np.array([0.56, 0.17, 0.14, 0.08])  # 小学, 教学点, 初中, 九年 of the rest
    cs = 1 + (n_schools >= 150)
    twelve = ((n_schools >= 30) & (rng.random(n) < 0.35)).astype(np.int64)
    special = (n_schools >= 15).astype(np.int64)
    rest = n_schools - cs - twelve - special
    counts = np.floor(rest[:, None] * frac[None, :]).astype(np.int64)
    counts[:, 0] += rest - counts.sum(axis=1)
    type_counts = np.column_stack([counts, cs, twelve, special])

    wealth = np.clip(rng.lognormal(0.0, 0.22, n), 0.6, 1.6)
    quality = rng.random(n) < 0.3
    return Counties(
        code=code,
        name=name,
        province=prov_codes[prov],
        slug=code.copy(),
        type_counts=type_counts,
        students=n_schools * rng.lognormal(np.log(430), 0.35, n),
        wealth=wealth,
        spread=rng.uniform(0.25, 0.7, n),
        converge=rng.uniform(0.0, 0.06, n),
        urbanise=rng.uniform(0.6, 1.4, n),
        quality_from=np.where(quality, rng.integers(2019, 2025, n), NEVER),
        returns_from=np.where(rng.random(n) < 0.9, rng.integers(2017, 2020, n), NEVER),
        returns_gaps=np.where(rng.random(n) < 0.2, 0.15, 0.0),
        province_run=(rng.random(n) < 0.02).astype(np.int64),
    )
