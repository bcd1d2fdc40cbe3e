"""MLflow tracking: one run per training, per-epoch metrics, curve plots, the model, the registry.

The driver creates the run (so an unreachable store fails before Ray resources are asked for) and logs
params, the resolved config and, at the end, the plots and the model; rank 0 of the workers logs the
per-epoch metrics with ``step=epoch``. Everything goes through ``MlflowClient`` with an explicit run id, so
no process depends on MLflow's global "active run".
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from seqlab.errors import TrackingError

DEFAULT_URI = "sqlite:///mlflow.db"


def resolve_tracking_uri(configured: str | None) -> str:
    """Config value, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<cwd>/mlflow.db``.

    A relative SQLite path is made absolute so that Ray workers (other working folders) write the same file.
    """
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = "sqlite:///" + str(Path(uri.removeprefix("sqlite:///")).resolve())
    return uri


def client(uri: str) -> Any:
    """An MLflow client of ``uri``. A SQLite store is opened under an exclusive lock on a file beside it.

    Opening a SQLite store that is new (or from an older MLflow) runs MLflow's schema migrations, and two
    processes migrating one file at once fail (seen here with MLflow 3.17.2: four processes opening one new
    store, 11 failures in 12 tries: "database is locked", "table already exists", alembic's
    CircularDependencyError). The lock makes the first opener migrate while the others wait; once the
    schema is current, opening it is a quick check.
    """
    from mlflow.tracking import MlflowClient

    with sqlite_lock(uri, "open"):
        return MlflowClient(tracking_uri=uri, registry_uri=uri)


@contextmanager
def sqlite_lock(uri: str, purpose: str) -> Iterator[None]:
    """Hold an exclusive lock on ``<db>.<purpose>.lock`` beside a SQLite store: processes of this machine
    that take it for the same purpose run one at a time. Other stores (a server), or a SQLite store whose
    folder is missing (MLflow then names the folder itself), get no lock."""
    db = Path(uri.removeprefix("sqlite:///"))
    if not uri.startswith("sqlite:///") or not db.parent.is_dir():
        yield
        return
    with open(db.with_name(f"{db.name}.{purpose}.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released on close, also if this process dies
        yield


def check_store(uri: str) -> None:
    """Fail fast, naming the URI, if the tracking store cannot be used."""
    if uri.startswith("sqlite:///"):
        folder = Path(uri.removeprefix("sqlite:///")).parent
        if not folder.is_dir():
            raise TrackingError(f"MLflow store {uri} is unreachable: folder {folder} does not exist")
    if uri.startswith(("http://", "https://")):
        # one quick try instead of MLflow's minutes of retries against a dead server
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    try:
        client(uri).search_experiments(max_results=1)
    except Exception as exc:  # noqa: BLE001  (whatever fails, the store is unusable; named below)
        raise TrackingError(f"MLflow store {uri} is unreachable: {type(exc).__name__}: {str(exc)[:300]}") from None


def ensure_experiment(uri: str, name: str) -> str:
    c = client(uri)
    exp = c.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    artifacts = None
    if uri.startswith("sqlite:///"):
        # next to the database, not in whatever folder the creating process runs in (./mlruns by default)
        artifacts = (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").as_uri()
    try:
        return str(c.create_experiment(name, artifact_location=artifacts))
    except Exception:  # created concurrently by another trial
        exp = c.get_experiment_by_name(name)
        if exp is None:
            raise
        return str(exp.experiment_id)


def start_run(
    uri: str,
    experiment: str,
    run_name: str,
    params: dict[str, Any],
    resolved: dict[str, Any],
    tags: dict[str, str] | None = None,
    parent_run_id: str | None = None,
) -> str:
    """Create a run with params, tags and ``resolved.yaml``; return its id."""
    from mlflow.entities import Param, RunTag

    c = client(uri)
    all_tags = {"mlflow.runName": run_name, **(tags or {})}
    if parent_run_id:
        all_tags["mlflow.parentRunId"] = parent_run_id
    run = c.create_run(ensure_experiment(uri, experiment), tags=all_tags, run_name=run_name)
    run_id = str(run.info.run_id)
    items = [Param(k, str(v)[:6000]) for k, v in sorted(params.items())]
    for i in range(0, len(items), 100):
        c.log_batch(run_id, params=items[i : i + 100])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "resolved.yaml"
        path.write_text(yaml.safe_dump(resolved, sort_keys=False))
        c.log_artifact(run_id, str(path))
    c.log_batch(run_id, tags=[RunTag(k, v) for k, v in (tags or {}).items()])
    return run_id


def log_metrics(uri: str, run_id: str, metrics: dict[str, float], step: int) -> None:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    c = client(uri)
    c.log_batch(run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()])


def log_curves(uri: str, run_id: str, history: list[dict[str, float]], metric_names: list[str]) -> None:
    """PNG plots of train vs validation per epoch, like the chapter's figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [int(h["epoch"]) for h in history]
    c = client(uri)
    for name in metric_names:
        if not all(f"train_{name}" in h and f"val_{name}" in h for h in history):
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(epochs, [h[f"train_{name}"] for h in history], "bo", label=f"Training {name}")
        ax.plot(epochs, [h[f"val_{name}"] for h in history], "b", label=f"Validation {name}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(f"Training and validation {name}")
        ax.legend()
        c.log_figure(run_id, fig, f"curves/{name}.png")
        plt.close(fig)


def log_model(uri: str, run_id: str, checkpoint_file: str, example: Any | None = None) -> str:
    """Log the checkpoint as a pyfunc model that predicts from raw input; return its model URI."""
    import mlflow
    import numpy
    import pandas
    import pydantic
    import torch

    # Explicit requirements: MLflow's inference starts a subprocess and cost ~4 s per logged model.
    requirements = [f"torch=={torch.__version__.split('+')[0]}", f"mlflow=={mlflow.__version__}",
                    f"numpy=={numpy.__version__}", f"pandas=={pandas.__version__}", f"pydantic=={pydantic.__version__}",
                    "pyyaml"]  # and seqlab itself, installed from the project (not on PyPI)
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(
            pip_requirements=requirements,
            name="model",
            python_model=str(Path(__file__).with_name("pyfunc_model.py")),  # models from code, no pickle
            artifacts={"checkpoint": checkpoint_file},
            input_example=example,
        )
    return f"runs:/{run_id}/model" if info is None else str(info.model_uri)


def end_run(uri: str, run_id: str, status: str = "FINISHED") -> None:
    client(uri).set_terminated(run_id, status=status)
