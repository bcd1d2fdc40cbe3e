"""The model registry: register a run's model and move the ``champion`` alias only to a better model.

Rules (never broken by seqlab):
* a version, once registered, is never overwritten or deleted;
* a run that did not finish, or has no logged model, is never registered;
* ``champion`` moves only when the candidate beats the champion's validation metric on the same validation
  data: the logged figures when both have the same data fingerprint, else both models scored on the
  candidate's validation data, each through its own preprocessing; where that cannot be done the champion
  stays (``--force`` replaces it anyway). The old champion keeps its version and gets ``previous``.

    seqlab promote --task <task> --run <run id>
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from seqlab.errors import DataError, SeqlabError, TrackingError
from seqlab.tasks import get_task
from seqlab.tracking import runs as tracking

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

    def line(self) -> str:
        """One console line: what happened to which version, then the reason with both figures."""
        if self.promoted:
            return f"promoted {self.name} v{self.version}: {self.reason}"
        registered = f" (registered as v{self.version})" if self.version else ""
        return f"not promoted {self.name}{registered}: {self.reason}"


def _champion(c: Any, name: str) -> Any | None:
    """The champion version of ``name``; None only when MLflow says there is none (no such registered model,
    or no alias yet). Any other failure to read it raises: taken for "no champion", it would let a
    candidate be crowned without a comparison.

    Raises:
        TrackingError: the store failed to answer (naming MLflow's error code and message).
    """
    from mlflow.exceptions import MlflowException

    try:
        return c.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as exc:
        # MLflow 3.17: RESOURCE_DOES_NOT_EXIST for an unknown model, INVALID_PARAMETER_VALUE
        # "Registered model alias champion not found." for a model without the alias
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or (
                exc.error_code == "INVALID_PARAMETER_VALUE" and "not found" in exc.message):
            return None
        first_line = exc.message.splitlines()[0] if exc.message else ""
        raise TrackingError(f"{name}: could not read its {CHAMPION!r} alias ({exc.error_code}: {first_line}); "
                            "the alias was not moved, promote again once the store answers") from None


def promote(uri: str, task_name: str, run_id: str, registered_name: str | None = None,
            force: bool = False, force_hint: str = "--force") -> Promotion:
    """Register the model of ``run_id`` and make it champion if it beats the current one.

    Args:
        uri: MLflow tracking/registry URI.
        task_name: a registered task (``seqlab.tasks.TASKS``).
        run_id: the finished training (or trial) run whose ``model`` artefact is the candidate.
        registered_name: default ``seqlab-<task>``.
        force: promote even if not better (still never overwrites a version).
        force_hint: how the calling command forces a promotion, named when one is refused for other data.

    Raises:
        TrackingError: the run is unknown, unfinished, for another task, or has no model/metric.
    """
    task = get_task(task_name)
    name = model_name(task_name, registered_name)
    c = tracking.client(uri)
    try:
        run = c.get_run(run_id)
    except Exception:  # noqa: BLE001  (MLflow raises several kinds for an unknown run id)
        raise TrackingError(f"MLflow run {run_id!r} not found in {uri}") from None
    if run.info.status != "FINISHED":
        raise TrackingError(f"run {run_id} has status {run.info.status}; only FINISHED runs can be promoted")
    if run.data.tags.get("seqlab.task") != task_name:
        raise TrackingError(f"run {run_id} is a {run.data.tags.get('seqlab.task')!r} run, not {task_name!r}")
    key = f"best_{task.metric}"
    if key not in run.data.metrics:
        raise TrackingError(f"run {run_id} has no metric {key!r}; was it trained by seqlab to the end?")
    value = float(run.data.metrics[key])
    # a diverged model: never a champion, not even with force. MLflow's SQL stores keep +-inf as +-max float.
    if not math.isfinite(value) or abs(value) >= sys.float_info.max:
        value = math.copysign(math.inf, value) if math.isfinite(value) else value
        return Promotion(False, f"{key}={value} is not a finite number; a non-finite metric is never promoted",
                         name, None, task.metric, value, None, None)
    fingerprint = run.data.tags.get(FINGERPRINT_TAG, "")
    if not _has_logged_model(run_id, uri):
        raise TrackingError(f"run {run_id} has no logged model; train with tracking.log_model=true")

    # Promotions against one SQLite store on this machine run one at a time. A server store has no such lock;
    # there the re-check before moving the alias keeps the better model in all but a few milliseconds' window.
    with tracking.sqlite_lock(uri, "promote"):
        return _compare_and_set(c, uri, task, name, run_id, value, fingerprint, force, force_hint)


def _direction(task: Any, value: float, champion_value: float) -> str:
    """How ``value`` compares with the champion's, in the task's direction (min or max)."""
    if task.is_better(value, champion_value):
        return "beats"
    if task.is_better(champion_value, value):
        return "is worse than"
    return "ties"


OTHER_DATA = "other data"


class _Judge:
    """Compares one candidate run with champions: on the logged figures when both were validated on the same
    data (same fingerprint), else by scoring both models on the candidate's validation data, each through its
    own preprocessing (``Task.score_models``), once per champion version."""

    def __init__(self, uri: str, name: str, task: Any, run_id: str, value: float, fingerprint: str) -> None:
        self.uri, self.name, self.task, self.run_id = uri, name, task, run_id
        self.value, self.fingerprint = value, fingerprint
        self._seen: dict[str, tuple[str, str]] = {}

    def compare(self, current: Any) -> tuple[str, str]:
        """The verdict (``beats``, ``ties``, ``is worse than`` or :data:`OTHER_DATA`: not comparable) and the
        line that states both figures, e.g. ``val_mae=0.2640 is worse than champion v3 (0.2113)``."""
        key = str(current.version)
        if key not in self._seen:
            self._seen[key] = self._compare(current)
        return self._seen[key]

    def _compare(self, current: Any) -> tuple[str, str]:
        metric = self.task.metric
        champion_value = float(current.tags.get("seqlab.metric_value", "nan"))
        theirs = current.tags.get(FINGERPRINT_TAG, "")
        # a missing fingerprint (a model from before fingerprints) matches nothing, not even another missing one
        if self.fingerprint and theirs == self.fingerprint:
            verdict = _direction(self.task, self.value, champion_value)
            return verdict, f"{metric}={self.value:.4f} {verdict} champion v{current.version} ({champion_value:.4f})"
        other = (f"champion v{current.version} was validated on other data (fingerprint {theirs or 'none'} vs "
                 f"{self.fingerprint or 'none'})")
        try:
            mine, its, n = self._rescore(current)
        except SeqlabError as exc:
            return OTHER_DATA, (f"{other}, and the two cannot be scored on the same examples: {exc}; the logged "
                                f"figures ({metric}={self.value:.4f} here, {champion_value:.4f} there) do not compare")
        verdict = _direction(self.task, mine, its)
        return verdict, (f"{other}, so both were scored on this run's validation data ({n} examples, each model "
                         f"through its own preprocessing): {metric}={mine:.4f} {verdict} champion "
                         f"v{current.version} ({its:.4f})")

    def _rescore(self, current: Any) -> tuple[float, float, int]:
        """(candidate's, champion's) metric on the candidate's validation data, and how many examples."""
        import tempfile
        from pathlib import Path

        from seqlab.checkpoint import load_state
        from seqlab.tracking.digest import download_checkpoint, download_run_checkpoint
        from seqlab.tracking.pyfunc import LoadedModel

        with tempfile.TemporaryDirectory(prefix="seqlab-compare-") as tmp:
            mine = LoadedModel(load_state(download_run_checkpoint(self.uri, self.run_id, Path(tmp) / "run")))
            its = LoadedModel(load_state(download_checkpoint(self.uri, self.name, str(current.version),
                                                             Path(tmp) / "champion")))
        if its.task.name != self.task.name:
            raise DataError(f"the champion is a {its.task.name!r} model")
        values, n = self.task.score_models(mine.cfg, [(mine.module, mine.preprocessing),
                                                      (its.module, its.preprocessing)])
        return values[0], values[1], n


def _refusal(judge: _Judge, current: Any, force: bool, force_hint: str) -> str | None:
    """Why the candidate may not replace ``current`` (None: it may)."""
    if current is None or force:
        return None
    verdict, line = judge.compare(current)
    if verdict == "beats":
        return None
    if verdict == OTHER_DATA:
        return f"{line}; to replace it anyway: {force_hint}"
    return f"{line}; only a better model replaces the champion"


def _compare_and_set(c: Any, uri: str, task: Any, name: str, run_id: str, value: float, fingerprint: str,
                     force: bool, force_hint: str) -> Promotion:
    """Compare with the champion, register, then move the alias only if the champion is still the one compared
    against; if another promotion moved it meanwhile, compare again with the new one (the better one wins)."""
    import mlflow

    judge = _Judge(uri, name, task, run_id, value, fingerprint)
    current = _champion(c, name)
    value_of: Callable[[Any], float | None] = (
        lambda mv: None if mv is None else float(mv.tags.get("seqlab.metric_value", "nan")))
    reason = _refusal(judge, current, force, force_hint)
    if reason is not None:
        return Promotion(False, reason, name, None, task.metric, value, value_of(current), None)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    from mlflow.utils.logging_utils import MLFLOW_LOGGING_STREAM

    # MLflow prints "Successfully registered model" and "Created version" itself; seqlab's line says which
    # version and why (an error still raises)
    printing, MLFLOW_LOGGING_STREAM.enabled = MLFLOW_LOGGING_STREAM.enabled, False
    try:
        version = mlflow.register_model(f"runs:/{run_id}/model", name, tags={
            "seqlab.metric": task.metric, "seqlab.metric_value": repr(value), FINGERPRINT_TAG: fingerprint,
            "seqlab.run_id": run_id})
    finally:
        MLFLOW_LOGGING_STREAM.enabled = printing
    # the digest of the checkpoint this version holds: Serve replicas refuse a checkpoint that differs
    from seqlab.tracking.digest import CHECKPOINT_SHA256_TAG, checkpoint_sha256

    c.set_model_version_tag(name, version.version, CHECKPOINT_SHA256_TAG,
                            checkpoint_sha256(uri, name, str(version.version)))
    for _ in range(20):
        now = _champion(c, name)
        if (now and str(now.version)) != (current and str(current.version)):  # moved since we compared
            current = now
            reason = _refusal(judge, current, force, force_hint)
            if reason is not None:
                return Promotion(False, f"a concurrent promotion won: {reason}",
                                 name, str(version.version), task.metric, value, value_of(current), None)
            continue
        if current is not None:
            c.set_registered_model_alias(name, PREVIOUS, current.version)
        c.set_registered_model_alias(name, CHAMPION, version.version)
        if current is None:
            reason = f"{task.metric}={value:.4f}; the first champion"
        else:
            verdict, reason = judge.compare(current)
            if verdict != "beats":
                reason += "; replaced because the promotion was forced"
        return Promotion(True, reason, name, str(version.version), task.metric, value, value_of(current),
                         None if current is None else str(current.version))
    raise TrackingError(f"{name}: the champion kept moving during 20 compare-and-set attempts; promote again")


def _has_logged_model(run_id: str, uri: str) -> bool:
    """Whether ``runs:/<run_id>/model`` resolves (MLflow 3 keeps models as LoggedModel entities)."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    try:
        mlflow.models.get_model_info(f"runs:/{run_id}/model")
    except Exception:  # noqa: BLE001  (MLflow raises several kinds when the model does not resolve)
        return False
    return True
