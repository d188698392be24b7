"""A problem that refuses a year (spec §4): it names the file, the spreadsheet row and the column."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    row: int | None  # spreadsheet row (spec §1); None for a problem of the whole file
    column: str | None  # the header as written in the file, or the contract name when it is missing
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", 第{self.row}行 row {self.row}"
        if self.column:
            where += f", 列 column “{self.column}”"
        return f"{where}: {self.message}"

    def to_dict(self) -> dict:
        return asdict(self)


class YearRefused(Exception):
    """Every problem of one year; raised before anything of that year is written."""

    def __init__(self, year: int, problems: list[Problem]):
        self.year = year
        self.problems = sorted(problems, key=lambda p: (p.file, p.row or 0, p.column or ""))
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{year} 年数据被拒绝 / year {year} refused: {len(self.problems)} problem(s)\n{lines}")
