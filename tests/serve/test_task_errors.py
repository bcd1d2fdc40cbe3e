"""What the server answers when the model, not the request, is the problem: a model of another task behind an
endpoint (503 with the reason, never a 500) and an answer that is not a finite number (never 200 with null).
The wrong-task model is registered in a real SQLite MLflow store and loaded the way a replica loads it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient
from seqlab.errors import SeqlabError
from seqlab.serve.http import make_api
from seqlab.serve.model import ModelUnavailable, ServedModel
from seqlab.serve.service import ModelService
from seqlab.tasks.base import ModelOutputError
from seqlab.tracking.pyfunc import LoadedModel
from serve_helpers import log_state_model, make_state, weather_rows


def _register(uri: str, tmp_path: Path, state: dict[str, Any], name: str) -> str:
    """Log ``state`` as a seqlab pyfunc model in a fresh run and register it as ``name``; its version."""
    import mlflow

    from seqlab.tracking.runs import client
    from seqlab.tracking.digest import CHECKPOINT_SHA256_TAG, checkpoint_sha256

    run_id = log_state_model(uri, tmp_path, state)
    mlflow.set_registry_uri(uri)
    version = str(mlflow.register_model(f"runs:/{run_id}/model", name).version)
    # what `seqlab promote` records: replicas load only a checkpoint whose digest matches
    client(uri).set_model_version_tag(name, version, CHECKPOINT_SHA256_TAG,
                                      checkpoint_sha256(uri, name, version))
    return version


def test_a_model_of_another_task_is_503_with_the_reason(tmp_path: Path, mlflow_uri: str) -> None:
    version = _register(mlflow_uri, tmp_path, make_state("forecast"), "seqlab-sentiment")
    from seqlab.tracking.runs import client

    client(mlflow_uri).set_registered_model_alias("seqlab-sentiment", "champion", version)
    svc = ModelService({"task": "sentiment", "tracking_uri": mlflow_uri})
    svc.load()
    with TestClient(make_api(svc)) as http:
        ready = http.get("/readyz")
        assert ready.status_code == 503
        assert "is a 'forecast' model; this endpoint serves 'sentiment'" in ready.json()["reason"]
        r = http.post("/predict", json={"texts": ["a fine film"]})
        assert r.status_code == 503 and "'forecast' model" in r.json()["detail"], r.text
        assert http.get("/info").status_code == 503


def test_use_refuses_a_model_of_another_task(tmp_path: Path) -> None:
    svc = ModelService({"task": "sentiment", "tracking_uri": f"sqlite:///{tmp_path}/none.db"})
    with pytest.raises(ModelUnavailable, match="is a 'forecast' model"):
        svc.use(ServedModel(LoadedModel(make_state("forecast")), "m", "1", None, None))
    assert svc.served is None


def _nan_model(task: str) -> LoadedModel:
    state = make_state(task)
    state["best_model_state"] = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
                                 for k, v in state["best_model_state"].items()}
    return LoadedModel(state)


@pytest.mark.parametrize(
    "task, body",
    [("sentiment", {"texts": ["a fine film"]}), ("forecast", {"rows": weather_rows(30)})],
)
def test_a_non_finite_answer_is_503_never_200(tmp_path: Path, task: str, body: dict[str, Any]) -> None:
    svc = ModelService({"task": task, "tracking_uri": f"sqlite:///{tmp_path}/none.db"})
    svc.use(ServedModel(_nan_model(task), f"seqlab-{task}", "1", None, None))
    with TestClient(make_api(svc)) as http:
        r = http.post("/predict", json=body)
        assert r.status_code == 503, r.text
        assert "not a finite number" in r.json()["detail"]


def test_the_pyfunc_raises_instead_of_answering_nan() -> None:
    with pytest.raises(ModelOutputError, match="texts\\[0\\].*not a finite number"):
        _nan_model("sentiment").predict(["a fine film"])
    with pytest.raises(SeqlabError, match="texts\\[1\\]: no word"):
        LoadedModel(make_state("sentiment")).predict(["fine", "!!!"])
