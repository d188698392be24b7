"""Great Expectations 1.x: the suites built from rules.yml, run on pandas frames fetched from DuckDB, and Data Docs.

GX is the evaluator of record of every flag: each check of checks.py is one expectation, and GX returns the failing
rows itself (`result_format` COMPLETE with `unexpected_index_column_names` = the relation's `row_id`, which is the
frames' index; `exclude_unexpected_values` keeps the row lists flat, so asking for them costs little more than the
counts). No other code decides whether a row fails.

Why an ephemeral context and suite JSON files, not a file data context:
- the suites are *derived* from `expectations/rules.yml` (the one place thresholds live); a file context would be a
  second, mutable copy that every run rewrites, and Dagster runs several year partitions at once;
- `expectations/suites/*.json` are the same suites written out (`python -m junheng.defs.quality.gx_run --write`) so
  they can be reviewed and diffed; a test fails when they drift from rules.yml;
- each run validates in an ephemeral context (no files besides the Data Docs: with `docs_dir`, one offline site for
  every year, whose contract, layout and pages are described in `data_docs.py`).
GX's SQL datasource on DuckDB is broken upstream, so every frame is a pandas DataFrame (only the judged columns).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pandas as pd

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

from junheng.defs.quality import data_docs  # noqa: E402
from junheng.defs.quality.checks import TABLES, Check, build_checks  # noqa: E402
from junheng.defs.quality.rules import SUITES_DIR, Rule, load_rules  # noqa: E402

SUITE_PREFIX = "junheng_"


# What a validation imports (~4.5 s): great_expectations, its expectations, and the Data Docs renderers.
GX_MODULES = ("great_expectations", "great_expectations.expectations", "great_expectations.core.run_identifier",
              "great_expectations.data_context.types.base", "great_expectations.render.renderer",
              "great_expectations.render.view")
_prefetch: threading.Thread | None = None


def prefetch_gx() -> None:
    """Import GX in a background thread, once per process. A load calls it as its first dbt step starts: that step
    waits on a dbt subprocess for seconds, so the import costs the flags step that follows nothing (a county's load
    spent ~4.5 s of its flags step importing GX). An import that fails here fails again, visibly, in the flags step."""
    global _prefetch
    if _prefetch is None and "great_expectations" not in sys.modules:
        def load() -> None:
            with contextlib.suppress(Exception):
                for name in GX_MODULES:
                    importlib.import_module(name)

        _prefetch = threading.Thread(target=load, name="gx-prefetch", daemon=True)
        _prefetch.start()


def _gx():
    if _prefetch is not None:
        _prefetch.join()  # a started import is finished, not raced
    import great_expectations as gx  # imported lazily (prefetch_gx): ~4.5 s
    from great_expectations.execution_engine import pandas_execution_engine

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    # GX fingerprints every batch under 1e9 bytes by hashing the whole frame (~1 s a national year); nothing here
    # reads the fingerprint (the batch is the frame just fetched). tests/test_quality_rules.py pins the name.
    pandas_execution_engine.HASH_THRESHOLD = 0
    return gx


def build_suites(rules: dict[str, Rule]) -> dict[str, "object"]:
    """table -> gx.ExpectationSuite (one expectation per Check, rule metadata in `meta`)."""
    gx = _gx()
    import great_expectations.expectations as gxe

    gx.get_context(mode="ephemeral")  # suites need an active context
    checks = build_checks(rules)
    suites = {}
    for table in TABLES:
        suite = gx.ExpectationSuite(name=f"{SUITE_PREFIX}{table}", meta={"source": "expectations/rules.yml"})
        for ch in (c for c in checks if c.table == table):
            suite.add_expectation(_expectation(gxe, ch, rules[ch.rule_id]))
        suites[table] = suite
    return suites


def _expectation(gxe, ch: Check, rule: Rule):
    meta = {**ch.meta, "description_en": rule.text("en"), "description_zh": rule.text("zh")}
    field = ("(the row's field)" if (ch.field or "").startswith("@") else f"`{ch.field}`") if ch.field else "—"
    notes = (f"**{ch.rule_id}** ({ch.severity}), field {field}: expected {ch.expected or '—'}.\n\n"
             f"{rule.text('en')}\n\n{rule.text('zh')}")
    kw: dict = {"severity": ch.severity, "meta": meta, "notes": notes}  # GX 1.x expectation severity: warning | info
    if ch.kind == "not_null":
        return gxe.ExpectColumnValuesToNotBeNull(column=ch.column, **kw)
    if ch.kind == "not_in_set":
        return gxe.ExpectColumnValuesToNotBeInSet(column=ch.column, value_set=list(ch.value_set), **kw)
    if ch.kind == "pair_equal":
        return gxe.ExpectColumnPairValuesToBeEqual(column_A=ch.column, column_B=ch.column_b,
                                                   ignore_row_if="either_value_is_missing", **kw)
    if ch.kind != "between":
        raise ValueError(f"{ch.rule_id}: unknown check kind {ch.kind!r}")
    if ch.min_value is not None:
        kw["min_value"] = ch.min_value
        kw["strict_min"] = ch.strict_min
    if ch.max_value is not None:
        kw["max_value"] = ch.max_value
        kw["strict_max"] = ch.strict_max
    return gxe.ExpectColumnValuesToBeBetween(column=ch.column, **kw)


def suite_dicts(rules: dict[str, Rule]) -> dict[str, dict]:
    """The suites as JSON-able dicts without the run-specific ids (what expectations/suites/ holds)."""
    out = {}
    for table, suite in build_suites(rules).items():
        d = suite.to_json_dict()
        d.pop("id", None)
        for e in d.get("expectations", []):
            e.pop("id", None)
        out[table] = d
    return out


def write_suites(rules: dict[str, Rule] | None = None, directory: Path = SUITES_DIR) -> list[Path]:
    rules = rules or load_rules()
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for table, d in suite_dicts(rules).items():
        p = directory / f"{SUITE_PREFIX}{table}.json"
        p.write_text(json.dumps(d, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        paths.append(p)
    return paths


@dataclass
class Failure:
    check: Check
    index: list  # row_id of the failing rows (the relation's row ids), as GX returned them


@dataclass
class GXOutcome:
    failures: list[Failure]
    stats: dict[str, dict]  # table -> {"rows": n, "evaluated": n, "successful": n, "success": bool}
    docs_index: Path | None  # the Data Docs site's index (every year), when docs_dir was given
    docs_page: Path | None = None  # this run's (year's) page in that site
    run_time: datetime | None = None  # when the validation started (UTC): the run time the Data Docs show
    seconds: float = 0.0  # GX validation alone (no Data Docs)
    unexpected: dict[str, int] = field(default_factory=dict)  # check key -> GX's unexpected_count


# what GX returns per expectation: every failing row id (COMPLETE), as one flat list (exclude_unexpected_values),
# without the pandas query string that lists every index again
RESULT_FORMAT = {"result_format": "COMPLETE", "unexpected_index_column_names": ["row_id"],
                 "exclude_unexpected_values": True, "return_unexpected_index_query": False}


def _row_ids(result: dict) -> list[int]:
    rows = result.get("unexpected_index_list") or []
    out: list[int] = []
    for r in rows:
        ids = r["row_id"] if isinstance(r, dict) else r
        out.extend(int(i) for i in (ids if isinstance(ids, list) else [ids]))
    return out


def run_suites(
    frames: dict[str, pd.DataFrame],
    rules: dict[str, Rule],
    docs_dir: Path | None = None,
    run_name: str = "junheng",
    rows_for: Callable[[list[tuple[Check, list]]], list[list[dict]]] | None = None,
) -> GXOutcome:
    """Validate each frame with its suite; GX returns the failing rows of every expectation.

    `frames`: table -> DataFrame indexed by `row_id` holding the columns its suite judges (values_sql.py's relation;
    rows where every judged column is null may be left out, GX ignores them). The outcome's failures are GX's own
    unexpected row ids (`RESULT_FORMAT`); their count must equal GX's `unexpected_count` or the run fails.

    `docs_dir`: the ONE Data Docs site of every year (see data_docs.py): this run (`run_name`, a year) replaces its
    earlier results there, its pages are rendered and the site index rebuilt. `rows_for([(check, row_ids), ...])`,
    called once per table with its failing checks, gives each check's failing rows as the docs list them (school,
    county, field, values: `data_docs.failing_rows`): once per table, so the caller reads the rows of all its
    checks in one pass.
    """
    import time

    gx = _gx()
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    try:
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # pragma: no cover - cosmetic
        pass
    checks = build_checks(rules)
    by_key = {ch.key: ch for ch in checks}
    suites = build_suites(rules)
    ds = ctx.data_sources.add_pandas("junheng_frames")
    failures: list[Failure] = []
    unexpected: dict[str, int] = {}
    stats: dict[str, dict] = {}
    # The real time of the run: without it GX parses a run name such as "2022" as a date (2022-<today>).
    run_time = datetime.now(timezone.utc)
    run_id = RunIdentifier(run_name=run_name, run_time=run_time)
    docs = docs_dir is not None
    doc_results: dict[str, dict] = {}
    records: list[data_docs.CheckRecord] = []
    seconds = 0.0
    for table, df in frames.items():
        if table not in suites or not suites[table].expectations:
            continue
        if df.index.name != "row_id":
            raise ValueError(f"the {table} frame must be indexed by row_id")
        asset = ds.add_dataframe_asset(table)
        bd = asset.add_batch_definition_whole_dataframe("whole")
        suite = ctx.suites.add(suites[table])
        t0 = time.perf_counter()
        # Batch.validate, not ValidationDefinition.run: the same validator, without the context's result store
        # (serialising every result with its row-id lists into it cost ~2 s a national year, and nothing reads it)
        res = bd.get_batch(batch_parameters={"dataframe": df}).validate(suite, result_format=dict(RESULT_FORMAT))
        seconds += time.perf_counter() - t0
        res.meta["run_id"] = run_id  # what the Data Docs show as the run time
        res.meta["validation_time"] = run_id.run_time
        stats[table] = {
            "rows": int(len(df)),
            "evaluated": res.statistics.get("evaluated_expectations"),
            "successful": res.statistics.get("successful_expectations"),
            "success": bool(res.success),
        }
        checked = []  # (result index, check, failing row ids, GX's unexpected count, element count)
        for i, er in enumerate(res.results):
            cfg = er.expectation_config
            ch = by_key.get((cfg.meta or {}).get("check"))
            if ch is None:
                continue
            if er.exception_info and er.exception_info.get("raised_exception"):
                raise RuntimeError(f"GX failed on {table}.{ch.column}: {er.exception_info.get('exception_message')}")
            index: list = []
            count = int(er.result.get("unexpected_count") or 0)
            if not er.success:
                index = _row_ids(er.result)
                if count != len(index):
                    raise RuntimeError(f"{ch.rule_id} on {table}.{ch.column}: GX counts {count} unexpected values "
                                       f"but lists {len(index)} rows")
                failures.append(Failure(ch, index))
            unexpected[ch.key] = count
            # the row ids are taken: the stored result (Data Docs) gets the first failing rows by name instead
            er.result.pop("unexpected_index_list", None)
            checked.append((i, ch, index, count, int(er.result.get("element_count") or len(df))))
        if docs:
            failing = [(ch, index) for _, ch, index, _, _ in checked if index]
            rows_of = iter(rows_for(failing)) if (rows_for and failing) else None
            doc_results_of_table = []
            for i, ch, index, count, elements in checked:
                rows = next(rows_of) if (rows_of is not None and index) else []
                doc_results_of_table.append((i, ch, rows))
                records.append(data_docs.CheckRecord(ch, rules.get(ch.rule_id), suites[table].name, count,
                                                     elements, rows))
            doc = res.to_json_dict()
            for i, ch, rows in doc_results_of_table:
                data_docs.annotate_result(doc["results"][i], ch, rules.get(ch.rule_id), rows)
            doc_results[table] = doc
    docs_index = docs_page = None
    if docs:
        docs_index, docs_page = data_docs.record_run(
            Path(docs_dir), run_name, run_time, doc_results, records, stats,
            {t: suites[t] for t in doc_results})
    return GXOutcome(failures, stats, docs_index, docs_page, run_time, seconds, unexpected)


if __name__ == "__main__":
    if "--write" in sys.argv:
        for p in write_suites():
            print(p)
    else:
        print("usage: python -m junheng.defs.quality.gx_run --write   (regenerate expectations/suites/*.json)")
