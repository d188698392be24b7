"""Helpers for the tests that load with real processes: small data folders, a load started as `junheng run` in its
own process, digests of what analysts see (the warehouse file and its Data Docs)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import psutil

REPO = Path(__file__).resolve().parents[1]
COUNTY = "341722"  # 石台县: the sample's smallest county (fast loads)


def make_data(root: Path, years: tuple[int, ...], county: str = COUNTY) -> Path:
    data = root / "data"
    for year in years:
        for f in sorted((REPO / "data" / "census" / str(year)).glob(f"{county}_*")):
            dst = data / "census" / str(year) / f.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, dst)
    return data


def junheng(*args: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "junheng.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, **kw)


def start(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "junheng.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})})


def published_digest(wh: Path) -> str:
    """What analysts see: the warehouse file's bytes and every file of its Data Docs."""
    h = hashlib.sha256(wh.read_bytes() if wh.exists() else b"")
    docs = wh.parent / "docs" / "gx"
    if docs.exists():
        for f in sorted(p for p in docs.resolve().rglob("*") if p.is_file()):
            h.update(str(f.relative_to(docs.resolve())).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def years_in(wh: Path) -> list[int]:
    with duckdb.connect(str(wh), read_only=True) as conn:
        return [y for (y,) in conn.execute("select distinct year from raw.census_schools order by 1").fetchall()]


def wait_for(predicate, timeout: float = 240, what: str = "condition") -> None:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)


def dbt_children(pid: int) -> list[str]:
    """The command lines of the dbt processes a load has started (and that are still running)."""
    out = []
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    for child in children:
        try:
            cmd = " ".join(child.cmdline())
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        if "dbt" in cmd:
            out.append(cmd)
    return out


def dbt_processes_on(wh: Path) -> list[psutil.Process]:
    """Any dbt process still working on this warehouse's copy (orphans included): plain dbt (its environment names
    the copy), or the load's dbt launcher and the dbt it forked (their environment is the load's, naming the
    warehouse: lib/dbt_launcher.py)."""
    out = []
    for p in psutil.process_iter(["cmdline", "environ"]):
        try:
            env = p.environ() or {}
            if "dbt" in " ".join(p.info["cmdline"] or []) and (
                    str(wh) in env.get("JUNHENG_DBT_DATABASE", "") or env.get("JUNHENG_WAREHOUSE") == str(wh)):
                out.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return out
