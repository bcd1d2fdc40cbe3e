"""The seam holds: a task defined only in tests/ (tests/tasks/seqlab_trend_task.py, registered through
SEQLAB_TASK_MODULES by tests/conftest.py) goes through train -> promote -> serve with real Ray Train, a real
SQLite MLflow store and real HTTP on 127.0.0.1, with no change to platform/."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pytest

from seqlab.tasks import load_config
from seqlab.serve.schemas import ServeArgs
from seqlab.serve.deploy import deploy
from seqlab.tasks import TASKS
from seqlab.tracking.registry import promote
from seqlab.training.driver import run_training

pytestmark = pytest.mark.usefixtures("ray_session")

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_task_defined_in_tests_trains_promotes_and_serves(tmp_path: Path, mlflow_uri: str) -> None:
    from ray import serve

    assert "trend" in TASKS and TASKS["trend"].__module__ == "seqlab_trend_task"
    assert not (ROOT / "platform").joinpath("seqlab", "tasks", "seqlab_trend_task.py").exists()
    cfg = load_config(None, {"task": "trend", "train.epochs": 3, "train.lr": 0.03, "train.batch_size": 32,
                             "train.num_workers": 1, "train.storage_path": str(tmp_path / "ray"),
                             "tracking.tracking_uri": mlflow_uri})
    cwd = os.getcwd()
    os.chdir(tmp_path)  # MLflow's default artefact root is relative to the working folder
    try:
        result = run_training(cfg)  # a Ray Train worker process: it must know the task too
        assert result.run_id is not None and result.metrics["val_accuracy"] > 0.9
        promotion = promote(mlflow_uri, "trend", result.run_id)
        assert promotion.promoted and promotion.name == "seqlab-trend", promotion.reason

        port = _free_port()
        urls = deploy([ServeArgs(task="trend", tracking_uri=mlflow_uri, num_cpus=0.5)], port=port)
        try:
            rising = np.linspace(-1.0, 1.0, 16).tolist()
            with httpx.Client(base_url=urls["trend"], timeout=30.0) as http:
                up = http.post("/predict", json={"values": rising})
                down = http.post("/predict", json={"values": rising[::-1]})
                assert up.status_code == 200 and down.status_code == 200, (up.text, down.text)
                assert (up.json()["label"], down.json()["label"]) == ("rising", "falling")
                assert up.json()["version"] == promotion.version
                offline = mlflow.pyfunc.load_model("models:/seqlab-trend@champion").predict(rising)
                assert up.json()["probability"] == pytest.approx(float(offline["probability"].iloc[0]), abs=1e-6)
                info = http.get("/info").json()
                assert (info["task"], info["window"]) == ("trend", {"length": 16})
                bad = http.post("/predict", json={"values": [1.0, 2.0]})
                assert bad.status_code == 422 and "exactly 16" in bad.json()["detail"]
                schema = http.get("/openapi.json").json()["paths"]["/predict"]["post"]["requestBody"]
                assert schema["content"]["application/json"]["schema"]["properties"]["values"]["minItems"] == 16
            assert httpx.get(urls["readyz"], timeout=30.0).json()["ready"] is True
            deployments = serve.status().applications["trend"].deployments
            assert "TrendServer" in deployments  # the deployment's name derives from the task's
        finally:
            serve.shutdown()
    finally:
        os.chdir(cwd)
