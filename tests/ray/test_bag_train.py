"""The ngram_bag model through Ray Train: variable-length bags on 1 and 2 workers (DDP over gloo with a sparse
table), the loss drops, and the logged MLflow model answers raw texts."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from seqlab.tasks import load_config
from seqlab.training.driver import run_training

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.usefixtures("ray_session")


@pytest.mark.parametrize("workers", [1, 2])
def test_ngram_bag_learns_on_ray_train(tmp_path: Path, mlflow_uri: str, workers: int) -> None:
    cfg = load_config(ROOT / "configs" / "sentiment" / "tiny.yaml", [
        f"train.storage_path={tmp_path / 'store'}", f"train.num_workers={workers}", "model.name=ngram_bag",
        "train.optimizer=adam", "model.hash_buckets=256", "model.binary_bag=true", "train.epochs=6",
        "train.lr=0.05", f"tracking.log_model={workers == 2}",
    ])
    result = run_training(cfg)

    losses = [h["train_loss"] for h in result.history]
    assert len(losses) == 6 and losses[-1] < losses[0] * 0.8, losses
    if workers == 2:  # the logged pyfunc model encodes raw texts the way training did
        model = mlflow.pyfunc.load_model(result.model_uri)
        out = model.predict(["a wonderful and moving film, great fun", "boring awful waste, the worst"])
        assert out["label"].tolist() == ["positive", "negative"]
