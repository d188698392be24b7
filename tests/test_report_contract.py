"""One contract from marts to pages: the dbt mart contracts (dbt_project/models/marts/**/*.yml) are the source; the
columns the reports read (junheng.reports.data.READS) and the report fixture's tables must be in them."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from junheng.reports import data as D
from junheng.reports import labels as L
from mart_contract import contracts, create_table_sql
from report_fixture import write_report_fixture

SEEDS = Path(__file__).resolve().parents[1] / "dbt_project" / "seeds"


def contract_problems(reads: dict[str, tuple[str, ...]]) -> list[str]:
    """Every table or column in ``reads`` that no mart contract declares."""
    have = {t: {c.name for c in cols} for t, cols in contracts().items()}
    problems = []
    for table, cols in reads.items():
        if table not in have:
            problems.append(f"{table}: not a mart with a contract")
            continue
        problems += [f"{table}.{c}: not in the contract" for c in cols if c not in have[table]]
    return problems


def test_every_report_column_is_in_the_mart_contract():
    assert contract_problems(D.READS) == []
    assert all(t.startswith("marts.") for t in D.READS)  # the reports read marts, nothing else


def test_the_check_fails_for_a_column_outside_the_contract():
    bad = {**D.READS, "marts.quality_verdict": (*D.READS["marts.quality_verdict"], "overall_verdict"),
           "marts.no_such_mart": ("x",)}
    assert contract_problems(bad) == ["marts.quality_verdict.overall_verdict: not in the contract",
                                      "marts.no_such_mart: not a mart with a contract"]


def test_fixture_tables_are_the_contracts(tmp_path):
    wh = write_report_fixture(tmp_path / "f.duckdb")
    con = duckdb.connect(str(wh), read_only=True)
    try:
        got = {}
        for table, column, dtype in con.execute(
            "SELECT table_schema || '.' || table_name, column_name, data_type FROM information_schema.columns "
            "ORDER BY table_schema, table_name, ordinal_position"
        ).fetchall():
            got.setdefault(table, []).append((column, dtype.lower()))
        D.check_marts(con)  # and the reports find everything they read
    finally:
        con.close()
    want = {t: [(c.name, c.data_type.lower()) for c in cols] for t, cols in contracts().items()}
    assert got == want


def test_fixture_rows_must_satisfy_the_contract(tmp_path):
    con = duckdb.connect(str(tmp_path / "x.duckdb"))
    con.execute("CREATE SCHEMA marts")
    con.execute(create_table_sql("marts.quality_verdict"))
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO marts.quality_verdict (county_code, year, verdict) VALUES ('431230', 2024, 'passed')")


def test_indicator_labels_match_the_seed():
    with (SEEDS / "indicators.csv").open(encoding="utf-8") as fh:
        seed = {r["indicator"]: r for r in csv.DictReader(fh)}
    assert set(seed) == set(L.INDICATORS)
    for code, (name, _unit, _decimals, gap_unit) in L.INDICATORS.items():
        assert name == seed[code]["name_zh"], code
        assert gap_unit in (None, seed[code]["gap_unit_zh"]), code
