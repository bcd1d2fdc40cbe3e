"""MLflow's side of seqlab, in one wing: runs, the model registry, the pyfunc model and sweep reports.

    runs.py          one MLflow run per training: params, per-epoch metrics, plots, the logged model
    registry.py      register a run's model; move ``champion`` only to a better model on the same data
    pyfunc.py        the logged model: a checkpoint + its task's batch predictor, loadable with mlflow.pyfunc
    pyfunc_model.py  the models-from-code entry MLflow copies next to the checkpoint
    digest.py        the checkpoint inside a logged model and its sha256 (tagged at promotion, checked by Serve)
    sweep_report.py  the summary (table, plots, best trial) on a sweep's parent run
    sweep_trials.py  a sweep read back: its parent run, its finished trials; a figure logged to it
    sweep_figures.py the chapter's findings drawn from a sweep's trials (crossover, width x maxlen grid)

``from seqlab import tracking`` gives the run functions (``tracking.start_run(...)``); the other modules are
imported by name (``from seqlab.tracking.registry import promote``). Importing this package does not import
MLflow.
"""

from seqlab.tracking.runs import (
    DEFAULT_URI,
    check_store,
    client,
    end_run,
    ensure_experiment,
    log_curves,
    log_metrics,
    log_model,
    resolve_tracking_uri,
    start_run,
)

__all__ = [
    "DEFAULT_URI",
    "check_store",
    "client",
    "end_run",
    "ensure_experiment",
    "log_curves",
    "log_metrics",
    "log_model",
    "resolve_tracking_uri",
    "start_run",
]
