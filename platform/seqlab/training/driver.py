"""Training on Ray Train: ``run_training`` is the driver; ``train_fn_per_worker`` runs the loop
(``seqlab.training.loop.run_epochs``) in each worker.

    seqlab train --config configs/<task>/<experiment>.yaml train.num_workers=2

The driver validates the config, checks the MLflow store and the cluster's resources, prepares the data once
(fitting preprocessing on the training split), puts it in the object store and starts a ``TorchTrainer``.
Each worker takes its shard of every epoch, reports metrics, and rank 0 writes the checkpoint (weights,
optimizer, epoch, early-stopping state, best weights so far, preprocessing) and the per-epoch MLflow metrics.
A rerun with the same ``train.run_name`` and ``train.storage_path`` continues from the last checkpoint; a
worker that dies is replaced and resumes from it too (``train.max_failures``).
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from seqlab.checkpoint import load_state, save_state
from seqlab.config import TaskConfig, config_to_dict, flatten
from seqlab.errors import ConfigError, SeqlabError, seqlab_cause
from seqlab.runtime.background import InBackground
from seqlab.runtime.console import Clock, epoch_line
from seqlab.runtime.signals import keeping_signals, run_status
from seqlab.tasks import get_task, validate_config
from seqlab.tasks.base import Prepared, Task
from seqlab.tracking import runs as tracking
from seqlab.tracking.registry import FINGERPRINT_TAG
from seqlab.training.loop import evaluate_test, run_epochs
from seqlab.training.resume import (
    check_resumable,
    check_resume,
    reopen_run,
    set_aside,
)

# A task's config model (seqlab.tasks: each task subclasses it). Every task's model section has a ``name``;
# TaskConfig types the section as any pydantic model, so mypy needs ``type: ignore`` on ``cfg.model.name``.
AnyConfig = TaskConfig


def train_fn_per_worker(config: dict[str, Any]) -> None:
    """Ray Train entry: one call per worker. ``config`` = {"cfg", "data", "mlflow_uri", "mlflow_run_id"}."""
    import ray
    import ray.train
    import ray.train.torch

    cfg = validate_config(config["cfg"], "train_loop_config")
    prepared: Prepared = ray.get(config["data"]) if isinstance(config["data"], ray.ObjectRef) else config["data"]
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.set_num_threads(cfg.train.torch_threads or max(1, int(cfg.train.cpus_per_worker)))

    resume = None
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            resume = load_state(d, task=cfg.task, model=cfg.model.name)

    uri, run_id = config.get("mlflow_uri"), config.get("mlflow_run_id")
    # after a restart, epochs past the checkpoint run again: log each epoch once, as first computed
    logged = {int(m.step) for m in tracking.client(uri).get_metric_history(run_id, "epoch_s")} \
        if rank == 0 and resume is not None and uri and run_id else set()

    def report(metrics: dict[str, float], state: dict[str, Any] | None) -> None:
        if rank == 0:
            print(epoch_line(metrics, cfg.train.epochs), flush=True)
            if uri and run_id and int(metrics["epoch"]) not in logged:
                tracking.log_metrics(uri, run_id, {k: v for k, v in metrics.items() if v is not None and k != "epoch"},
                                     step=int(metrics["epoch"]))
        if state is None:
            ray.train.report(metrics)
            return
        with tempfile.TemporaryDirectory() as tmp:
            save_state(tmp, state)
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp))

    run_epochs(cfg, prepared, rank=rank, world=world, device=ray.train.torch.get_device(),
               wrap=ray.train.torch.prepare_model, resume=resume, report=report)  # [2] prepare model in wrap


# ---------------------------------------------------------------------------------------------- the driver


@dataclass
class TrainingResult:
    run_id: str | None
    run_name: str
    metrics: dict[str, float]
    test_metrics: dict[str, float]
    checkpoint_path: str
    history: list[dict[str, float]] = field(default_factory=list)
    model_uri: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)  # seconds per phase (seqlab.runtime.console.Clock)


def storage_path(cfg: AnyConfig) -> str:
    """Absolute storage path or URI (Ray rejects relative paths)."""
    raw = cfg.train.storage_path or os.environ.get("SEQLAB_STORAGE_PATH") or str(Path.home() / "ray_results")
    return raw if "://" in raw else str(Path(raw).expanduser().resolve())


def default_run_name(cfg: AnyConfig) -> str:
    return cfg.train.run_name or (
        f"{cfg.task}-{cfg.model.name}-{time.strftime('%Y%m%d-%H%M%S')}"  # type: ignore[attr-defined]
    )


def check_resources(cfg: AnyConfig) -> None:
    """Refuse, before asking Ray for workers, what the cluster cannot give (instead of hanging)."""
    import ray

    total = ray.cluster_resources()
    tc = cfg.train
    if tc.use_gpu and total.get("GPU", 0) < tc.num_workers:
        raise ConfigError(
            f"train.use_gpu=true with train.num_workers={tc.num_workers} needs {tc.num_workers} GPU(s); "
            f"the cluster has {int(total.get('GPU', 0))}. Set train.use_gpu=false or add GPU nodes"
        )
    need = tc.num_workers * tc.cpus_per_worker
    if not tc.use_gpu and total.get("CPU", 0) < need:
        raise ConfigError(
            f"train.num_workers={tc.num_workers} x train.cpus_per_worker={tc.cpus_per_worker} needs {need:g} CPUs; "
            f"the cluster has {total.get('CPU', 0):g}"
        )


def start_tracking(cfg: AnyConfig, prepared: Prepared, name: str, *, parent_run_id: str | None = None,
                   tags: dict[str, str] | None = None, existing_run_id: str | None = None) -> tuple[str, str]:
    """Create (or reuse) the MLflow run of one training; return ``(uri, run_id)``."""
    uri = tracking.resolve_tracking_uri(cfg.tracking.tracking_uri)
    if existing_run_id:
        return uri, existing_run_id
    resolved = config_to_dict(cfg)
    run_id = tracking.start_run(
        uri, cfg.tracking.experiment, name, {**flatten(resolved), **prepared.info}, resolved,
        tags={"seqlab.task": cfg.task, "seqlab.model": cfg.model.name,  # type: ignore[attr-defined]
              FINGERPRINT_TAG: get_task(cfg.task).data_fingerprint(cfg), **(tags or {})},
        parent_run_id=parent_run_id)
    return uri, run_id


def finish_training(cfg: AnyConfig, prepared: Prepared, state: dict[str, Any], checkpoint: str,
                    uri: str | None, run_id: str | None, name: str, clock: Clock | None = None) -> TrainingResult:
    """Held-out test metrics of the best weights; curves, model and final metrics to MLflow.

    ``checkpoint`` is where the run's last checkpoint stays (a folder or a URI), for the summary.
    """
    clock = clock or Clock()
    task = get_task(cfg.task)
    if state["best_model_state"] is None:  # every epoch's metric was NaN/inf: nothing worth keeping
        raise SeqlabError(f"training run {name}: no epoch gave a finite {task.metric} (the model diverged); "
                          f"try a lower train.lr")
    test_metrics = evaluate_test(cfg, task, prepared, state)
    clock.lap("test_evaluation")
    model_uri = None
    if uri is not None and run_id is not None:
        best_val = {f"best_{k}": v for k, v in state["best_metrics"].items() if k.startswith("val_")}
        tracking.log_metrics(uri, run_id, {**test_metrics, "best_epoch": state["best_epoch"], **best_val},
                             step=int(state["epoch"]))
        # one plot per metric the task reports for both splits (the task decides which metrics exist)
        names = sorted({k.removeprefix("train_") for h in state["history"] for k in h if k.startswith("train_")})
        tracking.log_curves(uri, run_id, state["history"], names)
        clock.lap("mlflow_metrics")
        if cfg.tracking.log_model:
            with tempfile.TemporaryDirectory(prefix="seqlab-model-") as folder:  # MLflow copies it
                model_uri = tracking.log_model(uri, run_id, str(_model_file(state, Path(folder))))
            clock.lap("model_logging")
        tracking.end_run(uri, run_id)
    return TrainingResult(run_id=run_id, run_name=name, metrics=dict(state["best_metrics"]), test_metrics=test_metrics,
                          checkpoint_path=checkpoint, history=list(state["history"]), model_uri=model_uri,
                          info=dict(prepared.info))


def run_training(cfg: AnyConfig, *, prepared: Prepared | None = None, parent_run_id: str | None = None,
                 callbacks: list[Any] | None = None, tags: dict[str, str] | None = None,
                 track: bool = True, name: str | None = None) -> TrainingResult:
    """Train ``cfg`` on Ray Train, tracked in MLflow; return metrics, test metrics and the checkpoint.

    Raises:
        ConfigError, DataError, TrackingError, CheckpointError: bad input, before training starts.
    """
    from seqlab.runtime.cluster import init_ray

    task = get_task(cfg.task)
    clock = Clock()
    store = storage_path(cfg)
    name = name or default_run_name(cfg)
    run_dir = Path(store) / name
    if cfg.train.force_new and "://" in store:
        raise ConfigError(f"train.force_new=true needs a local train.storage_path to set the old run aside, got "
                          f"{store}; use another train.run_name instead")
    if cfg.train.force_new:
        set_aside(run_dir)
    # A resume that does not fit is refused here, before Ray, data or MLflow is touched.
    previous_run_id, previous, previous_path = check_resumable(cfg, run_dir) if "://" not in store else (None, None, None)
    # The MLflow store is checked and the data prepared on a helper thread while Ray starts: a local Ray's
    # start is mostly waiting for its processes, so both come nearly free (a failure still raises here).
    ahead = InBackground(lambda: _store_and_data(cfg, task, prepared, track), name="seqlab-prepare")
    init_ray()  # joins $RAY_ADDRESS, else a local Ray (never a stray cluster of the machine)
    clock.lap("ray_start")
    check_resources(cfg)
    clock.lap("checks")
    prepared = ahead.result()
    clock.lap("store_data_wait")
    if previous is not None:  # same settings, but are the data files still the ones it was fitted on?
        check_resume(previous, config_to_dict(cfg), str(previous_path), prepared.preprocessing)
    uri = run_id = None
    keep_finished = False  # a resumed run that had FINISHED stays FINISHED whatever happens now
    if track:
        uri, run_id = start_tracking(cfg, prepared, name, parent_run_id=parent_run_id, tags=tags,
                                     existing_run_id=previous_run_id)
        if previous_run_id:
            keep_finished = reopen_run(uri, run_id)
        if "://" not in store:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "seqlab_mlflow_run_id").write_text(run_id)
    clock.lap("mlflow_run")
    try:
        trainer = _trainer(cfg, prepared, name, store, uri, run_id, callbacks)
        result = keeping_signals(trainer.fit)  # Ray Train's SIGINT handler never replaces ours
        if result.checkpoint is None:
            raise SeqlabError(f"training run {name} ended without a checkpoint")
        # on local storage the checkpoint is read where Ray Train keeps it; a remote one is downloaded to a
        # temporary folder that as_directory removes (a copy kept per run leaked 538 MB per ngram_bag run)
        with result.checkpoint.as_directory() as d:
            state = load_state(d, task=cfg.task, model=cfg.model.name)  # type: ignore[attr-defined]
        kept = result.checkpoint.path if "://" not in store else f"{store.split('://')[0]}://{result.checkpoint.path}"
        clock.lap("fit")
        training = finish_training(cfg, prepared, state, kept, uri, run_id, name, clock)
        training.timing = clock.split_fit(state["history"])
        return training
    except BaseException as exc:  # Ctrl-C, SIGTERM, a failure in training, test evaluation or model logging
        if uri is not None and run_id is not None and not keep_finished:
            tracking.end_run(uri, run_id, run_status(exc))
        cause = seqlab_cause(exc) if isinstance(exc, Exception) else None
        if cause is not None:
            raise cause from None
        raise


def _store_and_data(cfg: AnyConfig, task: Task, prepared: Prepared | None, track: bool) -> Prepared:
    if track:
        tracking.check_store(tracking.resolve_tracking_uri(cfg.tracking.tracking_uri))
    return prepared if prepared is not None else task.prepare(cfg)


def _trainer(cfg: AnyConfig, prepared: Prepared, name: str, store: str, uri: str | None, run_id: str | None,
             callbacks: list[Any] | None) -> Any:
    import ray
    import ray.train
    from ray.train.torch import TorchTrainer

    return TorchTrainer(
        train_fn_per_worker,
        train_loop_config={"cfg": config_to_dict(cfg), "data": ray.put(prepared), "mlflow_uri": uri,
                           "mlflow_run_id": run_id},
        scaling_config=ray.train.ScalingConfig(
            num_workers=cfg.train.num_workers, use_gpu=cfg.train.use_gpu,
            resources_per_worker={"CPU": cfg.train.cpus_per_worker},
            placement_strategy=cfg.train.placement_strategy),
        # Train V2's RunConfig (the one ray.train exports here) takes logging_config; mypy reads the V1 one
        run_config=ray.train.RunConfig(  # type: ignore[call-arg]
            name=name, storage_path=store, callbacks=callbacks,
            failure_config=ray.train.FailureConfig(max_failures=cfg.train.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
            # Ray Train's own INFO lines (each report, each checkpoint) drown the epoch lines
            logging_config=ray.train.LoggingConfig(log_level="WARNING")),
    )


_MODEL_KEYS = ("config", "preprocessing", "best_model_state", "best_metrics", "best_epoch", "epoch", "history")


def _model_file(state: dict[str, Any], folder: Path) -> Path:
    """The logged (and registered) model's checkpoint: the best weights and what predicting needs, without the
    optimizer state and last weights that only resuming needs (a bag model's Adam moments are twice its table)."""
    return save_state(folder, {k: state[k] for k in _MODEL_KEYS if k in state})


