"""Ray Train + MLflow: both tasks on 2 workers, the logged run, the loadable model, resume after a kill."""

from __future__ import annotations

import signal
import tempfile
import threading
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import psutil
import pytest

from seqlab.checkpoint import load_state
from seqlab.tasks import load_config
from seqlab.data.synthetic import synthetic_weather
from seqlab.errors import CheckpointError, ConfigError, TrackingError
from seqlab.training.driver import run_training
from seqlab.training.resume import checkpoint_dirs

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.usefixtures("ray_session")


def _cfg(task: str, tmp_path: Path, *overrides: str):  # type: ignore[no-untyped-def]
    return load_config(ROOT / "configs" / task / "tiny.yaml", [f"train.storage_path={tmp_path / 'store'}", *overrides])


def test_sentiment_two_workers_tracked_and_loadable(tmp_path: Path, mlflow_uri: str) -> None:
    cfg = _cfg("sentiment", tmp_path, "train.num_workers=2", "train.epochs=4")
    result = run_training(cfg)

    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4]
    assert 0.0 <= result.test_metrics["test_accuracy"] <= 1.0
    client = mlflow.MlflowClient(tracking_uri=mlflow_uri, registry_uri=mlflow_uri)
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["model.name"] == "gru" and run.data.params["train.num_workers"] == "2"
    assert run.data.params["data.origin"]  # dataset name and sizes are logged
    steps = [m.step for m in client.get_metric_history(result.run_id, "val_accuracy")]
    assert steps == [1, 2, 3, 4]
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert "resolved.yaml" in artifacts
    assert {a.path for a in client.list_artifacts(result.run_id, "curves")} >= {"curves/loss.png", "curves/accuracy.png"}

    model = mlflow.pyfunc.load_model(result.model_uri)
    out = model.predict(["a wonderful and moving film", "boring awful waste"])
    assert list(out.columns[:2]) == ["probability", "label"]
    assert len(out) == 2 and out["probability"].between(0, 1).all()


def test_forecast_two_workers_predicts_from_raw_rows(tmp_path: Path, mlflow_uri: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _cfg("forecast", tmp_path, "train.num_workers=2")
    scratch = tmp_path / "tmp"  # this process's temporary folder: a run must leave nothing of its own there
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    result = run_training(cfg)
    # a copy of every run's checkpoint was left in the temp folder (538 MB per ngram_bag run)
    assert sorted(p.name for p in scratch.iterdir() if p.name.startswith("seqlab-")) == []
    assert Path(result.checkpoint_path).parent.parent == tmp_path / "store"  # the run's own, under storage
    assert load_state(result.checkpoint_path, task="forecast")["epoch"] == 3

    assert result.metrics["val_mae"] > 0 and np.isfinite(result.test_metrics["test_mae_degrees"])
    client = mlflow.MlflowClient(tracking_uri=mlflow_uri, registry_uri=mlflow_uri)
    assert [m.step for m in client.get_metric_history(result.run_id, "val_mae")] == [1, 2, 3]
    rows = synthetic_weather(60, seed=3).sample(frac=1.0, random_state=0)  # any order is fine
    rows["time"] = rows["time"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    out = mlflow.pyfunc.load_model(result.model_uri).predict(rows)
    assert len(out) == 1 and np.isfinite(out["prediction"].iloc[0])
    last = pd.Timestamp(rows["time"].max(), tz="UTC")
    assert pd.Timestamp(out["target_time"].iloc[0]) == last + pd.Timedelta(hours=cfg.data.delay)


def _train_workers() -> list[psutil.Process]:
    """Training worker processes of *this* test session's Ray (children of its raylet), not of other Rays."""
    import ray

    node = ray._private.worker._global_node
    raylet = psutil.Process(node.all_processes["raylet"][0].process.pid)
    return [p for p in raylet.children(recursive=True) if "RayTrainWorker" in " ".join(p.cmdline())]


def test_worker_killed_mid_run_resumes_from_checkpoint(tmp_path: Path, mlflow_uri: str) -> None:
    epochs = 16  # the kill comes after the 3rd checkpoint: the restart still has most epochs to run
    cfg = _cfg("forecast", tmp_path, "train.num_workers=2", f"train.epochs={epochs}", "train.max_failures=2",
               "train.run_name=killme", "train.max_steps_per_epoch=20")
    run_dir = tmp_path / "store" / "killme"
    box: dict[str, object] = {}
    thread = threading.Thread(target=lambda: box.update(result=run_training(cfg)), daemon=True)
    thread.start()
    deadline = time.time() + 120
    while time.time() < deadline and len(checkpoint_dirs(run_dir)) < 3:
        time.sleep(0.2)
    assert len(checkpoint_dirs(run_dir)) >= 3, "training did not write 3 checkpoints before the deadline"
    victims = _train_workers()
    assert victims, "no training worker process found to kill"
    victims[-1].send_signal(signal.SIGKILL)
    thread.join(timeout=240)
    assert not thread.is_alive()
    result = box["result"]
    history = result.history  # type: ignore[attr-defined]
    assert [h["epoch"] for h in history] == list(range(1, epochs + 1))  # every epoch once, none lost or repeated
    resumed = [h["resumed_from"] for h in history]
    assert max(resumed) > 0, "training restarted from epoch 0 instead of the checkpoint"
    k = max(resumed)
    assert all(r == k for r in resumed[k:]) and all(r == 0 for r in resumed[:k])
    client = mlflow.MlflowClient(tracking_uri=mlflow_uri)
    steps = sorted(int(m.step) for m in client.get_metric_history(result.run_id, "val_mae"))  # type: ignore[attr-defined]
    assert steps == list(range(1, epochs + 1))  # in MLflow too: each epoch logged once


def test_corrupt_checkpoint_is_refused_and_left_untouched(tmp_path: Path, mlflow_uri: str) -> None:
    ckpt = tmp_path / "store" / "broken" / "checkpoint_000"
    ckpt.mkdir(parents=True)
    (ckpt / "state.pt").write_bytes(b"not a checkpoint")
    cfg = _cfg("sentiment", tmp_path, "train.run_name=broken")
    with pytest.raises(CheckpointError, match="corrupt or not a seqlab checkpoint"):
        run_training(cfg)
    assert (ckpt / "state.pt").read_bytes() == b"not a checkpoint"


def test_foreign_checkpoint_names_the_mismatch(tmp_path: Path, mlflow_uri: str) -> None:
    cfg = _cfg("forecast", tmp_path, "train.run_name=mixed", "train.epochs=1")
    run_training(cfg, track=False)
    other = _cfg("forecast", tmp_path, "train.run_name=mixed", "model.name=lstm")
    with pytest.raises(CheckpointError, match="holds model 'gru', not 'lstm'"):
        run_training(other, track=False)
    state = load_state(checkpoint_dirs(tmp_path / "store" / "mixed")[0])
    assert state["config"]["model"]["name"] == "gru"


def test_unreachable_store_fails_before_training(tmp_path: Path) -> None:
    cfg = _cfg("sentiment", tmp_path, f"tracking.tracking_uri=sqlite:///{tmp_path}/no/such/dir/mlflow.db")
    with pytest.raises(TrackingError, match="no/such/dir"):
        run_training(cfg)
    assert not (tmp_path / "store").exists()


def test_gpu_request_on_cpu_cluster_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="use_gpu"):
        run_training(_cfg("sentiment", tmp_path, "train.use_gpu=true"), track=False)
