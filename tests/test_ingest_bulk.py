"""The bulk CSV split (files without quotes) gives exactly the cells and row numbers csv.reader gives."""

from __future__ import annotations

import csv
import io

import pytest

from junheng.lib.ingest.files import _frame_from_rows, _read_csv


def reference(text: str) -> list[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, start = [], 1
    for cells in reader:
        rows.append((start, [c.strip() for c in cells]))
        start = reader.line_num + 1
    return rows


CASES = [
    "a,b,c\n1,2,3\n",
    "a,b,c\r\n1,2,3\r\n",
    "a,b,c\r1,2,3\r",
    "a,b,c\n1,2,3",  # no final line break
    "title only\n\na,b,c\n 1 , 2,3\n,,\n4\n5,6,7,8,9\n合计,,\n\n",  # ragged, empty, padded cells
    "学校,　代码\u3000,x\xa0\n甲,\t0001 ,\n",  # full-width space, no-break space, tab
    "a,b\n\n\n1,2\n",
    "a,b\r\n\r\n1,2\n3,4\r5,6",
]


@pytest.mark.parametrize("text", CASES)
def test_bulk_split_matches_csv_module(text):
    fast = _read_csv(text.encode("utf-8"), "x.csv")
    assert '"' not in text
    assert fast.rows() == _frame_from_rows(reference(text)).rows()


def test_quoted_file_keeps_physical_row_numbers():
    text = 'a,b\n"x\ny",1\n2,"3,4"\n'
    got = _read_csv(text.encode("utf-8"), "x.csv").rows()
    assert got == [(1, "a", "b"), (2, "x\ny", "1"), (4, "2", "3,4")]
