#!/usr/bin/env bash
# The README's main job: set up .venv, then on the packaged data train a sentiment and a forecast model on a
# local Ray, track them in MLflow (sqlite:///mlflow.db), register them as champions and serve both on
# http://127.0.0.1:8000 until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
exec seqlab pipeline --config configs/pipeline.yaml --block "$@"
