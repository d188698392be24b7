"""Plausibility checks of the yearly submissions (issue 4): rules in expectations/rules.yml, the values they judge in
DuckDB SQL (values_sql.py) over the dbt views, Great Expectations as the evaluator (gx_run.py), flags in
marts.submission_flags. The lead adds `quality_assets` and `quality_checks` to the Definitions."""

from junheng.defs.quality.assets import FLAGS_KEY, quality_assets, quality_checks, write_year_flags
from junheng.defs.quality.flags import FLAG_COLUMNS, compute_flags

__all__ = ["FLAGS_KEY", "FLAG_COLUMNS", "compute_flags", "quality_assets", "quality_checks", "write_year_flags"]
