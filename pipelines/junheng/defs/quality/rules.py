"""The plausibility rules as configuration: `expectations/rules.yml` (ids, severities, thresholds, descriptions)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

# pipelines/junheng/defs/quality/rules.py -> repo root
REPO_ROOT = Path(__file__).resolve().parents[4]
EXPECTATIONS_DIR = REPO_ROOT / "expectations"
RULES_PATH = EXPECTATIONS_DIR / "rules.yml"
SUITES_DIR = EXPECTATIONS_DIR / "suites"

LEVELS = ("primary", "junior")
SEVERITIES = ("warning", "info")


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    kind: str
    params: dict[str, Any]
    description: dict[str, dict[str, str]]
    spec: dict[str, Any] = field(default_factory=dict)  # every other key of the rule (field, pairs, variables...)

    def get(self, key: str, default: Any = None) -> Any:
        return self.spec.get(key, default)

    def text(self, lang: str = "en") -> str:
        d = self.description.get(lang, {})
        return " ".join(d.get(k, "") for k in ("what", "when", "resolve")).strip()


def rules_path() -> Path:
    return Path(os.environ.get("JUNHENG_RULES", RULES_PATH))


def parse_rules(doc: dict[str, Any]) -> dict[str, Rule]:
    rules: dict[str, Rule] = {}
    for raw in doc["rules"]:
        raw = dict(raw)
        rid = raw.pop("id")
        if rid in rules:
            raise ValueError(f"rule {rid} defined twice")
        sev = raw.pop("severity")
        if sev not in SEVERITIES:
            raise ValueError(f"rule {rid}: severity {sev!r} is not one of {SEVERITIES}")
        desc = raw.pop("description")
        for lang in ("zh", "en"):
            for part in ("what", "when", "resolve"):
                if not desc.get(lang, {}).get(part):
                    raise ValueError(f"rule {rid}: description.{lang}.{part} missing")
        rules[rid] = Rule(
            id=rid,
            severity=sev,
            kind=raw.pop("kind"),
            params=raw.pop("params", {}) or {},
            description=desc,
            spec=raw,
        )
    return rules


@lru_cache(maxsize=8)
def _load(path: str, mtime: float) -> dict[str, Rule]:
    with open(path, encoding="utf-8") as fh:
        return parse_rules(yaml.safe_load(fh))


def load_rules(path: Path | None = None) -> dict[str, Rule]:
    p = Path(path) if path else rules_path()
    return _load(str(p), p.stat().st_mtime)


def rules_of_kind(rules: dict[str, Rule], kind: str) -> list[Rule]:
    return [r for r in rules.values() if r.kind == kind]
