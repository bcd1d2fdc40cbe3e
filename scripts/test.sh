#!/usr/bin/env bash
# The README's test command: set up .venv, then run the whole test suite. .ci/run calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
exec python -m pytest "$@"
