"""How fast does Great Expectations return the failing rows itself at national scale? (issue 14)

    python benchmarks/gx_rows.py WAREHOUSE [--year 2024]

On one year of a warehouse built by `junheng run` (it holds the dbt views the flags read and the flags of the years
before): the seconds to compute the relations the rules judge in DuckDB (defs/quality/values_sql.py) and to fetch
their judged columns as pandas, then GX on the same frames with four result formats:

- `basic`: counts only (what the old design asked GX for; its rows came from a pandas mask, now deleted);
- `complete_flat` (the pipeline's): COMPLETE, `row_id` as the frames' index, `exclude_unexpected_values`, no index
  query: one flat list of failing row ids per expectation;
- `complete_index`: COMPLETE, `row_id` as the index, one dict per failing row;
- `complete_column`: COMPLETE with `unexpected_index_column_names: [row_id]` on a column (the earlier measurement).

Every COMPLETE variant must return the same failing rows, and as many as GX counts in `basic`. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import duckdb

FORMATS = {
    "basic": {"result_format": "BASIC"},
    "complete_flat": None,  # gx_run.RESULT_FORMAT
    "complete_index": {"result_format": "COMPLETE", "unexpected_index_column_names": ["row_id"],
                       "return_unexpected_index_query": False},
    "complete_column": {"result_format": "COMPLETE", "unexpected_index_column_names": ["row_id"]},
}


def validate(gx, suites, frames, fmt: dict, by_column: bool) -> tuple[float, dict, dict]:
    """(seconds, check key -> sorted failing row ids, check key -> GX's unexpected_count)."""
    ctx = gx.get_context(mode="ephemeral")
    ds = ctx.data_sources.add_pandas("bench")
    rows, counts, seconds = {}, {}, 0.0
    for table, df in frames.items():
        if table not in suites or not suites[table].expectations:
            continue
        batch = df.reset_index() if by_column else df
        bd = ds.add_dataframe_asset(table).add_batch_definition_whole_dataframe("whole")
        vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=table, data=bd,
                                                                    suite=ctx.suites.add(suites[table])))
        t = time.perf_counter()
        res = vd.run(batch_parameters={"dataframe": batch}, result_format=dict(fmt))
        seconds += time.perf_counter() - t
        for er in res.results:
            key = er.expectation_config.meta["check"]
            counts[key] = int(er.result.get("unexpected_count") or 0)
            if fmt["result_format"] == "COMPLETE":
                ids = []
                for r in er.result.get("unexpected_index_list") or []:
                    v = r["row_id"] if isinstance(r, dict) else r
                    ids += [int(i) for i in (v if isinstance(v, list) else [v])]
                rows[key] = sorted(ids)
    return seconds, rows, counts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("warehouse")
    ap.add_argument("--year", type=int, default=2024)
    args = ap.parse_args()
    from junheng.defs.quality import flags as FL
    from junheng.defs.quality.checks import TABLES, build_checks
    from junheng.defs.quality.gx_run import RESULT_FORMAT, _gx, build_suites
    from junheng.defs.quality.rules import load_rules

    gx = _gx()  # the import is not part of the validation
    rules = load_rules()
    checks = build_checks(rules)
    suites = build_suites(rules)
    con = duckdb.connect(args.warehouse, read_only=True)
    out: dict = {"year": args.year}
    t = time.perf_counter()
    tables = FL._create_relations(con, args.year, rules, checks)
    out["sql_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    frames = {table: FL._gx_frame(con, table, checks) for table in TABLES if table in tables}
    out["fetch_s"] = round(time.perf_counter() - t, 2)
    out["gx_rows_in"] = {k: len(v) for k, v in frames.items()}
    results = {}
    for name, fmt in FORMATS.items():
        s, rows, counts = validate(gx, suites, frames, fmt or RESULT_FORMAT, by_column=name == "complete_column")
        out[f"gx_{name}_s"] = round(s, 2)
        results[name] = (rows, counts)
    basic_counts = results["basic"][1]
    out["failing_rows"] = sum(basic_counts.values())
    out["same_rows"] = all(results[n][0] == results["complete_flat"][0] for n in FORMATS if n.startswith("complete"))
    out["rows_equal_counts"] = all(len(ids) == basic_counts[k] for k, ids in results["complete_flat"][0].items())
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
