"""Serve fixtures: untrained models built without Ray (for FastAPI TestClient tests) and, for the Ray Serve
tests, both tiny configs trained once and promoted to ``champion`` in a SQLite MLflow store."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from serve_helpers import ROOT, TASKS, Registry


@pytest.fixture(scope="module")
def registry(ray_session: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Both tiny configs trained once (1 worker) and promoted; the store lives in a temp folder."""
    import mlflow
    from seqlab.tasks import load_config
    from seqlab.tracking.registry import promote
    from seqlab.training.driver import run_training

    tmp = tmp_path_factory.mktemp("serve-registry")
    uri = f"sqlite:///{tmp}/mlflow.db"
    run_ids, versions = {}, {}
    cwd = os.getcwd()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        os.chdir(tmp)  # the SQLite store's default artefact root is ./mlruns: keep it in the temp folder
        try:
            cfgs = {
                task: load_config(
                    ROOT / "configs" / task / "tiny.yaml",
                    [
                        f"train.storage_path={tmp / 'ray'}",
                        "train.num_workers=1",
                        f"tracking.tracking_uri={uri}",
                    ],
                )
                for task in TASKS
            }
            results = {task: run_training(cfg) for task, cfg in cfgs.items()}
            mlflow.set_tracking_uri(uri)
            # registry._has_logged_model searches the active experiment only
            mlflow.set_experiment(cfgs["sentiment"].tracking.experiment)
            for task, result in results.items():
                assert result.run_id is not None
                promotion = promote(uri, task, result.run_id)
                assert promotion.promoted and promotion.version is not None, promotion.reason
                run_ids[task], versions[task] = result.run_id, promotion.version
        finally:
            os.chdir(cwd)
        yield Registry(uri, run_ids, versions)
