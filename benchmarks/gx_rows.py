"""Can Great Expectations return the failing rows itself at national scale? (issue 14)

    python benchmarks/gx_rows.py WAREHOUSE [--year 2024]

On one national year of a built warehouse: the seconds to build the quality frames (pandas, defs/quality/frames.py),
to validate them with GX at `BASIC` (counts; the failing rows from the row mask `failing_index`, checked against
GX's counts: today's design), and at `COMPLETE` with `unexpected_index_column_names` (GX's own failing rows, no
second evaluator). Both must give the same failing rows. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import duckdb


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("warehouse")
    ap.add_argument("--year", type=int, default=2024)
    args = ap.parse_args()
    from junheng.defs.quality import flags as FL
    from junheng.defs.quality import frames as F
    from junheng.defs.quality.gx_run import _gx, run_suites
    from junheng.defs.quality.rules import load_rules

    _gx()  # the import is not part of the validation
    rules = load_rules()
    con = duckdb.connect(args.warehouse, read_only=True)
    out: dict = {"year": args.year}
    t = time.perf_counter()
    cur, prev, prev2 = (FL.read_census(con, y) for y in (args.year, args.year - 1, args.year - 2))
    out["read_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    cur, prev, prev2 = (F.prepare_census(x) for x in (cur, prev, prev2))
    frames = FL.current_year_frames(cur, rules)
    frames["yoy"] = F.yoy_frame(cur, prev, prev2, rules, set())
    frames["returns"] = F.returns_frame(FL.read_returns(con, args.year), rules)
    checks = F.build_checks(rules)
    for name, df in frames.items():
        F.ensure_columns(df, checks, name)
    out["frames_s"] = round(time.perf_counter() - t, 2)
    out["frame_rows"] = {k: len(v) for k, v in frames.items()}
    rows = {}
    for fmt in ("BASIC", "COMPLETE"):
        t = time.perf_counter()
        res = run_suites(frames, rules, result_format=fmt)
        out[f"gx_{fmt.lower()}_s"] = round(time.perf_counter() - t, 2)
        rows[fmt] = {(f.check.table, f.check.column, f.check.rule_id, f.check.field, f.check.min_value,
                      f.check.max_value): sorted(f.index) for f in res.failures}
    out["failing_rows"] = sum(len(v) for v in rows["BASIC"].values())
    out["same_rows"] = rows["BASIC"] == rows["COMPLETE"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
