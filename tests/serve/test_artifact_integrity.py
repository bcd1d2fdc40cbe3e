"""Artefact integrity: ``seqlab promote`` tags the registered version with the sha256 of its checkpoint; a
replica checks it, builds the model from the installed seqlab code and the checkpoint (``weights_only``), and
never runs the Python file stored in the artefact. A checkpoint changed after registration is refused: 503
with the reason on a first load, the old model kept on a reload. Real SQLite MLflow store, real HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import mlflow
import pytest
import torch
from local_http import serving
from seqlab.checkpoint import FORMAT
from seqlab.serve.http import make_api
from seqlab.serve.service import ModelService
from seqlab.tracking.digest import CHECKPOINT_SHA256_TAG, sha256_file
from seqlab.tracking.registry import promote
from seqlab.tracking.runs import client
from serve_helpers import log_state_model, make_state

NAME = "seqlab-sentiment"


def _stored(uri: str, tmp_path: Path, version: str, filename: str) -> Path:
    """The file ``filename`` inside the stored artefact of registered ``version`` (the store's own copy)."""
    model_id = client(uri).get_model_version(NAME, version).source.removeprefix("models:/")
    (found,) = (tmp_path / "mlartifacts" / "models" / model_id).rglob(filename)
    return found


def _promoted(uri: str, tmp_path: Path, seed: int) -> str:
    run_id = log_state_model(uri, tmp_path / f"run{seed}", make_state("sentiment", seed=seed),
                             {"best_val_accuracy": 0.5 + seed / 10})
    p = promote(uri, "sentiment", run_id, force=True)
    assert p.promoted and p.version is not None, p.reason
    return p.version


def _predict(svc: ModelService) -> httpx.Response:
    with serving(make_api(svc)) as base:
        return httpx.post(f"{base}/predict", json={"texts": ["a fine film"]}, timeout=30.0)


def test_promotion_tags_the_checkpoint_digest_and_the_replica_never_runs_artefact_code(
    tmp_path: Path, mlflow_uri: str
) -> None:
    mlflow.set_tracking_uri(mlflow_uri)
    version = _promoted(mlflow_uri, tmp_path, seed=0)
    checkpoint = _stored(mlflow_uri, tmp_path, version, "state.pt")
    tags = client(mlflow_uri).get_model_version(NAME, version).tags
    assert tags[CHECKPOINT_SHA256_TAG] == sha256_file(checkpoint)

    # the users' offline path still works
    offline = mlflow.pyfunc.load_model(f"models:/{NAME}@champion").predict(["a fine film"])
    marker = tmp_path / "artefact-code-ran"
    code = _stored(mlflow_uri, tmp_path, version, "pyfunc_model.py")
    code.write_text(f"open({str(marker)!r}, 'w').write('ran')\nraise SystemExit('artefact code ran')\n")

    svc = ModelService({"task": "sentiment", "tracking_uri": mlflow_uri})
    svc.load()
    assert svc.served is not None and svc.served.version == version, svc.model_status()
    r = _predict(svc)
    assert r.status_code == 200, r.text
    answer = r.json()["predictions"][0]["probability"]
    assert answer == pytest.approx(float(offline["probability"][0]), abs=1e-6)
    assert not marker.exists(), "the replica imported the Python file stored in the artefact"


def test_a_tampered_checkpoint_is_refused(tmp_path: Path, mlflow_uri: str) -> None:
    mlflow.set_tracking_uri(mlflow_uri)
    good = _promoted(mlflow_uri, tmp_path, seed=0)
    serving_good = ModelService({"task": "sentiment", "tracking_uri": mlflow_uri})
    serving_good.load()
    assert serving_good.served is not None and serving_good.served.version == good

    bad = _promoted(mlflow_uri, tmp_path, seed=1)
    # after registration, someone with write access to the artefact store swaps in other (valid) weights
    other = make_state("sentiment", seed=2)
    torch.save({"format": FORMAT, **other}, _stored(mlflow_uri, tmp_path, bad, "state.pt"))

    fresh = ModelService({"task": "sentiment", "tracking_uri": mlflow_uri})  # first load: nothing to serve
    fresh.load()
    with serving(make_api(fresh)) as base:
        ready = httpx.get(f"{base}/readyz", timeout=30.0)
        r = httpx.post(f"{base}/predict", json={"texts": ["a fine film"]}, timeout=30.0)
    assert ready.status_code == 503 and "sha256" in ready.json()["reason"], ready.text
    assert f"models:/{NAME}/{bad}" in ready.json()["reason"]
    assert r.status_code == 503 and "changed after it was registered" in r.json()["detail"], r.text

    serving_good.load({"model_version": bad})  # reload: the old model keeps answering
    status = serving_good.model_status()
    assert status["version"] == good and "sha256" in (status["last_error"] or ""), status
    assert _predict(serving_good).json()["version"] == good


def test_a_version_without_a_digest_is_refused(tmp_path: Path, mlflow_uri: str) -> None:
    mlflow.set_tracking_uri(mlflow_uri)
    run_id = log_state_model(mlflow_uri, tmp_path, make_state("sentiment"))
    mlflow.set_registry_uri(mlflow_uri)
    version = mlflow.register_model(f"runs:/{run_id}/model", NAME).version  # not through seqlab promote
    client(mlflow_uri).set_registered_model_alias(NAME, "champion", version)
    svc = ModelService({"task": "sentiment", "tracking_uri": mlflow_uri})
    svc.load()
    assert svc.served is None and CHECKPOINT_SHA256_TAG in svc.reason, svc.reason
