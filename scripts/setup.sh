#!/usr/bin/env bash
# Set up a fresh machine: a Python 3.11 virtual environment in .venv with the project installed.
#   bash scripts/setup.sh          the pipeline (junheng, dagster, dbt, GX)
#   bash scripts/setup.sh --test   also pytest, and Debian's chromium + CJK fonts for the report render test
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 needed, found {sys.version}"'

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
if [ "${1:-}" = "--test" ]; then
    .venv/bin/python -m pip install --quiet -e ".[test]"
    bash scripts/install_system_deps.sh
else
    .venv/bin/python -m pip install --quiet -e .
fi
# Parse the dbt project once now, so the first run does not pay for it.
.venv/bin/python -c "from junheng.defs.dbt.assets import ensure_manifest; ensure_manifest()"
echo "setup: ready (.venv)"
