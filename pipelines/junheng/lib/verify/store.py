"""Where answers live and the one place they are applied (issue 15).

`raw.flag_answers` is append-only: one row per answer a county returned in a query workbook (核查表), with the file's
checksum, who answered and when, and the run that imported it. Nothing edits `raw.census_schools`.

An answer carries two fingerprints of the value it was about, both taken when the workbook was exported:
`census_value` (the value as submitted in `raw.census_schools`) and `shown_value` (the value in force the workbook
showed: the submitted value, or an earlier correction of it). An answer *applies* while the submitted value is still
`census_value`: a reload of the census files that changes the value reopens it, one that keeps the value keeps it.

The views below are the single definition of the official figures that both the quality flags (defs/quality, via
`raw.census_schools_corrected`) and dbt (`stg_census_schools`) read:

- `raw.flag_answers_applicable`: every answer with `applies`.
- `raw.census_corrections_in_force`: per (year, school, field) the latest applicable 更正 (correction).
- `raw.census_schools_corrected`: `raw.census_schools` with those corrections in place (the value in force).
- `raw.flag_confirmations_in_force`: per (year, school, rule, field) the applicable 确认无误 answers whose
  `shown_value` is still the value in force (a confirmation of a value that a later correction replaced no longer
  applies).
"""

from __future__ import annotations

from junheng.lib.schema import CENSUS_COLUMNS

MEASURES: tuple[str, ...] = tuple(c.name for c in CENSUS_COLUMNS if c.kind == "number")
VERDICTS = {"确认无误": "confirmed", "更正": "corrected"}
VERDICT_ZH = {v: k for k, v in VERDICTS.items()}

ANSWER_COLUMNS = (
    ("answer_id", "VARCHAR", "答复编号 answer id: sha256 of the file checksum and the row"),
    ("year", "INTEGER", "统计年度 statistical year of the flagged value"),
    ("county_code", "VARCHAR", "县级行政区划代码 county code"),
    ("school_code", "VARCHAR", "学校标识码 school code"),
    ("rule_id", "VARCHAR", "规则编号 the rule of the flag answered (expectations/rules.yml)"),
    ("field", "VARCHAR", "字段 the census column answered"),
    ("verdict", "VARCHAR", "核实结果 confirmed (确认无误) or corrected (更正)"),
    ("corrected_value", "DOUBLE", "更正值 the corrected value (corrected only), in the column's unit"),
    ("note", "VARCHAR", "说明 the county's note"),
    ("answered_by", "VARCHAR", "填报人 who answered"),
    ("answered_on", "VARCHAR", "填报日期 when they answered, as written"),
    ("census_value", "DOUBLE", "导出时的填报值 the submitted value when the workbook was exported (fingerprint)"),
    ("shown_value", "DOUBLE", "导出时的现行值 the value in force the workbook showed (submitted or corrected)"),
    ("fingerprint", "VARCHAR", "标记指纹 sha256 of year, school, rule, field and both values at export"),
    ("source_file", "VARCHAR", "来源文件 the returned workbook's file name"),
    ("source_sha256", "VARCHAR", "来源文件校验值 SHA-256 of the workbook"),
    ("source_sheet", "VARCHAR", "来源工作表 sheet of the answer"),
    ("source_row", "INTEGER", "来源行号 spreadsheet row of the answer"),
    ("imported_at", "TIMESTAMP", "导入时间 when it was imported (UTC)"),
    ("import_run_id", "VARCHAR", "导入运行编号 run id of the import"),
)


def _field_value(alias: str) -> str:
    """The census column named by `field` of the joined row: one CASE over the measures."""
    whens = " ".join(f"WHEN '{m}' THEN {alias}.{m}" for m in MEASURES)
    return f"CASE a.field {whens} END"


def verify_ddl() -> list[str]:
    cols = ",\n  ".join(f"{n} {t}" for n, t, _ in ANSWER_COLUMNS)
    pivot = ",\n    ".join(f"max(value) FILTER (WHERE field = '{m}') AS {m}" for m in MEASURES)
    replace = ", ".join(f"coalesce(c.{m}, s.{m}) AS {m}" for m in MEASURES)
    return [
        "CREATE SCHEMA IF NOT EXISTS raw",
        f"CREATE TABLE IF NOT EXISTS raw.flag_answers (\n  {cols}\n)",
        f"""CREATE OR REPLACE VIEW raw.flag_answers_applicable AS
SELECT a.*, {_field_value('s')} AS current_census_value,
       coalesce(s.school_code IS NOT NULL AND a.census_value IS NOT DISTINCT FROM ({_field_value('s')}), false) AS applies
FROM raw.flag_answers a
LEFT JOIN raw.census_schools s ON s.year = a.year AND s.school_code = a.school_code""",
        """CREATE OR REPLACE VIEW raw.census_corrections_in_force AS
SELECT year, county_code, school_code, field, corrected_value AS value, answer_id, imported_at
FROM raw.flag_answers_applicable
WHERE applies AND verdict = 'corrected'
QUALIFY row_number() OVER (PARTITION BY year, school_code, field
                           ORDER BY imported_at DESC, source_row DESC, answer_id DESC) = 1""",
        f"""CREATE OR REPLACE VIEW raw.census_schools_corrected AS
WITH c AS (
  SELECT year, school_code,
    {pivot}
  FROM raw.census_corrections_in_force GROUP BY year, school_code
)
SELECT s.* REPLACE ({replace})
FROM raw.census_schools s LEFT JOIN c ON c.year = s.year AND c.school_code = s.school_code""",
        f"""CREATE OR REPLACE VIEW raw.flag_confirmations_in_force AS
SELECT a.year, a.county_code, a.school_code, a.rule_id, a.field, a.answer_id, a.answered_by, a.imported_at
FROM raw.flag_answers_applicable a
LEFT JOIN raw.census_schools_corrected s ON s.year = a.year AND s.school_code = a.school_code
WHERE a.applies AND a.verdict = 'confirmed' AND a.shown_value IS NOT DISTINCT FROM ({_field_value('s')})
QUALIFY row_number() OVER (PARTITION BY a.year, a.school_code, a.rule_id, a.field
                           ORDER BY a.imported_at DESC, a.answer_id DESC) = 1""",
    ]


_DESC = {n: d for n, _, d in ANSWER_COLUMNS} | {
    "current_census_value": "当前填报值 the field's value in raw.census_schools now",
    "applies": "仍然适用 the submitted value is still the one the workbook was exported with",
    "value": "更正值 the corrected value in force",
    "urban_rural_code": "城乡分类代码 the 3-digit urban/rural code when the file gave one",
    "extra_columns": "额外列 JSON object of the columns the contract does not name, as submitted",
    "loaded_at": "入库时间 when the row was loaded (UTC)",
    "load_run_id": "入库运行编号 run id of the load that wrote the row",
} | {c.name: f"{c.zh} {c.name}" + (" (value in force: as submitted, or as corrected by the county)"
                                    if c.kind == "number" else "") for c in CENSUS_COLUMNS} | {
    "source_file": "来源文件 the file the row came from",
    "source_sha256": "来源文件校验值 SHA-256 of that file",
    "source_row": "来源行号 spreadsheet row in that file",
}
_VIEW_DESC = {
    "flag_answers": "核查答复（只追加）/ append-only answers to the query workbooks (issue 15)",
    "flag_answers_applicable": "核查答复及是否仍适用 / every answer, and whether it still applies (the submitted value "
                               "is still the one exported)",
    "census_corrections_in_force": "现行更正 / per year, school and field the latest correction that applies",
    "census_schools_corrected": "现行学校普查 / raw.census_schools with the corrections in force: the official values "
                                "the quality flags and dbt read",
    "flag_confirmations_in_force": "现行确认 / confirmations (确认无误) that apply to the value in force",
}


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ensure_verify_schema(conn) -> None:
    for stmt in verify_ddl():
        conn.execute(stmt)
    # Bilingual comments (a view replaced loses them): the table and the views are created here, not by dbt.
    for name, text in _VIEW_DESC.items():
        kind = "TABLE" if name == "flag_answers" else "VIEW"
        conn.execute(f"COMMENT ON {kind} raw.{name} IS {_q(text)}")
        for (col,) in conn.execute("SELECT column_name FROM duckdb_columns() WHERE schema_name = 'raw' "
                                   "AND table_name = ?", [name]).fetchall():
            if col in _DESC:
                conn.execute(f"COMMENT ON COLUMN raw.{name}.{col} IS {_q(_DESC[col])}")


def confirmed_fields(conn, year: int) -> set[tuple[str, str]]:
    """(school_code, field) of `year` whose value a county confirmed: a real value, a baseline for next year's
    year-over-year rules even though a current-year rule flags it."""
    if not _exists(conn, "flag_confirmations_in_force"):
        return set()
    return set(conn.execute("SELECT DISTINCT school_code, field FROM raw.flag_confirmations_in_force WHERE year = ?",
                            [year]).fetchall())


def _exists(conn, name: str) -> bool:
    return bool(conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw' "
                             "AND table_name = ?", [name]).fetchone()[0])


def census_relation(conn) -> str:
    """What the quality flags read: the census with corrections in force (or the raw table in a warehouse that
    predates answers, e.g. opened read-only)."""
    return "raw.census_schools_corrected" if _exists(conn, "census_schools_corrected") else "raw.census_schools"
