"""Resume safety: a rerun with the same run name but other data/model settings is refused before any work,
naming the keys; ``train.force_new`` starts afresh and keeps the old folder; the old run stays FINISHED."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from seqlab.tasks import load_config
from seqlab.errors import CheckpointError
from seqlab.training.driver import run_training
from seqlab.training.resume import checkpoint_dirs

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("ray_session")


def _cfg(tmp_path: Path, *overrides: str):  # type: ignore[no-untyped-def]
    return load_config(ROOT / "configs" / "sentiment" / "tiny.yaml",
                       [f"train.storage_path={tmp_path / 'store'}", "train.run_name=same", "train.epochs=1",
                        "tracking.log_model=false", *overrides])


def test_changed_data_is_refused_before_any_work_and_force_new_starts_afresh(tmp_path: Path, mlflow_uri: str) -> None:
    first = run_training(_cfg(tmp_path))
    client = mlflow.MlflowClient(tracking_uri=mlflow_uri)
    exp = client.get_run(first.run_id).info.experiment_id
    run_dir = tmp_path / "store" / "same"
    before = sorted(p.name for p in run_dir.iterdir())

    with pytest.raises(CheckpointError) as err:
        run_training(_cfg(tmp_path, "data.max_words=32", "model.hidden=4"))
    message = str(err.value)
    assert "data.max_words: checkpoint 64, now 32" in message and "model.hidden: checkpoint 8, now 4" in message
    assert "--force-new" in message
    assert len(client.search_runs([exp])) == 1  # no MLflow run was started
    assert sorted(p.name for p in run_dir.iterdir()) == before  # nothing written to the run folder
    assert client.get_run(first.run_id).info.status == "FINISHED"  # the earlier run is not marked FAILED

    fresh = run_training(_cfg(tmp_path, "data.max_words=32", "model.hidden=4", "train.force_new=true"))
    assert fresh.run_id != first.run_id
    assert [h["resumed_from"] for h in fresh.history] == [0]  # trained from scratch, not on the old weights
    kept = [p for p in (tmp_path / "store").iterdir() if p.name.startswith("same.replaced-")]
    assert len(kept) == 1 and checkpoint_dirs(kept[0])  # the old run's checkpoints were kept, not deleted
    assert client.get_run(first.run_id).info.status == "FINISHED"
