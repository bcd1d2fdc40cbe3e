#!/usr/bin/env bash
# Create .venv (Python 3.11) and install seqlab with its test extras. Sourced by main.sh and test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# torch is pinned to 2.13.0 in pyproject.toml: on these machines that is a local CPU build.
python -m pip install -q -e ".[test]"
export RAY_USAGE_STATS_ENABLED=0
