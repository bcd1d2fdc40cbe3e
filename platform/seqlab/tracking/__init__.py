"""MLflow's side of seqlab, in one wing: runs, the model registry, the pyfunc model and sweep reports.

    runs.py          one MLflow run per training: params, per-epoch metrics, plots, the logged model
    registry.py      register a run's model; move ``champion`` only to a better model on the same data
    pyfunc.py        the logged model: a checkpoint + its task's batch predictor, loadable with mlflow.pyfunc
    pyfunc_model.py  the models-from-code entry MLflow copies next to the checkpoint
    digest.py        the checkpoint inside a logged model and its sha256 (tagged at promotion, checked by Serve)
    sweep_report.py  the summary (table, plots, best trial) on a sweep's parent run
    sweep_trials.py  a sweep read back: its parent run, its finished trials; a figure logged to it
    sweep_figures.py the chapter's findings drawn from a sweep's trials (crossover, width x maxlen grid)

Callers import each name from its module (``from seqlab.tracking.registry import promote``; the run
functions as ``from seqlab.tracking import runs as tracking``). Importing this package does not import
MLflow. It may import ``tasks`` (the registry, never a task by name), ``checkpoint``, ``config`` and
``errors``; never ``serve``, ``training`` or ``sweeps``.
"""
