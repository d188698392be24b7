"""The GX expectations derived from rules.yml: which column of which relation GX judges, and how a failing row
becomes a flag.

Data-independent configuration only: `build_checks(rules)` says, per rule (and level, and bound), the relation
(`table`, one GX suite each), the column GX judges, the expectation (`kind`: between / not_null / not_in_set /
pair_equal) with its bounds from rules.yml, and the rule, field, value and expected text a failing row flags. The
relations themselves are SQL (values_sql.py); GX is the only evaluator of the rules (gx_run.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from junheng.defs.quality.rules import LEVELS, Rule, rules_of_kind

# one GX suite per relation (values_sql.py renders each as a temporary table of the year)
TABLES = ("parts_primary", "parts_junior", "values", "subcounts", "rooms", "yoy", "returns", "events", "counties")
# relations of the year's own values: their warnings say a value is not a baseline for next year's changes
CURRENT_YEAR_TABLES = ("parts_primary", "parts_junior", "values", "subcounts", "rooms")
RETURN_SPECIAL_RANGES = ("teacher_pay_ratio", "monitoring_between_school_rate", "special_school_funding_per_student")


@dataclass(frozen=True)
class Check:
    """One GX expectation on `column` of relation `table`, and what a failing row flags.

    kind: "between" ([min_value, max_value], nulls ignored), "not_null", "not_in_set" (`value_set`, nulls
    ignored) or "pair_equal" (`column` equals `column_b`, rows with either missing ignored).
    field: the census/return column a failure flags, or "@<col>": the row's own `<col>`.
    value_column: the relation column whose value the flag reports (None: no value).
    expected: the flag's expected text; "@<col>" in it is replaced by the row's `<col>`.
    detail: a str.format template over the row (and `year`) for the flag's detail, or None for the default
    "<column> = <value> (<level>)" (year-over-year: "; last year …, log10 ratio …").
    """

    table: str
    column: str
    rule_id: str
    severity: str
    field: str | None
    expected: str | None
    min_value: float | None = None
    max_value: float | None = None
    strict_min: bool = False
    strict_max: bool = False
    kind: str = "between"
    level: str | None = None
    value_column: str | None = "value"
    column_b: str | None = None
    value_set: tuple = ()
    detail: str | None = None

    @property
    def key(self) -> str:
        """Stable id of the check within its suite (GX carries it in the expectation's meta)."""
        return f"{self.rule_id}|{self.column}|{self.field}|{self.level}|{self.min_value}|{self.max_value}"

    @property
    def judged_columns(self) -> tuple[str, ...]:
        return (self.column, self.column_b) if self.column_b else (self.column,)

    @property
    def ignores_nulls(self) -> bool:
        """GX ignores null values of the judged column (so rows where it is null need not be sent to GX)."""
        return self.kind != "not_null"

    @property
    def meta(self) -> dict:
        return {
            "check": self.key,
            "rule_id": self.rule_id,
            "severity": self.severity,
            "field": self.field,
            "expected": self.expected,
            "level": self.level,
        }


def metric_name(rule: Rule) -> str:
    return rule.id.lower().removeprefix("r_range_")


def _rng(lo, hi, unit: str = "") -> str:
    lo_s = "-∞" if lo is None else f"{lo:g}"
    hi_s = "∞" if hi is None else f"{hi:g}"
    return f"{lo_s}–{hi_s}{(' ' + unit) if unit else ''}"


def section_vars(rule: Rule) -> list[tuple[str, str]]:
    """(variable, group-level) pairs of an HB rule: section variables per level, whole-school ones once."""
    out = [(f"{lvl}_{v}", lvl) for v in rule.get("variables", {}).get("section", []) for lvl in LEVELS]
    out += [(v, "") for v in rule.get("variables", {}).get("whole_school", [])]
    return out


def build_checks(rules: dict[str, Rule]) -> list[Check]:
    """One GX expectation per rule × level (× bound), in rules.yml order (the first of two flags on the same
    school, rule and field is kept)."""
    checks: list[Check] = []
    for r in rules.values():
        p = r.params
        if r.kind == "range":
            for lvl in LEVELS:
                b = p[lvl]
                field = r.get("field").format(level=lvl)
                checks.append(Check(f"parts_{lvl}", metric_name(r), r.id, r.severity, field,
                                    _rng(b["min"], b["max"], r.get("unit", "")), b["min"], b["max"], level=lvl,
                                    value_column=field))
        elif r.kind == "students_per_class":
            for lvl in LEVELS:
                b = p[lvl]
                exp = _rng(b["min"], b["max"], "students/class")
                checks.append(Check(f"parts_{lvl}", "students_per_class", r.id, r.severity, f"{lvl}_classes",
                                    exp, min_value=b["min"], level=lvl, value_column=f"{lvl}_classes"))
                checks.append(Check(f"parts_{lvl}", "students_per_class", r.id, r.severity, f"{lvl}_students",
                                    exp, max_value=b["max"], level=lvl, value_column=f"{lvl}_students"))
        elif r.kind == "classes_for_students":
            for lvl in r.get("levels", LEVELS):
                # the classes of a section with students must be > 0, the students of one with classes too
                checks.append(Check(f"parts_{lvl}", "classes_when_students", r.id, r.severity, f"{lvl}_classes",
                                    "classes > 0 when students > 0", min_value=0, strict_min=True, level=lvl,
                                    value_column=f"{lvl}_classes"))
                checks.append(Check(f"parts_{lvl}", "students_when_classes", r.id, r.severity, f"{lvl}_students",
                                    "students > 0 when classes > 0", min_value=0, strict_min=True, level=lvl,
                                    value_column=f"{lvl}_students"))
        elif r.kind == "subcount":
            checks.append(Check("subcounts", "excess", r.id, r.severity, "@field", "≤ its total (@total_field)",
                                max_value=p["tolerance"]))
        elif r.kind == "room_area":
            checks.append(Check("rooms", "area_per_room", r.id, r.severity, "@field",
                                _rng(p["min"], p["max"], "m²/room"), p["min"], p["max"]))
            checks.append(Check("rooms", "rooms_when_area", r.id, r.severity, "@rooms_field",
                                "rooms > 0 when area > 0", kind="not_in_set", value_set=(0,)))
            checks.append(Check("rooms", "area_when_rooms", r.id, r.severity, "@field",
                                "area > 0 when rooms > 0", kind="not_in_set", value_set=(0,)))
        elif r.kind == "section_mismatch":
            checks.append(Check("values", "offsection_value", r.id, r.severity, "@field",
                                "empty or 0 (section not in the school type)", 0, 0))
        elif r.kind == "negative":
            checks.append(Check("values", "value", r.id, r.severity, "@field", "≥ 0", min_value=p["min"]))
        elif r.kind == "hb":
            info = next(iter(rules_of_kind(rules, "hb_info")), None)
            checks.append(Check("yoy", "hb_z", r.id, r.severity, "@field",
                                f"HB score within ±C={p['C']:g}", -p["C"], p["C"]))
            if info is not None:
                ci = info.params["C_info"]
                checks.append(Check("yoy", "hb_z", info.id, info.severity, "@field",
                                    f"HB score within ±C_info={ci:g}", -ci, ci))
        elif r.kind == "unit_slip":
            k, tol = p["log10_ratio"], p["tolerance"]
            checks.append(Check("yoy", f"slip__{r.id}", r.id, r.severity, "@field",
                                f"|log10(x / last year)| not within {k:g}±{tol:g}", min_value=tol))
        elif r.kind == "appeared":
            checks.append(Check("events", "last_year_school_type", r.id, r.severity, None, None, kind="not_null",
                                value_column=None, detail="new in {year}: {school_type}"))
        elif r.kind == "vanished":
            checks.append(Check("events", "school_type", r.id, r.severity, None, None, kind="not_null",
                                value_column=None, detail="in {last_year} ({last_year_school_type}), not in {year}"))
        elif r.kind == "type_changed":
            checks.append(Check("events", "school_type", r.id, r.severity, "school_type", "@last_year_school_type",
                                kind="pair_equal", column_b="last_year_school_type", value_column=None,
                                detail="school_type: {last_year_school_type} → {school_type}"))
        elif r.kind == "county_changed":
            checks.append(Check("events", "this_year_county_code", r.id, r.severity, "county_code",
                                "@last_year_county_code", kind="pair_equal", column_b="last_year_county_code",
                                value_column=None,
                                detail="county_code: {last_year_county_code} → {this_year_county_code}"))
        elif r.kind == "return_range":
            b = p["rate"]
            checks.append(Check("returns", "rate_value", r.id, r.severity, "@field", _rng(b["min"], b["max"], "%"),
                                b["min"], b["max"]))
            for col in RETURN_SPECIAL_RANGES:
                if col in p:
                    b = p[col]
                    checks.append(Check("returns", f"{col}__value", r.id, r.severity, col, _rng(b["min"], b["max"]),
                                        b["min"], b["max"]))
        elif r.kind == "return_share":
            # a non-zero rate of a return whose other rates are percentages must itself be above a share's range
            rates = next(iter(rules_of_kind(rules, "return_range")), None)
            pct = (f" ({_rng(rates.params['rate']['min'], rates.params['rate']['max'])})" if rates else "")
            checks.append(Check("returns", "rate_in_percent_return", r.id, r.severity, "@field",
                                f"a percentage{pct}, not a share ({_rng(0, p['max_share'])})",
                                min_value=p["max_share"], strict_min=True))
        elif r.kind == "return_required":
            checks.append(Check("returns", "required_value", r.id, r.severity, "@field", "reported", kind="not_null"))
        elif r.kind == "return_missing":
            checks.append(Check("counties", "return_county_code", r.id, r.severity, None, "a county return",
                                kind="not_null", value_column=None, detail="no county return"))
    return checks


def current_year_rule_ids(checks: list[Check]) -> set[str]:
    """Rules judged on the year's own values: a warning of one says last year's value is not a baseline."""
    return {ch.rule_id for ch in checks if ch.table in CURRENT_YEAR_TABLES and ch.severity == "warning"}
