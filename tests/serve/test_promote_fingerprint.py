"""Champions are compared only on the same validation data: two runs without a fingerprint (models from before
fingerprints) never count as the same data, and runs with equal fingerprints do. Real SQLite MLflow store."""

from __future__ import annotations

from pathlib import Path

import mlflow
from seqlab.tracking.registry import FINGERPRINT_TAG, promote
from serve_helpers import log_state_model, make_state


def test_runs_without_a_fingerprint_never_compare_equal(tmp_path: Path, mlflow_uri: str) -> None:
    mlflow.set_tracking_uri(mlflow_uri)
    state = make_state("sentiment")
    first = log_state_model(mlflow_uri, tmp_path / "a", state, {"best_val_accuracy": 0.6})
    better = log_state_model(mlflow_uri, tmp_path / "b", state, {"best_val_accuracy": 0.9})
    assert promote(mlflow_uri, "sentiment", first).promoted
    p = promote(mlflow_uri, "sentiment", better)
    assert not p.promoted and "validated on other data" in p.reason


def test_equal_fingerprints_compare_by_the_metric(tmp_path: Path, mlflow_uri: str) -> None:
    mlflow.set_tracking_uri(mlflow_uri)
    state, tags = make_state("sentiment"), {FINGERPRINT_TAG: "0123456789abcdef"}
    first = log_state_model(mlflow_uri, tmp_path / "a", state, {"best_val_accuracy": 0.6}, tags)
    worse = log_state_model(mlflow_uri, tmp_path / "b", state, {"best_val_accuracy": 0.5}, tags)
    better = log_state_model(mlflow_uri, tmp_path / "c", state, {"best_val_accuracy": 0.9}, tags)
    assert promote(mlflow_uri, "sentiment", first).promoted
    assert not promote(mlflow_uri, "sentiment", worse).promoted
    p = promote(mlflow_uri, "sentiment", better)
    assert p.promoted and p.previous_version == "1", p.reason
