#!/usr/bin/env bash
# ruff and mypy --strict on platform/seqlab (not part of CI). Both tools live in a throwaway virtualenv
# ($LINT_VENV, default $TMPDIR/seqlab-lint), installed at the versions below when missing; mypy checks against
# the project's .venv (scripts/setup.sh makes it) so it sees the installed Ray, torch, MLflow and pydantic.
# Settings: [tool.ruff] and [tool.mypy] in pyproject.toml. Exit status: non-zero if either tool reports.
set -uo pipefail
cd "$(dirname "$0")/.."

RUFF_VERSION=0.17.5
MYPY_VERSION=2.4.1
LINT_VENV=${LINT_VENV:-${TMPDIR:-/tmp}/seqlab-lint}
PROJECT_PY=${PROJECT_PY:-.venv/bin/python}

if [ ! -x "$PROJECT_PY" ]; then
    echo "lint.sh: no project interpreter at $PROJECT_PY; run 'bash scripts/setup.sh' first" \
         "or set PROJECT_PY to a python with seqlab's dependencies" >&2
    exit 2
fi
# mypy's pydantic plugin runs inside mypy's interpreter: it needs the pydantic the project uses
PYDANTIC_VERSION=$("$PROJECT_PY" -c "import pydantic; print(pydantic.VERSION)") || exit 2

installed() {  # installed <package> <version>: is that exact version in the lint venv?
    [ "$("$LINT_VENV/bin/python" -m pip show "$1" 2>/dev/null | sed -n 's/^Version: //p')" = "$2" ]
}
[ -x "$LINT_VENV/bin/python" ] || python3 -m venv "$LINT_VENV" || exit 2
if ! { installed ruff "$RUFF_VERSION" && installed mypy "$MYPY_VERSION" && installed pydantic "$PYDANTIC_VERSION"; }; then
    "$LINT_VENV/bin/python" -m pip install -q "ruff==$RUFF_VERSION" "mypy==$MYPY_VERSION" \
        "pydantic==$PYDANTIC_VERSION" || exit 2
fi

status=0
echo "== ruff $RUFF_VERSION"
"$LINT_VENV/bin/ruff" check platform/seqlab || status=1
echo "== mypy $MYPY_VERSION --strict"
MYPYPATH=platform "$LINT_VENV/bin/mypy" --strict --ignore-missing-imports --python-executable "$PROJECT_PY" \
    -p seqlab || status=1
exit $status
