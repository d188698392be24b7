"""The mart contracts as dbt declares them (dbt_project/models/marts/**/*.yml): the one source of every mart's
columns, types and not-null constraints. The report fixture creates its tables from here, and the contract tests check
the reports' column lists against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

MARTS_DIR = Path(__file__).resolve().parents[1] / "dbt_project" / "models" / "marts"


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str
    not_null: bool
    checks: tuple[str, ...] = ()


@lru_cache(maxsize=1)
def contracts() -> dict[str, tuple[Column, ...]]:
    """{"marts.<model>": columns in declared order} for every mart with an enforced contract."""
    out: dict[str, tuple[Column, ...]] = {}
    for path in sorted(MARTS_DIR.rglob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for model in doc.get("models", []):
            if not (model.get("config", {}).get("contract", {}).get("enforced")):
                continue
            cols = []
            for c in model["columns"]:
                constraints = c.get("constraints", [])
                cols.append(Column(
                    name=c["name"],
                    data_type=c["data_type"],
                    not_null=any(k.get("type") == "not_null" for k in constraints),
                    checks=tuple(k["expression"] for k in constraints if k.get("type") == "check"),
                ))
            out[f"marts.{model['name']}"] = tuple(cols)
    return out


def columns(table: str) -> list[str]:
    return [c.name for c in contracts()[table]]


def create_table_sql(table: str) -> str:
    """CREATE TABLE for a mart exactly as its contract declares it (types, NOT NULL and CHECK constraints)."""
    parts = []
    for c in contracts()[table]:
        parts.append(f"{c.name} {c.data_type.upper()}" + (" NOT NULL" if c.not_null else ""))
    for c in contracts()[table]:
        parts.extend(f"CHECK ({expr})" for expr in c.checks)
    return f"CREATE TABLE {table} (\n    " + ",\n    ".join(parts) + "\n)"
