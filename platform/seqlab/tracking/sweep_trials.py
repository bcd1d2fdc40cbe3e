"""A sweep's trials read back from MLflow: its parent run, its finished trial runs, a figure logged to it.

The picture scripts under ``scripts/`` start here (``task`` is the sweep's task name)::

    c = tracking.client(tracking.resolve_tracking_uri(None))
    parent = find_sweep(c, "seqlab", task, {"data.maxlen", "model.embed_dim"}, exact=True)
    trials = finished_trials(c, parent, "best_val_accuracy")   # params as logged (strings) + metrics
    log_figure(c, parent, Path("docs/width_maxlen.png"))       # -> figures/ on the parent run

A sweep's parent run carries the tags ``seqlab.kind=sweep``, ``seqlab.task`` and ``seqlab.sweep`` (its name)
and the swept keys in the param ``sweep.space`` (JSON); each trial is a child run (``mlflow.parentRunId``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqlab.errors import TrackingError


@dataclass(frozen=True)
class Trial:
    """One finished trial: its MLflow run's params (strings, as logged) and last metric values."""

    run_id: str
    name: str
    params: dict[str, str]
    metrics: dict[str, float]


def swept_keys(parent: Any) -> set[str]:
    """The dotted keys a sweep's parent run says it swept (its ``sweep.space`` param)."""
    return set(json.loads(parent.data.params.get("sweep.space", "{}")))


def find_sweep(c: Any, experiment: str, task: str, keys: set[str], sweep: str | None = None,
               exact: bool = False) -> Any:
    """The newest sweep parent run of ``task`` in ``experiment`` that swept ``keys``, or the one named ``sweep``.

    Args:
        c: an ``MlflowClient``.
        experiment: the MLflow experiment name.
        task: the sweep's task (tag ``seqlab.task``).
        keys: dotted keys the sweep must have swept (a sweep that ``sweep`` names too).
        sweep: the sweep's name (tag ``seqlab.sweep``); None = the newest that matches ``keys``.
        exact: the sweep swept exactly ``keys``, no other key (tells a picture's grid from a broad sweep
            over the same keys and more).

    Raises:
        TrackingError: no such experiment, no sweep that matches, or the named sweep swept other keys; naming
            what was looked for.
    """
    exp = c.get_experiment_by_name(experiment)
    if exp is None:
        raise TrackingError(f"no MLflow experiment {experiment!r} in {c.tracking_uri}; run the sweep first "
                            "or pass the experiment it logged to")
    flt = f"tags.`seqlab.kind` = 'sweep' and tags.`seqlab.task` = '{task}'"
    if sweep:
        flt += f" and tags.`seqlab.sweep` = '{sweep}'"
    runs = c.search_runs([exp.experiment_id], filter_string=flt, order_by=["attributes.start_time DESC"],
                         max_results=200)
    if sweep and runs and not _matches(runs[0], keys, exact):
        raise TrackingError(f"{task} sweep {sweep!r} swept {sorted(swept_keys(runs[0]))}; this picture needs a sweep "
                            f"over {'exactly ' if exact else ''}{sorted(keys)}")
    runs = [r for r in runs if _matches(r, keys, exact)]
    if not runs:
        wanted = f"named {sweep!r}" if sweep else f"over {'exactly ' if exact else ''}{sorted(keys)}"
        raise TrackingError(f"no {task} sweep {wanted} in experiment {experiment!r} ({c.tracking_uri}); "
                            "run its sweep file with seqlab tune first, or pass --sweep <name>")
    return runs[0]


def _matches(parent: Any, keys: set[str], exact: bool) -> bool:
    return swept_keys(parent) == keys if exact else keys <= swept_keys(parent)


def finished_trials(c: Any, parent: Any, metric: str) -> list[Trial]:
    """The parent's child runs that finished and logged ``metric`` (stopped or failed trials are left out)."""
    children = c.search_runs([parent.info.experiment_id], max_results=5000,
                             filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    return [Trial(r.info.run_id, r.info.run_name or r.info.run_id, dict(r.data.params), dict(r.data.metrics))
            for r in children if r.info.status == "FINISHED" and metric in r.data.metrics]


def log_figure(c: Any, parent: Any, path: Path) -> str:
    """Log a written PNG to the sweep's parent run under ``figures/``; returns the artifact path."""
    c.log_artifact(parent.info.run_id, str(path), "figures")
    return f"figures/{path.name}"
