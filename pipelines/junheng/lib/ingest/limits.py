"""How much one submitted file may hold: the bounds that keep a load's memory proportional to the data.

Every limit is checked before the large thing it bounds is read or built, and a file over a limit refuses its year
with the limit named (spec §4: a file that cannot be read). The defaults are far above any real file: a national
year is about 200,000 schools, 40-odd columns, ~30 MB of CSV; a county's file is a few hundred rows.

| environment variable        | default        | what it bounds                                                        |
|-----------------------------|----------------|-----------------------------------------------------------------------|
| JUNHENG_MAX_FILE_BYTES      | 2 GiB          | one file's size on disk (checked with stat before it is opened)       |
| JUNHENG_MAX_XLSX_BYTES      | 200 MiB        | an XLSX's members decompressed, summed (from the zip directory before |
|                             |                | reading, then counted while inflating in 1 MiB chunks)                |
| JUNHENG_MAX_LINE_BYTES      | 1 MiB          | one physical line of a CSV / text file (in UTF-8 bytes once decoded)  |
| JUNHENG_MAX_ROWS            | 2,000,000      | rows (physical lines / spreadsheet rows) of one file                  |
| JUNHENG_MAX_COLUMNS         | 16,384         | cells of one row (Excel's own maximum, column XFD)                    |
| JUNHENG_MAX_CELLS           | 50,000,000     | rows × columns of one file's grid (a ragged file is padded to its     |
|                             |                | widest row: this keeps one wide row from multiplying every other row) |

Values are whole numbers of bytes / rows / cells (``1_000_000`` and ``1e6`` are accepted); an unset or empty variable
means the default. The limits are read when a year is read, so a test or an operator can set them per process.
A value that is not a positive number is a usage error (ValueError naming the variable).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 2 * 1024 * MiB
    max_xlsx_bytes: int = 200 * MiB
    max_line_bytes: int = 1 * MiB
    max_rows: int = 2_000_000
    max_columns: int = 16_384
    max_cells: int = 50_000_000

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Limits":
        env = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            var = "JUNHENG_" + f.name.upper()
            text = (env.get(var) or "").strip().replace("_", "")
            if not text:
                continue
            try:
                number = float(text)
            except ValueError:
                number = -1.0
            if not (number >= 1 and number == int(number)):
                raise ValueError(f"{var} must be a positive whole number, got {env.get(var)!r}")
            values[f.name] = int(number)
        return cls(**values)


def env_name(field_name: str) -> str:
    return "JUNHENG_" + field_name.upper()


def human_bytes(n: int) -> str:
    for unit, size in (("GiB", 1024 * MiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} B"
