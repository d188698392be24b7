#!/usr/bin/env python
"""Compare the `warning` flags of a warehouse with the generator's answer key, school-year by school-year.

    python scripts/evaluate_flags.py --warehouse data/junheng.duckdb --answer-key data/answer_key.csv

- recall: share of the slipped school-years (answer key) that carry at least one `warning` flag;
- false-flag rate: share of clean school-years (every census school-year not in the answer key; the real events of
  data/events.csv are clean) that carry at least one `warning` flag.
Only school flags count (county-return flags have no school). The warehouse is opened read-only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb
import pandas as pd


def evaluate(warehouse: Path, answer_key: Path, events: Path | None = None) -> dict:
    key = pd.read_csv(answer_key, dtype={"county_code": str, "school_code": str})
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        census = conn.execute("SELECT DISTINCT year, school_code FROM raw.census_schools").df()
        flags = conn.execute(
            "SELECT year, school_code, rule_id, field FROM marts.submission_flags "
            "WHERE severity = 'warning' AND school_code IS NOT NULL"
        ).df()
    census["year"] = census["year"].astype(int)
    flags["year"] = flags["year"].astype(int)
    years = sorted(census["year"].unique())
    key = key[key["year"].isin(years)]
    slipped = set(zip(key["year"].astype(int), key["school_code"]))
    all_sy = set(zip(census["year"], census["school_code"]))
    clean = all_sy - slipped
    flagged = set(zip(flags["year"], flags["school_code"]))
    hit = slipped & flagged
    false = clean & flagged
    out = {
        "years": f"{years[0]}–{years[-1]}" if years else "",
        "school_years": len(all_sy),
        "slipped": len(slipped),
        "slipped_flagged": len(hit),
        "recall": len(hit) / len(slipped) if slipped else float("nan"),
        "clean": len(clean),
        "clean_flagged": len(false),
        "false_flag_rate": len(false) / len(clean) if clean else float("nan"),
    }
    k = key.assign(hit=[(y, s) in flagged for y, s in zip(key["year"].astype(int), key["school_code"])])
    out["recall_by_kind"] = k.groupby("kind")["hit"].agg(["sum", "count"]).to_dict("index")
    out["missed"] = k[~k["hit"]]
    ff = flags[[(y, s) in false for y, s in zip(flags["year"], flags["school_code"])]]
    out["false_by_rule"] = ff.groupby("rule_id").size().sort_values(ascending=False).to_dict()
    out["false_flags"] = ff
    if events is not None and events.exists():
        ev = pd.read_csv(events, dtype={"county_code": str, "school_code": str})
        ev_sy = set(zip(ev["year"].astype(int), ev["school_code"]))
        out["events_flagged"] = len(ev_sy & flagged & clean)
        out["events"] = len(ev_sy & clean)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warehouse", required=True, type=Path)
    ap.add_argument("--answer-key", required=True, type=Path)
    ap.add_argument("--events", type=Path, default=None, help="data/events.csv (default: beside the answer key)")
    ap.add_argument("--verbose", "-v", action="store_true", help="list missed slips and false flags")
    ap.add_argument("--min-recall", type=float, default=0.95)
    ap.add_argument("--max-false", type=float, default=0.02)
    a = ap.parse_args(argv)
    events = a.events or a.answer_key.with_name("events.csv")
    r = evaluate(a.warehouse, a.answer_key, events)
    print(f"years {r['years']}: {r['school_years']} school-years, {r['slipped']} slipped, {r['clean']} clean")
    print(f"recall           {r['recall']:.1%}  ({r['slipped_flagged']}/{r['slipped']} slipped school-years with a warning)")
    print(f"false-flag rate  {r['false_flag_rate']:.2%}  ({r['clean_flagged']}/{r['clean']} clean school-years with a warning)")
    if "events" in r:
        print(f"real events with a warning: {r['events_flagged']}/{r['events']}")
    print("recall by kind: " + ", ".join(f"{k} {v['sum']}/{v['count']}" for k, v in r["recall_by_kind"].items()))
    if r["false_by_rule"]:
        print("false flags by rule: " + ", ".join(f"{k} {v}" for k, v in r["false_by_rule"].items()))
    if a.verbose:
        with pd.option_context("display.width", 200, "display.max_rows", 200):
            if len(r["missed"]):
                print("\nmissed:\n" + r["missed"].to_string(index=False))
            if len(r["false_flags"]):
                print("\nfalse flags:\n" + r["false_flags"].to_string(index=False))
    ok = r["recall"] >= a.min_recall and r["false_flag_rate"] <= a.max_false
    print("targets (recall ≥ {:.0%}, false-flag ≤ {:.0%}): {}".format(a.min_recall, a.max_false, "met" if ok else "NOT met"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
