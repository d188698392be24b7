"""Reading and validating the yearly census and county-return files (spec: census-format.md)."""

from junheng.lib.ingest.problems import Problem, YearRefused
from junheng.lib.ingest.submission import YearSubmission, available_years, read_year, write_year

__all__ = ["Problem", "YearRefused", "YearSubmission", "available_years", "read_year", "write_year"]
