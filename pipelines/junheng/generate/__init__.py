"""Synthetic school census for junheng: believable counties, ten years, planted slips, real file shapes.

The model, in the order it is built (`model.build_panel`, all numpy over schools × years):

- **Counties** (`counties.py`): six hand-made ones after the seed reports (兰考 ~250 schools / ~120,000
  pupils; 祁门, 通道, 常山, 泗县 of 35–60 schools; small 石台), or ~2,800 synthetic ones over 31 provinces.
  Each has a wealth level (facility levels), a spread (how unequal its schools are, shrinking over the
  years), and optionally a year from which every school is lifted over the 2017 high-quality standards.
- **Schools**: the county's mix of 小学 / 教学点 / 初中 / 九年一贯制 / 完全中学 / 十二年一贯制 (private) / 特教,
  an urban/rural code, ownership and who runs them (a second 完全中学 is prefecture-run, the odd 附属小学
  province-run). Village schools close (most merged into a town school, which takes their pupils); new
  urban schools open and fill up over three years. Codes are 10 digits, stable, some with a leading 0.
- **Pupils** drift out of villages (−5 %/yr) towards towns and the county seat, with a small random walk.
  Classes follow pupils at a class size that shrinks over time in the city; teachers follow pupils and
  classes (villages have fewer pupils per teacher); qualification, backbone and PE/art shares rise.
- **Facilities** are a per-pupil level (rising 3.5–13 %/yr depending on the item) × the school's
  weighted pupils × a per-school lognormal multiplier (the county's spread) × a little yearly noise. A
  few schools get a real step change (a new building: area ×2). Per-pupil magnitudes: teaching area
  3–8 m², sports 4–15 m², equipment 1,000–4,000 yuan (written in 万元), books 20–45, computers 8–15 per
  100, teachers ~1/17 pupils: basic-balance composite CVs come out at 0.15–0.5.
- **Slips** (`slips.py`) are planted on a copy, ~2 % of school-years in the sample, one per school-year and
  never on a school-year with a real event; `answer_key.csv` lists them, `events.csv` the real events.
- **Files** (`writers.py`): sample mode writes one file per county and year in varied real shapes and the
  county returns; national mode writes one plain UTF-8 CSV per province and year through polars.

Everything comes from one `numpy.random.SeedSequence(seed)`: the same seed writes the same bytes.
"""

from .core import GenerateSummary, generate

__all__ = ["GenerateSummary", "generate"]
