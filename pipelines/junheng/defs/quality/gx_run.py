"""Great Expectations 1.x: the suites built from rules.yml, run on in-memory pandas frames, and Data Docs.

Why an ephemeral context and suite JSON files, not a file data context:
- the suites are *derived* from `expectations/rules.yml` (the one place thresholds live); a file context would be a
  second, mutable copy that every run rewrites, and Dagster runs several year partitions at once;
- `expectations/suites/*.json` are the same suites written out (`python -m junheng.defs.quality.gx_run --write`) so
  they can be reviewed and diffed; a test fails when they drift from rules.yml;
- each run validates in an ephemeral context (no files besides the Data Docs: with `docs_dir`, one offline site for
  every year, whose contract, layout and pages are described in `data_docs.py`).
GX's SQL datasource on DuckDB is broken upstream, so every frame is a pandas DataFrame.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

from junheng.defs.quality import data_docs  # noqa: E402
from junheng.defs.quality.frames import TABLES, Check, build_checks, failing_index  # noqa: E402
from junheng.defs.quality.rules import SUITES_DIR, Rule, load_rules  # noqa: E402

SUITE_PREFIX = "junheng_"


def _gx():
    import great_expectations as gx  # imported lazily: ~3 s

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
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
    field = "(the row's field)" if (ch.field or "").startswith("@") else f"`{ch.field}`"
    notes = (f"**{ch.rule_id}** ({ch.severity}), field {field}: expected {ch.expected}.\n\n"
             f"{rule.text('en')}\n\n{rule.text('zh')}")
    kw: dict = {"severity": ch.severity}  # GX 1.x expectation severity: warning | info
    if ch.kind == "not_null":
        return gxe.ExpectColumnValuesToNotBeNull(column=ch.column, meta=meta, notes=notes, **kw)
    if ch.min_value is not None:
        kw["min_value"] = ch.min_value
        kw["strict_min"] = ch.strict_min
    if ch.max_value is not None:
        kw["max_value"] = ch.max_value
        kw["strict_max"] = ch.strict_max
    return gxe.ExpectColumnValuesToBeBetween(column=ch.column, meta=meta, notes=notes, **kw)


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
    index: list  # frame index labels of the failing rows


@dataclass
class GXOutcome:
    failures: list[Failure]
    stats: dict[str, dict]  # table -> {"rows": n, "evaluated": n, "successful": n, "success": bool}
    docs_index: Path | None  # the Data Docs site's index (every year), when docs_dir was given
    docs_page: Path | None = None  # this run's (year's) page in that site
    run_time: datetime | None = None  # when the validation started (UTC): the run time the Data Docs show


def run_suites(
    frames: dict[str, pd.DataFrame],
    rules: dict[str, Rule],
    docs_dir: Path | None = None,
    run_name: str = "junheng",
    result_format: str = "BASIC",
    schools: pd.DataFrame | None = None,
) -> GXOutcome:
    """Validate each frame with its suite; return the failing rows per check and (optionally) record Data Docs.

    GX decides each expectation and counts its unexpected values (`BASIC`: counts and a sample of values, which is
    what Data Docs show). The failing rows themselves come from `failing_index`, a vectorised mask with GX's
    semantics, and every count must equal GX's or the run fails: asking GX for the rows (`COMPLETE`) costs 3-4x
    the validation at national scale (a per-row pandas lookup, then serialising every index into the result).
    `result_format="COMPLETE"` takes GX's own rows instead (tests compare the two).

    `docs_dir`: the ONE Data Docs site of every year (see data_docs.py): this run (`run_name`, a year) replaces its
    earlier results there, its pages are rendered and the site index rebuilt. `schools` (census rows with
    school_code/school_name/county_code/county_name) names the failing schools in the docs.
    """
    gx = _gx()
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    try:
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # pragma: no cover - cosmetic
        pass
    checks = build_checks(rules)
    by_key = {}
    for ch in checks:
        by_key.setdefault((ch.table, ch.column, ch.rule_id, ch.field, ch.min_value, ch.max_value), ch)
    suites = build_suites(rules)
    ds = ctx.data_sources.add_pandas("junheng_frames")
    failures: list[Failure] = []
    stats: dict[str, dict] = {}
    # The real time of the run: without it GX parses a run name such as "2022" as a date (2022-<today>).
    run_time = datetime.now(timezone.utc)
    run_id = RunIdentifier(run_name=run_name, run_time=run_time)
    complete = result_format == "COMPLETE"
    docs = docs_dir is not None
    names = data_docs.name_lookup(schools) if docs else ({}, {})
    doc_results: dict[str, dict] = {}
    records: list[data_docs.CheckRecord] = []
    for table, df in frames.items():
        if table not in suites or not suites[table].expectations:
            continue
        asset = ds.add_dataframe_asset(table)
        bd = asset.add_batch_definition_whole_dataframe("whole")
        suite = ctx.suites.add(suites[table])
        vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=f"{run_name}_{table}", data=bd, suite=suite))
        fmt: dict = {"result_format": result_format}
        # GX sees the columns its expectations read, not the codes: it hashes every column of a batch.
        batch = df[sorted({ch.column for ch in checks if ch.table == table})]
        if complete:
            batch = batch.assign(row_id=np.arange(len(batch)))  # maps GX's failing rows back to the frame
            fmt["unexpected_index_column_names"] = ["row_id"]
        res = vd.run(batch_parameters={"dataframe": batch}, result_format=fmt, run_id=run_id)
        del batch
        stats[table] = {
            "rows": int(len(df)),
            "evaluated": res.statistics.get("evaluated_expectations"),
            "successful": res.statistics.get("successful_expectations"),
            "success": bool(res.success),
        }
        doc = res.to_json_dict() if docs else None
        for i, er in enumerate(res.results):
            cfg = er.expectation_config
            kw = cfg.kwargs
            m = cfg.meta or {}
            key = (table, kw.get("column"), m.get("rule_id"), m.get("field"), kw.get("min_value"), kw.get("max_value"))
            ch = by_key.get(key)
            if ch is None:
                continue
            if er.exception_info and er.exception_info.get("raised_exception"):
                raise RuntimeError(f"GX failed on {table}.{ch.column}: {er.exception_info.get('exception_message')}")
            index: list = []
            if not er.success:
                if complete:
                    rows = er.result.get("unexpected_index_list") or []
                    index = list(df.index[[int(r["row_id"]) if isinstance(r, dict) else int(r) for r in rows]])
                else:
                    index = failing_index(df, ch)
                    gx_count = er.result.get("unexpected_count")
                    if gx_count != len(index):
                        raise RuntimeError(
                            f"{ch.rule_id} on {table}.{ch.column}: GX counts {gx_count} unexpected values, "
                            f"the row mask finds {len(index)}")
                failures.append(Failure(ch, index))
            if docs:
                rows = data_docs.failing_rows(df, ch, index, names)
                data_docs.annotate_result(doc["results"][i], ch, rules.get(ch.rule_id), rows)
                records.append(data_docs.CheckRecord(
                    ch, rules.get(ch.rule_id), suites[table].name, int(er.result.get("unexpected_count") or 0),
                    int(er.result.get("element_count") or len(df)), rows))
        if docs:
            doc_results[table] = doc
    docs_index = docs_page = None
    if docs:
        docs_index, docs_page = data_docs.record_run(
            Path(docs_dir), run_name, run_time, doc_results, records, stats,
            {t: suites[t] for t in doc_results})
    return GXOutcome(failures, stats, docs_index, docs_page, run_time)


if __name__ == "__main__":
    if "--write" in sys.argv:
        for p in write_suites():
            print(p)
    else:
        print("usage: python -m junheng.defs.quality.gx_run --write   (regenerate expectations/suites/*.json)")
