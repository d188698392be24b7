"""Each quality-rule threshold and each section split weight is defined in exactly one place (issue 14).

- Split weights (balance-methods.md §1: 1.1 / 1.2 / 1.32, and any provincial override) live in
  `dbt_project/seeds/split_weights.csv`. dbt's `int_school_parts` (which the quality values read,
  `defs/quality/values_sql.py`) and the benchmark's lower bound read that seed; no Python or SQL source of the
  pipeline may carry the weights as numeric literals, in code or in the SQL a Python string holds. (The synthetic-data generator, `junheng/generate/`, simulates submissions and is not the
  pipeline; `tests/` hold independent reference implementations on purpose.)
- Rule thresholds live in `expectations/rules.yml`. The rule engine reads them from the loaded rules; a fallback
  default (`params.get("C", 20.0)`, `rule.get("min_students", 1)`) is a second definition that silently wins when
  the YAML key is renamed or dropped, so none may exist; and no threshold of the YAML may appear as a literal in
  the rule engine's modules (their code and the SQL their strings hold: the values are SQL rendered from the rules)
  beyond the few listed structural constants.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PIPELINES = REPO / "pipelines" / "junheng"
QUALITY = PIPELINES / "defs" / "quality"
SEED = REPO / "dbt_project" / "seeds" / "split_weights.csv"
RULES = REPO / "expectations" / "rules.yml"

# Numeric literals of the rule engine that equal some rules.yml value but are not thresholds (what, where, why).
STRUCTURAL: dict[tuple[str, float], str] = {}  # none today (the HB median is median(), not a 0.5 quantile)


def split_weight_literals() -> set[float]:
    import csv

    with SEED.open(encoding="utf-8", newline="") as fh:
        return {float(r["weight"]) for r in csv.DictReader(fh)} - {1.0}


def pipeline_python_files() -> list[Path]:
    # Not scanned: the generator (simulated submissions) and the chart styling (line widths such as lw=1.1).
    files = [p for p in PIPELINES.rglob("*.py")
             if "generate" not in p.relative_to(PIPELINES).parts and p.relative_to(PIPELINES).as_posix() != "reports/charts.py"]
    return sorted(files + [REPO / "benchmarks" / "lower_bound.py"])


def pipeline_sql_files() -> list[Path]:
    root = REPO / "dbt_project"
    return sorted(p for d in ("models", "macros", "tests", "analyses") for p in (root / d).rglob("*.sql"))


def python_numbers(source: str) -> list[tuple[int, float, str]]:
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.NUMBER:
            try:
                out.append((tok.start[0], float(tok.string), tok.line.strip()))
            except ValueError:  # complex literals
                continue
    return out


_SQL_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/|\{#.*?#\}", re.S)
_SQL_NUMBER = re.compile(r"(?<![\w.])(\d+\.\d+|\d+)(?![\w.])")


def sql_numbers(source: str) -> list[tuple[int, float, str]]:
    out = []
    for i, line in enumerate(_SQL_COMMENT.sub(lambda m: "\n" * m.group().count("\n"), source).splitlines(), 1):
        out += [(i, float(m.group(1)), line.strip()) for m in _SQL_NUMBER.finditer(line)]
    return out


def string_numbers(source: str) -> list[tuple[int, float, str]]:
    """Numbers written inside the string constants of a Python module (SQL held in strings, f-string parts), read as
    SQL (comments excluded); docstrings are prose and not scanned."""
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            out += [(node.lineno + i - 1, v, text) for i, v, text in sql_numbers(node.value)]
    return out


def code_and_string_numbers(source: str) -> list[tuple[int, float, str]]:
    return python_numbers(source) + string_numbers(source)


def split_weight_offences(files_and_sources) -> list[str]:
    weights = split_weight_literals()
    bad = []
    for path, source, numbers in files_and_sources:
        for line, value, text in numbers(source):
            if value in weights:
                bad.append(f"{path}:{line}: {text}")
    return bad


def test_the_split_weights_are_defined_only_in_the_seed():
    assert split_weight_literals() >= {1.1, 1.2, 1.32}, "the national weights are in the seed"
    sources = [(p.relative_to(REPO), p.read_text(encoding="utf-8"), code_and_string_numbers)
               for p in pipeline_python_files()]
    sources += [(p.relative_to(REPO), p.read_text(encoding="utf-8"), sql_numbers) for p in pipeline_sql_files()]
    assert not split_weight_offences(sources), (
        "split weights written outside dbt_project/seeds/split_weights.csv:\n" + "\n".join(split_weight_offences(sources)))


def test_the_split_weight_check_catches_a_reintroduction():
    """The check above is real: the hard-coded shares of the old quality frames (and the same in SQL) are caught."""
    old_python = "d9 = a + 1.1 * b\nd12 = a + 1.1 * b + 1.32 * c\ndcs = b + 1.2 * c\n"
    old_sql = "select a / nullif(a + 1.1 * b, 0) -- 1.32 in a comment is fine\n"
    sql_in_python = '"""The docstring may say A/(A+1.1B)."""\nq = f"SELECT a / (a + 1.1 * {b}) -- not 1.32"\n'
    found = split_weight_offences([("frames.py", old_python, code_and_string_numbers),
                                   ("m.sql", old_sql, sql_numbers),
                                   ("values_sql.py", sql_in_python, code_and_string_numbers)])
    assert {f.split(":")[0] for f in found} == {"frames.py", "m.sql", "values_sql.py"} and len(found) == 6, found
    assert not split_weight_offences([("m.sql", "-- A/(A+1.1B)\nselect weight from s", sql_numbers)])


def rule_param_keys() -> set[str]:
    keys: set[str] = set()
    for r in yaml.safe_load(RULES.read_text(encoding="utf-8"))["rules"]:
        keys |= set((r.get("params") or {}).keys())
        keys |= {k for k in r if k in ("min_students", "scale")}
        for v in (r.get("params") or {}).values():
            if isinstance(v, dict):
                keys |= set(v)
    return keys


def rule_threshold_values() -> set[float]:
    vals: set[float] = set()

    def walk(o):
        if isinstance(o, dict):
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
        elif isinstance(o, (int, float)) and not isinstance(o, bool):
            vals.add(float(o))

    for r in yaml.safe_load(RULES.read_text(encoding="utf-8"))["rules"]:
        walk(r.get("params") or {})
        walk({k: r[k] for k in ("min_students", "scale") if k in r})
    return vals - {0.0, 1.0}


def looks_like_threshold(line: str, value: float) -> bool:
    """Small integers (2, 4, 8: indices, offsets, cache sizes) are everywhere; thresholds are written as decimals or
    as integers of 10 and more (C = 20.0, 60 m², 2.824)."""
    return value >= 10 or value != int(value) or re.search(rf"(?<![\w.]){int(value)}\.\d", line) is not None


def fallback_defaults(source: str, keys: set[str]) -> list[str]:
    """Calls `x.get("<rule parameter>", <default>)`: a second definition of that parameter."""
    bad = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                and len(node.args) >= 2 and isinstance(node.args[0], ast.Constant) and node.args[0].value in keys
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, (int, float))):
            bad.append(f"line {node.lineno}: .get({node.args[0].value!r}, {node.args[1].value!r})")
    return bad


def test_no_rule_threshold_has_a_second_definition_in_the_rule_engine():
    keys, values = rule_param_keys(), rule_threshold_values()
    offences = []
    for path in sorted(QUALITY.glob("*.py")):
        source = path.read_text(encoding="utf-8")
        offences += [f"{path.name}: {o}" for o in fallback_defaults(source, keys)]
        if path.name in ("data_docs.py", "assets.py"):  # layout and Dagster metadata, no rule logic
            continue
        for line, value, text in code_and_string_numbers(source):
            if value in values and looks_like_threshold(text, value) and (path.name, value) not in STRUCTURAL:
                offences.append(f"{path.name}:{line}: literal {value:g} equals a rules.yml threshold: {text}")
    assert not offences, "thresholds defined outside expectations/rules.yml:\n" + "\n".join(offences)


@pytest.mark.parametrize("source", [
    'margin = hb[0].params.get("reversal_log10_margin", 0.5)',
    'ok = students >= r.get("min_students", 1)',
    'gap_min = rule.params.get("companion_log10_min", 0.0)',
])
def test_the_threshold_check_catches_a_fallback_default(source):
    assert fallback_defaults(source, rule_param_keys())


def test_the_threshold_check_catches_a_literal_threshold():
    values = rule_threshold_values()
    # e.g. the HB constant C or the unit-slip ratio written into the engine instead of read from the rule
    assert any(v in values for _, v, _ in python_numbers("z = (e - qm) / d3\nout = z.abs() > 20.0\nk = 2.824\n"))
    # ... or into the SQL the engine renders (a threshold in a string, where only rules.yml's values may go)
    sql = 'q = f"SELECT least(abs(lr - 2.824), abs(lr + {k})) AS d FROM yoy WHERE n >= 10"\n'
    found = [(v, t) for _, v, t in code_and_string_numbers(sql) if v in values and looks_like_threshold(t, v)]
    assert {v for v, _ in found} == {2.824, 10.0}, found
    assert not string_numbers('"""min_group: 10 schools, k = 2.824 (prose)."""\n')
