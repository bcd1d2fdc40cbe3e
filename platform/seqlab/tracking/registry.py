"""The model registry: register a run's model and move the ``champion`` alias only to a better model.

Rules (never broken by seqlab):
* a version, once registered, is never overwritten or deleted;
* a run that did not finish, or has no logged model, is never registered;
* ``champion`` moves only when the candidate beats the champion's validation metric on the same validation
  data (same data fingerprint); the old champion keeps its version and gets ``previous``.

    seqlab promote --task <task> --run <run id>
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from seqlab.tracking import runs as tracking
from seqlab.errors import TrackingError
from seqlab.tasks import get_task

CHAMPION = "champion"
PREVIOUS = "previous"
# The run tag holding ``Task.data_fingerprint(cfg)``: a hash of the data file's content and of every setting
# that decides the validation examples. A model validated on other examples has a number that cannot be compared.
FINGERPRINT_TAG = "seqlab.data_fingerprint"


def model_name(task: str, configured: str | None = None) -> str:
    return configured or f"seqlab-{task}"


@dataclass
class Promotion:
    promoted: bool
    reason: str
    name: str
    version: str | None
    metric: str
    value: float
    champion_value: float | None
    previous_version: str | None


def _champion(c: Any, name: str) -> Any | None:
    try:
        return c.get_model_version_by_alias(name, CHAMPION)
    except Exception:  # no registered model, or no alias yet
        return None


def promote(uri: str, task_name: str, run_id: str, registered_name: str | None = None,
            force: bool = False) -> Promotion:
    """Register the model of ``run_id`` and make it champion if it beats the current one.

    Args:
        uri: MLflow tracking/registry URI.
        task_name: a registered task (``seqlab.tasks.TASKS``).
        run_id: the finished training (or trial) run whose ``model`` artefact is the candidate.
        registered_name: default ``seqlab-<task>``.
        force: promote even if not better (still never overwrites a version).

    Raises:
        TrackingError: the run is unknown, unfinished, for another task, or has no model/metric.
    """
    task = get_task(task_name)
    name = model_name(task_name, registered_name)
    c = tracking.client(uri)
    try:
        run = c.get_run(run_id)
    except Exception:
        raise TrackingError(f"MLflow run {run_id!r} not found in {uri}") from None
    if run.info.status != "FINISHED":
        raise TrackingError(f"run {run_id} has status {run.info.status}; only FINISHED runs can be promoted")
    if run.data.tags.get("seqlab.task") != task_name:
        raise TrackingError(f"run {run_id} is a {run.data.tags.get('seqlab.task')!r} run, not {task_name!r}")
    key = f"best_{task.metric}"
    if key not in run.data.metrics:
        raise TrackingError(f"run {run_id} has no metric {key!r}; was it trained by seqlab to the end?")
    value = float(run.data.metrics[key])
    fingerprint = run.data.tags.get(FINGERPRINT_TAG, "")
    if not _has_logged_model(run_id, uri):
        raise TrackingError(f"run {run_id} has no logged model; train with tracking.log_model=true")

    current = _champion(c, name)
    champion_value = None
    if current is not None:
        champion_value = float(current.tags.get("seqlab.metric_value", "nan"))
        # a missing fingerprint (a model from before fingerprints) matches nothing, not even another missing one
        same_data = bool(fingerprint) and current.tags.get(FINGERPRINT_TAG, "") == fingerprint
        if not force and not same_data:
            return Promotion(False, f"champion v{current.version} was validated on other data "
                             f"(fingerprint {current.tags.get(FINGERPRINT_TAG)} vs {fingerprint}); "
                             f"use --force to replace it anyway", name, None, task.metric, value, champion_value,
                             None)
        if not force and not task.is_better(value, champion_value):
            return Promotion(False, f"{task.metric}={value:.4f} does not beat champion v{current.version} "
                             f"({champion_value:.4f})", name, None, task.metric, value, champion_value, None)
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    version = mlflow.register_model(f"runs:/{run_id}/model", name, tags={
        "seqlab.metric": task.metric, "seqlab.metric_value": repr(value), FINGERPRINT_TAG: fingerprint,
        "seqlab.run_id": run_id})
    # the digest of the checkpoint this version holds: Serve replicas refuse a checkpoint that differs
    from seqlab.tracking.digest import CHECKPOINT_SHA256_TAG, checkpoint_sha256

    c.set_model_version_tag(name, version.version, CHECKPOINT_SHA256_TAG,
                            checkpoint_sha256(uri, name, str(version.version)))
    previous = None
    if current is not None:
        c.set_registered_model_alias(name, PREVIOUS, current.version)
        previous = str(current.version)
    c.set_registered_model_alias(name, CHAMPION, version.version)
    return Promotion(True, "first champion" if current is None else f"beats champion v{current.version}", name,
                     str(version.version), task.metric, value, champion_value, previous)


def _has_logged_model(run_id: str, uri: str) -> bool:
    """Whether ``runs:/<run_id>/model`` resolves (MLflow 3 keeps models as LoggedModel entities)."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    try:
        mlflow.models.get_model_info(f"runs:/{run_id}/model")
    except Exception:
        return False
    return True
