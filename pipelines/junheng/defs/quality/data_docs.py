"""Great Expectations Data Docs for the plausibility suites: ONE offline site for every year.

Contract with the caller (`quality/assets.py` through `flags.compute_flags_with_outcome` -> `gx_run.run_suites`)
----------------------------------------------------------------------------------------------------------------
- `docs_dir` is ONE site directory for all years (e.g. `<build docs dir>/gx/`). At the start of a load it is a copy of
  the previously published site (possibly empty, possibly an old per-year layout); the caller publishes it atomically
  after the load. Several years are validated one after another into it within a process, and later runs start from
  the copy.
- `gx_run.run_suites(frames, rules, docs_dir=site, run_name=str(year), rows_for=...)` validates the year and
  records it here (`record_run`): the year's results replace the ones it had (files under `results/<year>/`), its
  pages are rendered, and the site index is rebuilt from every year's stored results. The site is complete and
  consistent after every call; nothing needs to run after the last year. `rows_for([(check, row_ids), ...])`,
  once per table for its failing checks, gives each check's failing rows as `failing_rows` lists them (flags.py
  reads them from the year's relations and names the schools with `name_lookup` of the year's census).
  `GXOutcome.docs_index` is the site index (`<site>/index.html`), `GXOutcome.docs_page` the year's page
  (`<site>/<year>/index.html`).
- `build_site(docs_dir) -> Path` re-renders every page from the stored results (after a change of template,
  stylesheet or GX version, or to clean a site copied from the old layout); `site_index(docs_dir)` and
  `year_page(docs_dir, key)` give the paths. Nobody else writes `<site>/index.html`: it lists every year.
- A directory `<site>/<year>/` without stored results is a per-year GX site of the old layout (remote stylesheets,
  no stored results to rebuild from): it is removed when the site index is rebuilt; the year reappears when it is
  next validated.

Layout of the site
------------------
    index.html                      every year: run time, suites, failed expectations, failing rows   (ours)
    static/junheng-docs.css         the only static file, once for the whole site
    <year>/index.html               the year: suites with links to GX's pages, then every failing check
                                    by rule, with the failing schools (code, name, county, field, values) (ours)
    validations/<suite>/<year>/<run time>/junheng_frames-<table>.html
                                    GX's validation result page (GX's own layout, so its relative links work)
    expectations/<suite>.html       GX's expectation suite page (the rules' notes, zh and en)
    results/<year>/run.json         what the year's pages are built from: run time, suite statistics, failing
                                    rows per check (at most ROWS_PER_CHECK)
    results/<year>/<suite>.json     GX's ExpectationSuiteValidationResult, annotated as below

Offline: GX's templates load Bootstrap, Font Awesome, jQuery, bootstrap-table and vega from CDNs and its logo from
S3. Every page GX renders goes through `offline_html`: scripts, remote stylesheets, remote images, GX's inline
styles and remote links are removed and one local stylesheet (`static/junheng-docs.css`, relative path) styles GX's
Bootstrap class names. No page has a script; GX's "Failed only" filter works with CSS.

Naming the school and the rule: GX validates with result_format COMPLETE and returns the failing rows' ids (see
gx_run); the ids do not belong in the docs. Before the result is stored, each expectation gets a `description`
naming its rule (id, severity, Chinese and English title from rules.yml) and the check, which GX renders instead of
its template sentence; a failing one gets the first SAMPLE_PER_CHECK failing rows (by county, school, field) in
GX's own unexpected-index format (`unexpected_index_list`, `unexpected_index_column_names` = school, county,
field), which GX renders as its table of unexpected values.
The run time is the real start of the validation (GX would parse a run name such as "2022" as a date).
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import math
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

log = logging.getLogger(__name__)

STATIC_SOURCE = Path(__file__).resolve().parent / "static"
STYLESHEET = "static/junheng-docs.css"
RESULTS = "results"
RUN_FILE = "run.json"
FORMAT = 1
ROWS_PER_CHECK = 200  # failing rows listed per check on the year page (all of them: marts.submission_flags)
SAMPLE_PER_CHECK = 20  # failing rows shown in GX's own table of unexpected values (GX's partial_unexpected_count)
BEIJING = timezone(timedelta(hours=8))

SCHOOL_COL = "学校 school"
COUNTY_COL = "县 county"
FIELD_COL = "字段 field"

_REMOTE = r"(?:https?:)?//"


# ---------------------------------------------------------------------------------------------------- paths


def site_index(docs_dir: Path) -> Path:
    return Path(docs_dir) / "index.html"


def year_page(docs_dir: Path, key: str) -> Path:
    return Path(docs_dir) / safe_key(key) / "index.html"


def safe_key(run_name: str) -> str:
    """The directory name of a run (a year: "2022")."""
    key = re.sub(r"[^0-9A-Za-z_.-]", "_", str(run_name)).strip(".") or "run"
    return key


def _stored_keys(docs_dir: Path) -> list[str]:
    root = Path(docs_dir) / RESULTS
    if not root.is_dir():
        return []
    return sorted((p.name for p in root.iterdir() if (p / RUN_FILE).is_file()), reverse=True)


def _write(path: Path, text: str) -> None:
    """Write through a temporary file and rename: a reader never sees half a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------------- rules


def rule_titles(rule) -> tuple[str, str]:
    """(Chinese, English) title of a rule: `title: {zh, en}` in rules.yml if given, else its `what` sentence."""
    if rule is None:
        return "", ""
    title = rule.get("title") or {}
    out = []
    for lang in ("zh", "en"):
        t = title.get(lang) if isinstance(title, Mapping) else None
        out.append(str(t or rule.description.get(lang, {}).get("what", "")).strip())
    return out[0], out[1]


# ---------------------------------------------------------------------------------------------------- failing rows


def _plain(v: Any) -> Any:
    """A JSON-able scalar: NaN/NA -> None, numpy numbers -> float/int, categories -> str."""
    if v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(v, bool):
        return v
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (int, str)):
        return v
    return str(v)


def name_lookup(schools: pd.DataFrame | None) -> tuple[dict, dict]:
    """(school_code -> school_name, county_code -> county_name) from census rows (either may be empty)."""
    if schools is None or not len(schools):
        return {}, {}
    out = []
    for code, name in (("school_code", "school_name"), ("county_code", "county_name")):
        if code in schools.columns and name in schools.columns:
            d = schools[[code, name]].dropna().drop_duplicates(code)
            out.append(dict(zip(d[code].astype(str), d[name].astype(str))))
        else:
            out.append({})
    return out[0], out[1]


def failing_rows(df: pd.DataFrame, check, index: list, names: tuple[dict, dict], limit: int = ROWS_PER_CHECK) -> list[dict]:
    """The first `limit` failing rows of one check (`df`: the relation's failing rows, indexed by row id), each
    naming its school (or county) and the field it flags.

    As flags._failures_to_flags: `field` is the check's field or, for the long relations ("@field"), the row's;
    `value` the check's value column (the reported value); `checked` the value GX judged."""
    if not len(index):
        return []
    school_names, county_names = names
    at = str(check.field or "")
    cols = [c for c in ("school_code", "county_code", "school_type", "level", "field", "prev", check.column,
                        check.value_column, at[1:] if at.startswith("@") else None) if c and c in df.columns]
    sub = df.loc[list(index[:limit]), list(dict.fromkeys(cols))]
    rows = []
    for r in sub.to_dict("records"):
        field = r.get(at[1:]) if at.startswith("@") else check.field
        value = r.get(check.value_column) if check.value_column else None
        school = _plain(r.get("school_code"))
        county = _plain(r.get("county_code"))
        rows.append({
            "school_code": None if school is None else str(school),
            "school_name": school_names.get(str(school)) if school is not None else None,
            "county_code": None if county is None else str(county),
            "county_name": county_names.get(str(county)) if county is not None else None,
            "field": _plain(field),
            "value": _plain(value),
            "checked": _plain(r.get(check.column)),
            "prev": _plain(r.get("prev")),
        })
    return rows


def _short(v: Any) -> Any:
    """A float as GX's table shows it: six significant digits."""
    return float(f"{v:.6g}") if isinstance(v, float) else v


def _label(code: str | None, name: str | None) -> str:
    return " ".join(x for x in (code, name) if x) or "—"


# what a check without an expected text asks (events, missing returns)
_EXPECTATION = {"not_null": "a value", "pair_equal": "equal", "between": "within bounds", "not_in_set": "not in set"}


def _judged(check) -> str:
    """The column(s) an expectation judges, as the pages name them."""
    return f"{check.column} = {check.column_b}" if getattr(check, "column_b", None) else check.column


def annotate_result(er: dict, check, rule, rows: list[dict], sample: int = SAMPLE_PER_CHECK) -> None:
    """Name the rule (and, if failing, the first failing schools) in one expectation result dict (GX JSON)."""
    cfg = er.setdefault("expectation_config", {})
    title_zh, title_en = rule_titles(rule)
    e = html.escape
    level = f" · {e(check.level)}" if check.level else ""
    field = "" if str(check.field or "@").startswith("@") else f" · field <code>{e(str(check.field))}</code>"
    # GX renders `description` as given (not escaped): every dynamic part is escaped here.
    cfg["description"] = (
        f'<strong>{e(check.rule_id)}</strong> <span class="badge jh-{e(check.severity)}">{e(check.severity)}</span> '
        f"{e(title_zh)}<br><span class=\"text-muted\">{e(title_en)}</span><br>"
        f"<code>{e(_judged(check))}</code>{level}{field}: expected {e(check.expected or _EXPECTATION[check.kind])}"
    )
    if er.get("success") or not rows:
        return
    result = er.setdefault("result", {})
    shown = rows[:sample]
    school_level = any(r["school_code"] for r in shown)
    index_cols = ([SCHOOL_COL] if school_level else []) + [COUNTY_COL, FIELD_COL]
    items = []
    for r in shown:
        item = {check.column: _short(r["checked"]), COUNTY_COL: _label(r["county_code"], r["county_name"]),
                FIELD_COL: r["field"] or "—"}
        if school_level:
            item[SCHOOL_COL] = _label(r["school_code"], r["school_name"])
        items.append(item)
    counts: dict = {}
    for r in shown:
        counts[_short(r["checked"])] = counts.get(_short(r["checked"]), 0) + 1
    result["unexpected_index_column_names"] = index_cols
    result["unexpected_index_list"] = items
    result["partial_unexpected_counts"] = [{"value": v, "count": n} for v, n in counts.items()]
    result.pop("unexpected_list", None)  # COMPLETE runs: the full lists do not belong in the docs
    result.pop("unexpected_index_query", None)
    result.pop("partial_unexpected_index_list", None)


# ---------------------------------------------------------------------------------------------------- offline HTML


def remote_references(text: str) -> list[str]:
    """Every remote resource a page would load (src/href/url()/@import to http(s):// or //)."""
    pats = [
        rf"""\b(?:src|href|xlink:href|srcset|poster|action|data)\s*=\s*["']?\s*({_REMOTE}[^"'\s>]*)""",
        rf"""url\(\s*["']?\s*({_REMOTE}[^)"']*)""",
        rf"""@import\s+(?:url\()?\s*["']?\s*({_REMOTE}[^)"';\s]*)""",
    ]
    return [m.group(1) for p in pats for m in re.finditer(p, text, flags=re.I)]


def offline_html(page: str, root: str, key: str | None = None, gx_version: str | None = None) -> str:
    """A GX page with no remote reference and no script, styled by the site's own stylesheet.

    `root` is the relative path from the page to the site root ("../../../../" for a validation page)."""
    s = re.sub(r"<script\b[^>]*>.*?</script\s*>", "", page, flags=re.S | re.I)
    s = re.sub(r"<style\b[^>]*>.*?</style\s*>", "", s, flags=re.S | re.I)  # GX's inline styles (dark theme, S3 logo)
    s = re.sub(r"<link\b[^>]*>", "", s, flags=re.I)  # CDN stylesheets, favicon
    s = re.sub(rf"""<img\b[^>]*\bsrc\s*=\s*["']?\s*{_REMOTE}[^>]*>""",
               '<span class="jh-brand-mark">均</span>junheng 数据质量 / data quality', s, flags=re.I)
    s = re.sub(r"<footer\b.*?</footer\s*>", "", s, flags=re.S | re.I)
    # any other remote link or source: drop the attribute, keep the text
    s = re.sub(rf"""\s(?:src|href|xlink:href|srcset|poster|action|data)\s*=\s*(["'])\s*{_REMOTE}.*?\1""", "", s,
               flags=re.I | re.S)
    s = re.sub(rf"""url\(\s*["']?\s*{_REMOTE}[^)]*\)""", "none", s, flags=re.I)
    s = s.replace("<title>Data documentation compiled by Great Expectations</title>", "", 1)
    s = re.sub(r"<title>\s*</title>", "<title>junheng 数据质量 / data quality — Great Expectations</title>", s, count=1)
    head = f'<link rel="stylesheet" href="{root}{STYLESHEET}">\n'
    s = re.sub(r"</head\s*>", head + "</head>", s, count=1, flags=re.I)
    if key:
        year = (f'<li class="ge-breadcrumbs-item breadcrumb-item"><a href="{root}{html.escape(key)}/index.html">'
                f"{html.escape(key)}</a></li>")
        s = re.sub(r'(<li class="ge-breadcrumbs-item breadcrumb-item"><a href="[^"]*">Home</a></li>)',
                   lambda m: m.group(1) + year, s, count=1)
    foot = (f'<footer>Great Expectations {html.escape(gx_version or "")} · junheng · '
            f'rules / 规则: expectations/rules.yml · <a href="{root}index.html">all years / 全部年度</a></footer>')
    s = re.sub(r"</body\s*>", foot + "\n</body>", s, count=1, flags=re.I)
    left = remote_references(s)
    if left:  # the patterns above remove every kind checked here: a bug, not data
        raise RuntimeError(f"remote references left in a Data Docs page: {left[:5]}")
    return s


# ---------------------------------------------------------------------------------------------------- GX pages


_VIEW = None


def _view():
    """One GX page view per process: each view compiles GX's Jinja templates anew (~0.25 s a page otherwise)."""
    global _VIEW
    if _VIEW is None:
        from great_expectations.render.view import DefaultJinjaPageView

        _VIEW = DefaultJinjaPageView()
    return _VIEW


def _gx_render_validation(result: dict) -> str:
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResultSchema
    from great_expectations.render.renderer import ValidationResultsPageRenderer

    obj = ExpectationSuiteValidationResultSchema().load(result)
    return _view().render(ValidationResultsPageRenderer().render(obj))


def _gx_render_suite(suite) -> str:
    from great_expectations.render.renderer import ExpectationSuitePageRenderer

    return _view().render(ExpectationSuitePageRenderer().render(suite))


def _gx_version() -> str:
    try:
        import great_expectations as gx

        return gx.__version__
    except Exception:  # pragma: no cover
        return ""


def _fallback_page(title: str, message: str, root: str) -> str:
    return _page(title, f'<div class="alert alert-danger">{html.escape(message)}</div>', root)


def validation_page_path(suite: str, key: str, run_time: str, table: str) -> str:
    """GX's own layout (validations/<suite>/<run name>/<run time>/<batch>.html): its relative links then work."""
    stamp = datetime.fromisoformat(run_time).astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"validations/{suite}/{key}/{stamp}/junheng_frames-{table}.html"


# ---------------------------------------------------------------------------------------------------- our pages


def _page(title: str, body: str, root: str) -> str:
    return f"""<!doctype html>
<html lang="zh">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="stylesheet" href="{root}{STYLESHEET}">
</head>
<body>
<nav class="navbar"><a class="navbar-brand" href="{root}index.html"><span class="jh-brand-mark">均</span>junheng 数据质量 / data quality</a>
<span class="text-muted">Great Expectations Data Docs</span></nav>
<main class="jh-page">
{body}
</main>
<footer>junheng · Great Expectations {html.escape(_gx_version())} · rules / 规则: expectations/rules.yml ·
flags / 标记: marts.submission_flags</footer>
</body>
</html>
"""


def _times(run_time: str) -> str:
    t = datetime.fromisoformat(run_time)
    bj = t.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    utc = t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f'<time datetime="{utc}">{bj} (UTC+8)</time> <span class="text-muted">· {utc}</span>'


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.6g}"
    return html.escape(str(v))


def _failed_counts(run: dict) -> tuple[int, int]:
    """(failing rows of warning checks, of info checks) as GX counted them."""
    w = sum(c["unexpected_count"] or 0 for c in run["checks"] if c["severity"] == "warning")
    i = sum(c["unexpected_count"] or 0 for c in run["checks"] if c["severity"] != "warning")
    return w, i


def render_year_page(run: dict) -> str:
    e = html.escape
    key = run["key"]
    suites = run["suites"]
    evaluated = sum(s["evaluated"] or 0 for s in suites)
    failed = sum((s["evaluated"] or 0) - (s["successful"] or 0) for s in suites)
    warn_rows, info_rows = _failed_counts(run)
    parts = [
        f"<h1>数据质量校验 {e(key)} 年度 / Plausibility checks {e(key)}</h1>",
        f'<div class="jh-meta"><span>运行时间 / run time: {_times(run["run_time"])}</span>'
        f'<span>Great Expectations {e(run.get("gx_version", ""))}</span></div>',
        '<div class="jh-summary">'
        f'<div class="jh-tile"><b>{len(suites)}</b>校验套件 / suites</div>'
        f'<div class="jh-tile"><b>{evaluated}</b>期望 / expectations</div>'
        f'<div class="jh-tile"><b>{failed}</b>未通过 / failed</div>'
        f'<div class="jh-tile"><b>{warn_rows}</b>warning 行 / rows</div>'
        f'<div class="jh-tile"><b>{info_rows}</b>info 行 / rows</div></div>',
        "<h2>校验套件 / Suites</h2>",
        '<table class="table table-sm" id="suites"><thead><tr><th>套件 / suite</th><th class="num">行 / rows</th>'
        '<th class="num">期望 / expectations</th><th class="num">未通过 / failed</th><th>状态 / status</th>'
        "<th>GX 页面 / pages</th></tr></thead><tbody>",
    ]
    for s in suites:
        ok = s["success"]
        status = ('<span class="badge jh-ok">通过 passed</span>' if ok
                  else '<span class="badge jh-warning">未通过 failed</span>')
        parts.append(
            f'<tr><td>{e(s["suite"])}</td><td class="num">{s["rows"]}</td><td class="num">{s["evaluated"]}</td>'
            f'<td class="num">{(s["evaluated"] or 0) - (s["successful"] or 0)}</td><td>{status}</td>'
            f'<td><a href="../{e(s["page"])}">校验结果 / validation</a> · '
            f'<a href="../expectations/{e(s["suite"])}.html">规则 / suite</a></td></tr>')
    parts.append("</tbody></table>")
    failing = [c for c in run["checks"] if c["unexpected_count"]]
    parts.append("<h2>未通过的规则与学校 / Failing rules and schools</h2>")
    parts.append(
        '<p class="jh-note">GX 的判定（每条期望的未通过行），按规则列出；最终标记（含同比离群值的改判与去重）见 '
        "marts.submission_flags。 / GX's verdicts (the failing rows of each expectation) by rule; the final flags "
        "(year-over-year outliers reclassified, duplicates removed) are in marts.submission_flags.</p>")
    if not failing:
        parts.append('<div class="alert alert-success">全部通过 / every expectation passed</div>')
    by_rule: dict[str, list[dict]] = {}
    for c in failing:
        by_rule.setdefault(c["rule_id"], []).append(c)
    order = sorted(by_rule, key=lambda r: (by_rule[r][0]["severity"] != "warning", r))
    for rid in order:
        checks = by_rule[rid]
        c0 = checks[0]
        n = sum(c["unexpected_count"] for c in checks)
        sev = c0["severity"]
        parts.append(
            f'<section class="jh-rule {e(sev)}" id="{e(rid)}"><h3>{e(rid)} '
            f'<span class="badge jh-{e(sev)}">{e(sev)}</span> {e(c0["title_zh"])} '
            f'<span class="jh-title-en">/ {e(c0["title_en"])}</span></h3>'
            f'<div class="jh-meta">{n} 行未通过 / failing rows</div>')
        for c in checks:
            lvl = f" · {e(c['level'])}" if c.get("level") else ""
            parts.append(
                f'<div class="jh-check" id="{e(c["anchor"])}"><code>{e(c["table"])}.{e(c["column"])}</code>{lvl}: '
                f'expected {e(c["expected"])} — {c["unexpected_count"]} / {c["element_count"]} '
                f'行 rows · <a href="../{e(c["page"])}">GX</a></div>')
            rows = c["rows"]
            school_level = any(r["school_code"] for r in rows)
            head = (("<th>学校代码 / school code</th><th>学校名称 / school name</th>" if school_level else "")
                    + "<th>县 / county</th><th>字段 / field</th><th class=\"num\">填报值 / value</th>"
                    f"<th class=\"num\">{e(c['column'])}</th>"
                    + ("<th class=\"num\">上年 / last year</th>" if c["table"] == "yoy" else ""))
            parts.append(f'<table class="table table-sm table-bordered jh-rows"><thead><tr><th>#</th>{head}</tr>'
                         "</thead><tbody>")
            for i, r in enumerate(rows, 1):
                cells = (f"<td>{_fmt(r['school_code'])}</td><td>{_fmt(r['school_name'])}</td>" if school_level else "")
                cells += (f"<td>{_fmt(_label(r['county_code'], r['county_name']))}</td><td>{_fmt(r['field'])}</td>"
                          f"<td class=\"num\">{_fmt(r['value'])}</td><td class=\"num\">{_fmt(r['checked'])}</td>")
                if c["table"] == "yoy":
                    cells += f"<td class=\"num\">{_fmt(r['prev'])}</td>"
                parts.append(f"<tr><td>{i}</td>{cells}</tr>")
            parts.append("</tbody></table>")
            if c["unexpected_count"] > len(rows):
                parts.append(f'<div class="jh-more">另有 {c["unexpected_count"] - len(rows)} 行未列出（全部见 '
                             f"marts.submission_flags）/ {c['unexpected_count'] - len(rows)} more rows not listed "
                             "(all in marts.submission_flags)</div>")
        parts.append("</section>")
    return _page(f"junheng 数据质量 {key} / data quality {key}", "\n".join(parts), "../")


def render_site_index(runs: list[dict]) -> str:
    e = html.escape
    parts = [
        "<h1>数据质量校验结果 / Great Expectations Data Docs</h1>",
        '<p class="jh-note">每个统计年度的校验结果；规则见 expectations/rules.yml，标记见 marts.submission_flags。<br>'
        "The validation results of every statistical year; rules in expectations/rules.yml, flags in "
        "marts.submission_flags.</p>",
        '<table class="table table-sm" id="years"><thead><tr><th>年度 / year</th><th>运行时间 / run time</th>'
        '<th class="num">套件 / suites</th><th class="num">未通过套件 / failed suites</th>'
        '<th class="num">未通过期望 / failed expectations</th><th class="num">warning 行 / rows</th>'
        '<th class="num">info 行 / rows</th><th>页面 / pages</th></tr></thead><tbody>',
    ]
    for run in runs:
        s = run["suites"]
        failed_suites = sum(not x["success"] for x in s)
        failed = sum((x["evaluated"] or 0) - (x["successful"] or 0) for x in s)
        w, i = _failed_counts(run)
        links = " · ".join(f'<a href="{e(x["page"])}">{e(x["table"])}</a>' for x in s)
        parts.append(
            f'<tr><td><a href="{e(run["key"])}/index.html"><strong>{e(run["key"])}</strong></a></td>'
            f'<td>{_times(run["run_time"])}</td><td class="num">{len(s)}</td><td class="num">{failed_suites}</td>'
            f'<td class="num">{failed}</td><td class="num">{w}</td><td class="num">{i}</td><td>{links}</td></tr>')
    parts.append("</tbody></table>")
    if not runs:
        parts.append('<div class="alert alert-secondary">尚无校验结果 / no validation results yet</div>')
    suites = sorted({x["suite"] for run in runs for x in run["suites"]})
    if suites:
        parts.append("<h2>校验套件（规则）/ Expectation suites (rules)</h2><ul>")
        parts += [f'<li><a href="expectations/{e(x)}.html">{e(x)}</a></li>' for x in suites]
        parts.append("</ul>")
    return _page("junheng 数据质量 / data quality — Great Expectations Data Docs", "\n".join(parts), "")


# ---------------------------------------------------------------------------------------------------- the site


@dataclass
class CheckRecord:
    """One expectation of a run as the year page lists it."""

    check: Any  # checks.Check
    rule: Any  # rules.Rule | None
    suite: str
    unexpected_count: int
    element_count: int
    rows: list[dict]

    def to_json(self, page: str) -> dict:
        ch = self.check
        zh, en = rule_titles(self.rule)
        anchor = re.sub(r"[^0-9A-Za-z_-]", "_", f"{ch.table}-{ch.column}-{ch.rule_id}-{ch.field}-{ch.min_value}-"
                                                  f"{ch.max_value}")
        return {"table": ch.table, "suite": self.suite, "column": _judged(ch), "rule_id": ch.rule_id,
                "severity": ch.severity, "field": ch.field, "expected": ch.expected or _EXPECTATION[ch.kind],
                "level": ch.level,
                "title_zh": zh, "title_en": en, "unexpected_count": int(self.unexpected_count or 0),
                "element_count": int(self.element_count or 0), "rows": self.rows, "page": page, "anchor": anchor}


def _write_static(docs_dir: Path) -> None:
    for src in STATIC_SOURCE.iterdir():
        if src.is_file():
            dst = docs_dir / "static" / src.name
            data = src.read_bytes()
            if not dst.exists() or dst.read_bytes() != data:
                dst.parent.mkdir(parents=True, exist_ok=True)
                tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
                tmp.write_bytes(data)
                os.replace(tmp, dst)


# The last line of a suite page: the digest of what it was rendered from. A load renders a suite's page only when
# that differs (a changed rule, GX version or renderer), not in every load (0.38 s a load, 0.04 s to check).
_DIGEST_MARK = "<!-- junheng suite digest "
_RENDERER_DIGEST = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def _rendered_digest(page: Path) -> str | None:
    try:
        with page.open("rb") as f:
            f.seek(max(0, page.stat().st_size - 200))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    at = tail.rfind(_DIGEST_MARK)
    return tail[at + len(_DIGEST_MARK):].split(" ", 1)[0] if at >= 0 else None


def write_suite_pages(docs_dir: Path, suites: Iterable) -> None:
    """GX's page of each suite, unless the page there was rendered from the same suite, GX version and renderer."""
    version = _gx_version()
    for suite in suites:
        name = suite.name
        target = Path(docs_dir) / "expectations" / f"{name}.html"
        d = suite.to_json_dict()
        d.pop("id", None)
        for e in d.get("expectations", []):
            e.pop("id", None)
        digest = hashlib.sha256(json.dumps([d, version, _RENDERER_DIGEST], sort_keys=True, default=str).encode()
                                ).hexdigest()
        if _rendered_digest(target) == digest:
            continue
        try:
            page = offline_html(_gx_render_suite(suite), "../", gx_version=version) + f"\n{_DIGEST_MARK}{digest} -->\n"
        except Exception as exc:  # a docs page never fails the load (and is rendered again by the next one)
            log.warning("GX could not render the suite page of %s: %s", name, exc)
            page = _fallback_page(name, f"GX could not render this suite: {exc}", "../")
        _write(target, page)


def _render_year(docs_dir: Path, key: str) -> Path:
    """(Re)write the pages of one stored run: GX's validation pages and the year page."""
    store = docs_dir / RESULTS / key
    run = json.loads((store / RUN_FILE).read_text(encoding="utf-8"))
    for d in (docs_dir / "validations").glob(f"*/{key}"):
        shutil.rmtree(d, ignore_errors=True)
    version = run.get("gx_version") or _gx_version()
    for s in run["suites"]:
        result = json.loads((store / f"{s['suite']}.json").read_text(encoding="utf-8"))
        try:
            page = offline_html(_gx_render_validation(result), "../../../../", key=key, gx_version=version)
        except Exception as exc:  # a docs page never fails the load; the year page still lists the failing rows
            log.warning("GX could not render the validation page of %s %s: %s", key, s["suite"], exc)
            page = _fallback_page(s["suite"], f"GX could not render this validation result: {exc}", "../../../../")
        _write(docs_dir / s["page"], page)
    out = year_page(docs_dir, key)
    if out.parent.exists():  # only our page lives here (an old per-year GX site is replaced whole)
        shutil.rmtree(out.parent)
    _write(out, render_year_page(run))
    return out


def write_index(docs_dir: Path) -> Path:
    """Rebuild <site>/index.html from every stored run; remove old-layout year sites (no stored results)."""
    docs_dir = Path(docs_dir)
    keys = _stored_keys(docs_dir)
    for p in docs_dir.iterdir() if docs_dir.exists() else []:
        if p.is_dir() and re.fullmatch(r"\d{4}", p.name) and p.name not in keys:
            if (p / "validations").exists() or (p / "static").exists() or (p / "expectations").exists():
                shutil.rmtree(p, ignore_errors=True)
    runs = [json.loads((docs_dir / RESULTS / k / RUN_FILE).read_text(encoding="utf-8")) for k in keys]
    out = site_index(docs_dir)
    _write(out, render_site_index(runs))
    return out


def record_run(
    docs_dir: Path,
    run_name: str,
    run_time: datetime,
    results: Mapping[str, dict],
    records: list[CheckRecord],
    stats: Mapping[str, dict],
    suites: Mapping[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Store one run's results (replacing the run of the same name) and render its pages; rebuild the index.

    `results`: table -> GX validation result dict (annotated); `records`: every expectation of the run;
    `stats`: table -> {"rows", "evaluated", "successful", "success"}; `suites`: table -> ExpectationSuite (for
    the suite pages). Returns (site index, year page)."""
    docs_dir = Path(docs_dir)
    docs_dir.mkdir(parents=True, exist_ok=True)
    key = safe_key(run_name)
    iso = run_time.astimezone(timezone.utc).isoformat()
    pages = {t: validation_page_path(r["suite_name"], key, iso, t) for t, r in results.items()}
    run = {
        "format": FORMAT,
        "key": key,
        "run_name": str(run_name),
        "run_time": iso,
        "gx_version": _gx_version(),
        "suites": [{"table": t, "suite": results[t]["suite_name"], "page": pages[t], **stats[t]} for t in results],
        "checks": [r.to_json(pages[r.check.table]) for r in records],
    }
    # the run's files in a fresh directory, then swapped in for the old one
    store = docs_dir / RESULTS / key
    tmp = docs_dir / RESULTS / f".{key}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for t, r in results.items():
        (tmp / f"{r['suite_name']}.json").write_text(json.dumps(r, ensure_ascii=False), encoding="utf-8")
    (tmp / RUN_FILE).write_text(json.dumps(run, ensure_ascii=False, indent=1), encoding="utf-8")
    if store.exists():
        shutil.rmtree(store)
    os.replace(tmp, store)
    _write_static(docs_dir)
    if suites:
        write_suite_pages(docs_dir, suites.values())
    page = _render_year(docs_dir, key)
    return write_index(docs_dir), page


def build_site(docs_dir: Path, rules=None) -> Path:
    """Re-render the site from its stored results (every year, the index, the stylesheet; the suite pages whose
    suite, GX version or renderer changed)."""
    docs_dir = Path(docs_dir)
    docs_dir.mkdir(parents=True, exist_ok=True)
    _write_static(docs_dir)
    from junheng.defs.quality.gx_run import build_suites  # noqa: PLC0415 - gx_run imports this module
    from junheng.defs.quality.rules import load_rules  # noqa: PLC0415

    write_suite_pages(docs_dir, build_suites(rules or load_rules()).values())
    for key in _stored_keys(docs_dir):
        _render_year(docs_dir, key)
    return write_index(docs_dir)
