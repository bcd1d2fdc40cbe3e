"""Sweeps with Ray Tune: a base config, a search space over dotted keys, a searcher and a scheduler.

    seqlab tune --config <sweep.yaml> [--resume]

Each trial is one training. A trial with one CPU worker runs the training loop in the trial's own process
(no worker group to start: seconds instead of ~15 s of start-up per trial); a trial with several workers or
GPUs wraps ``run_training`` (a ``TorchTrainer``), Train V2 style, forwarding metrics to Tune. Every trial is an
MLflow run nested under the sweep's parent run; at the end the sweep writes a summary (table + plots) to the
parent run and, if asked, promotes the best finished trial in the registry.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from seqlab.config import apply_overrides, is_plain_name
from seqlab.errors import ConfigError
from seqlab.runtime.cluster import DRIVER_RESOURCE
from seqlab.runtime.signals import keeping_signals, run_status
from seqlab.sweeps.resume import (
    SWEEP_FILE,
    SWEEP_HASH_TAG,
    check_unchanged,
    recover_missing_checkpoints,
    repair_state_files,
    sha256_of,
    sweep_content,
)
from seqlab.sweeps.search_space import active_overrides, searcher_points, tune_param_space
from seqlab.sweeps.sweep_file import Sweep, SweepConfig
from seqlab.tasks import get_task, validate_config
from seqlab.tracking import runs as tracking

# ---------------------------------------------------------------------------------------------- the trial


@lru_cache(maxsize=8)
def _prepared_cached(cfg_json: str) -> Any:
    """Data per (data, embedding) settings, kept while a reused trial actor lives: trials that share them
    skip the tokenizing / windowing (seconds for 25,000 reviews)."""
    cfg = validate_config(json.loads(cfg_json), "trial")
    return get_task(cfg.task).prepare(cfg)


def _data_key(cfg: Any) -> str:
    return json.dumps(get_task(cfg.task).prepare_key(cfg), sort_keys=True)


def trial_fn(sample: dict[str, Any], sweep: dict[str, Any]) -> None:
    """One Tune trial: resolve the config, train, report per epoch, log to MLflow under the parent run."""
    import ray.tune

    from seqlab.checkpoint import load_state, save_state
    from seqlab.training.driver import finish_training, start_tracking
    from seqlab.training.loop import run_epochs
    from seqlab.training.resume import reopen_and_backfill

    t_start = time.perf_counter()
    ctx = ray.tune.get_context()
    trial_name = ctx.get_trial_name()
    tree = apply_overrides(sweep["base_tree"], active_overrides(sample, sweep["space"]))  # inactive keys: base
    tree = apply_overrides(tree, {"train.storage_path": sweep["storage"], "tracking.tracking_uri": sweep["uri"],
                                  "tracking.experiment": sweep["experiment"]})
    cfg = validate_config(tree, f"trial {trial_name} ({json.dumps(sample)})")  # invalid combo: trial fails here
    tags = {"seqlab.sweep": sweep["name"], "seqlab.trial": trial_name, "seqlab.trial_id": ctx.get_trial_id()}
    if cfg.train.num_workers > 1 or cfg.train.use_gpu:
        _trial_on_ray_train(cfg, sweep, trial_name, tags)
        return

    import torch

    torch.set_num_threads(cfg.train.torch_threads or max(1, int(cfg.train.cpus_per_worker)))
    prepared = _prepared_cached(_data_key(cfg))
    resume = None
    checkpoint = ray.tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            resume = load_state(d, task=cfg.task, model=cfg.model.name)
    # A restored trial continues its own MLflow run (its id travels in the checkpoint) and logs each epoch
    # once: the epochs that run already holds are not logged again when the restored trial repeats them.
    previous_run = resume.get("mlflow_run_id") if resume is not None else None
    uri, run_id = start_tracking(cfg, prepared, trial_name, parent_run_id=sweep["parent_run_id"], tags=tags,
                                 existing_run_id=previous_run)
    logged = reopen_and_backfill(uri, run_id, resume) if previous_run else set()
    loop_s = 0.0
    patience, epochs = cfg.train.patience, cfg.train.epochs
    closed = False  # finish_training ended the run FINISHED

    def report(metrics: dict[str, float], state: dict[str, Any] | None) -> None:
        nonlocal loop_s, closed
        assert state is not None  # a single-process trial is rank 0
        loop_s += metrics["epoch_s"]
        if int(metrics["epoch"]) not in logged:
            tracking.log_metrics(uri, run_id, {k: v for k, v in metrics.items() if v is not None and k != "epoch"},
                                 step=int(metrics["epoch"]))
        state["mlflow_run_id"] = run_id
        with tempfile.TemporaryDirectory() as tmp:
            file = save_state(tmp, state)
            if metrics["epoch"] >= epochs or (patience is not None and state["epochs_since_best"] >= patience):
                # The last report: the scheduler may stop the trial inside it, so log the model first.
                finish_training(cfg, prepared, state, str(file), uri, run_id, trial_name)
                closed = True
            extra = {"trial_overhead_s": time.perf_counter() - t_start - loop_s}
            ray.tune.report({**metrics, **extra}, checkpoint=ray.tune.Checkpoint.from_directory(tmp))

    try:
        run_epochs(cfg, prepared, resume=resume, report=report)
    except BaseException as exc:  # an error FAILED; a stop (ASHA, Ctrl-C, the driver gone) KILLED
        if not closed:
            tracking.end_run(uri, run_id, run_status(exc))
        raise


def _trial_on_ray_train(cfg: Any, sweep: dict[str, Any], trial_name: str, tags: dict[str, str]) -> None:
    """A multi-worker (or GPU) trial: a TorchTrainer driven from the trial, metrics forwarded to Tune."""
    from ray.tune.integration.ray_train import TuneReportCallback

    from seqlab.training.driver import run_training

    run_training(cfg, parent_run_id=sweep["parent_run_id"], callbacks=[TuneReportCallback()], tags=tags,
                 name=f"{sweep['name']}-{trial_name}")


# ---------------------------------------------------------------------------------------------- the driver


@dataclass
class SweepResult:
    name: str
    parent_run_id: str
    trials: list[dict[str, Any]]
    best: dict[str, Any] | None
    promotion: Any | None
    total_epochs: int
    wall_s: float
    #: why the best finished trial was not promoted although the sweep promotes (None: it was, or no promote)
    not_promoted: str | None = None

    @property
    def errors(self) -> list[dict[str, Any]]:
        """The trials that ended in an error (a sweep with any is a failed command)."""
        return _errored(self.trials)

    def failure(self) -> str | None:
        """One line naming how many trials failed and the first error; None when none did."""
        errors = self.errors
        if not errors:
            return None
        return (f"{len(errors)} of {len(self.trials)} trials failed; first: trial {errors[0]['trial']}: "
                f"{errors[0]['error'] or 'no error message'}")


def _errored(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in trials if t["status"] == "error"]


def _storage(sweep: Sweep) -> str:
    raw = sweep.cfg.storage_path or os.environ.get("SEQLAB_STORAGE_PATH") or str(Path.home() / "ray_results")
    return raw if "://" in raw else str(Path(raw).expanduser().resolve())


def run_sweep(sweep: Sweep, resume: bool = False, scheduler: str | None = None, promote: bool | None = None,
              name: str | None = None, force_promote: bool = False, force_hint: str | None = None) -> SweepResult:
    """Run (or resume) a sweep; write the summary to the parent MLflow run; promote the best trial.

    ``force_promote`` crowns the best trial even where the champion is better or not comparable;
    ``force_hint`` is how the calling command does that, named when a promotion is refused (default: the
    ``seqlab promote --force`` command for the best trial).

    Raises:
        ConfigError: resume asked for a sweep that does not exist.
        TrackingError: the MLflow store is unreachable.
    """
    # Trials checkpoint every epoch so a killed sweep can resume; Tune warns about the snapshots that causes.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Snapshot the experiment state every second (Tune's "auto" waits 10 s or more): a driver killed between
    # snapshots resumes from a stale list of trials, and trials it had started or finished are lost.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")
    from seqlab.runtime.cluster import init_ray

    base = validate_config(sweep.base_tree, sweep.origin)
    task = get_task(base.task)
    storage = _storage(sweep)
    sched_name = scheduler or sweep.cfg.scheduler
    sweep_name = name or sweep.cfg.name or default_sweep_name(sweep, base.task)
    if not is_plain_name(sweep_name):  # it becomes a folder under the storage path
        raise ConfigError(f"sweep name {sweep_name!r} (--name or the sweep file's 'name') must be a plain folder "
                          "name: letters, digits, '-', '_', '.', starting with a letter or digit, no '..'")
    sweep_dir = Path(storage) / sweep_name
    marker = sweep_dir / "seqlab_parent_run_id"
    if resume:
        if not marker.is_file():
            raise ConfigError(f"--resume: no sweep named {sweep_name!r} under {storage}; give the sweep's name")
        check_unchanged(sweep, sweep_dir)  # before Ray or MLflow: trials would be rebuilt from the new file
    init_ray()
    uri = tracking.resolve_tracking_uri(base.tracking.tracking_uri)
    tracking.check_store(uri)
    experiment = sweep.cfg.experiment or base.tracking.experiment
    if resume:
        parent_run_id = marker.read_text().strip()
        tracking.client(uri).update_run(parent_run_id, status="RUNNING")
    else:
        params = {"sweep.base": sweep.cfg.base, "sweep.searcher": sweep.cfg.searcher, "sweep.scheduler": sched_name,
                  "sweep.num_samples": sweep.cfg.num_samples, "sweep.max_concurrent_trials": sweep.cfg.max_concurrent_trials,
                  "sweep.space": json.dumps(sweep.cfg.space), "sweep.metric": task.metric}
        content = sweep_content(sweep)
        parent_run_id = tracking.start_run(uri, experiment, sweep_name, params, sweep.cfg.model_dump(mode="json"),
                                           tags={"seqlab.task": base.task, "seqlab.sweep": sweep_name,
                                                 "seqlab.kind": "sweep", SWEEP_HASH_TAG: sha256_of(content)})
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / SWEEP_FILE).write_text(json.dumps(content, sort_keys=True, indent=1))
        marker.write_text(parent_run_id)

    try:
        return _fit_sweep(sweep, base, task, uri, experiment, storage, sweep_name, sweep_dir, parent_run_id,
                          sched_name, resume, promote, force_promote, force_hint)
    except BaseException as exc:  # the parent run ends KILLED on Ctrl-C/SIGTERM, FAILED on an error
        tracking.end_run(uri, parent_run_id, run_status(exc))
        raise


def default_sweep_name(sweep: Sweep, task: str) -> str:
    """``<task>-<sweep file's stem>-<time>``: sweeps of different files read apart in MLflow and on disk."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(sweep.path).stem).strip("-.") or "sweep"
    return f"{task}-{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def _fit_sweep(sweep: Sweep, base: Any, task: Any, uri: str, experiment: str, storage: str, sweep_name: str,
               sweep_dir: Path, parent_run_id: str, sched_name: str, resume: bool, promote: bool | None,
               force_promote: bool = False, force_hint: str | None = None) -> SweepResult:
    """Build (or restore) the Tuner, run it, close trial runs, pick and promote the best, write the summary."""
    import ray
    from ray import tune

    from seqlab.runtime.chatter import chatter_log
    from seqlab.sweeps.progress import TrialLines
    from seqlab.tracking.registry import promote as promote_run

    context = {"base_tree": sweep.base_tree, "uri": uri, "experiment": experiment, "parent_run_id": parent_run_id,
               "storage": storage, "name": sweep_name, "space": sweep.cfg.space}
    multi = base.train.num_workers > 1 or base.train.use_gpu or "train.num_workers" in sweep.cfg.space \
        or "train.use_gpu" in sweep.cfg.space
    # A trial that runs the loop itself holds its CPUs (and GPU); one that starts a TorchTrainer only holds a
    # driver slot, so its workers can take the CPUs (on 2 CPUs a CPU-holding driver would deadlock the sweep).
    resources: dict[str, float] = {DRIVER_RESOURCE: 1} if multi else {"CPU": base.train.cpus_per_worker}
    if multi and ray.cluster_resources().get(DRIVER_RESOURCE, 0) < 1:
        raise ConfigError(f"multi-worker trials need the custom resource {DRIVER_RESOURCE} on some node "
                          f"(ray start --resources='{{\"{DRIVER_RESOURCE}\": 4}}')")
    trainable = tune.with_resources(tune.with_parameters(trial_fn, sweep=context), resources)

    if resume:
        for line in repair_state_files(sweep_dir):  # a driver killed while Tune copied its state cut a file
            print(f"[seqlab] resume: state file {line}", flush=True)
        for line in recover_missing_checkpoints(sweep_dir):  # a driver killed mid-snapshot named a deleted one
            print(f"[seqlab] resume: trial {line}", flush=True)
        tuner = tune.Tuner.restore(str(sweep_dir), trainable=trainable, resume_errored=False, restart_errored=False)
    else:
        tuner = tune.Tuner(
            trainable,
            param_space=tune_param_space(sweep.cfg.space, sweep.cfg.searcher, sweep.cfg.seed),
            tune_config=tune.TuneConfig(
                metric=task.metric, mode=task.mode, num_samples=_num_samples(sweep),
                search_alg=_searcher(sweep, task.metric, task.mode),
                scheduler=_scheduler(sched_name, base.train.epochs, sweep.cfg), reuse_actors=True),
            # Tune's status tables only with -v; seqlab prints a line per trial event
            run_config=tune.RunConfig(name=sweep_name, storage_path=storage, verbose=0 if chatter_log() else 1,
                                      callbacks=[TrialLines(task.metric, task.mode, base.train.epochs,
                                                            _num_samples(sweep))],
                                      failure_config=tune.FailureConfig(fail_fast=False),
                                      checkpoint_config=tune.CheckpointConfig(num_to_keep=1)),
        )
    t0 = time.perf_counter()
    grid = keeping_signals(tuner.fit)  # Tune's SIGINT handler never replaces ours
    wall = time.perf_counter() - t0
    trials = _trial_rows(grid, task)
    _close_stopped_runs(uri, parent_run_id, trials)
    finished = [t for t in trials if t["status"] == "finished" and t.get("mlflow_run_id")]
    best = best_trial(finished, task)
    promotion = None
    not_promoted = None
    do_promote = sweep.cfg.promote if promote is None else promote
    failed = _errored(trials)
    if best is not None and do_promote and failed:
        # the best trial may be among the failed ones: a half-done sweep never moves the champion by itself
        not_promoted = (f"{len(failed)} of {len(trials)} trials failed, so the sweep's best finished trial is not "
                        f"promoted; to promote it anyway: seqlab promote --task {base.task} --run "
                        f"{best['mlflow_run_id']}")
    elif best is not None and do_promote:
        hint = force_hint or f"seqlab promote --task {base.task} --run {best['mlflow_run_id']} --force"
        promotion = promote_run(uri, base.task, best["mlflow_run_id"], base.tracking.registered_model,
                                force=force_promote, force_hint=hint)
    from seqlab.tracking.sweep_report import write_summary

    write_summary(uri, parent_run_id, trials, task.metric, sweep.trial_keys, best, promotion, sched_name)
    total_epochs = sum(int(t.get("epochs", 0)) for t in trials)
    tracking.log_metrics(uri, parent_run_id, {"total_trial_epochs": total_epochs, "wall_s": wall,
                                              "trials_finished": len(finished), "trials_failed": len(failed)}, step=0)
    tracking.end_run(uri, parent_run_id)
    return SweepResult(sweep_name, parent_run_id, trials, best, promotion, total_epochs, wall, not_promoted)


def best_trial(trials: list[dict[str, Any]], task: Any) -> dict[str, Any] | None:
    """The trial with the best finite ``best_<metric>``; NaN/inf rank worst, so such a trial is never best."""
    key = f"best_{task.metric}"
    best = None
    for t in trials:
        if key in t and task.is_better(float(t[key]), None if best is None else float(best[key])):
            best = t
    return best


def _points(sweep: Sweep) -> list[dict[str, Any]] | None:
    return searcher_points(sweep.cfg.space, sweep.cfg.searcher, sweep.cfg.num_samples, sweep.cfg.seed)


def _num_samples(sweep: Sweep) -> int:
    """Trials to run: one per point where the trials are given as points (grid: each distinct active
    combination ``num_samples`` times), else ``num_samples``."""
    points = _points(sweep)
    return sweep.cfg.num_samples if points is None else len(points)


def _searcher(sweep: Sweep, metric: str, mode: str) -> Any:
    """Optuna (model-based, define-by-run so conditional keys are asked only when active), or Tune's variant
    generator: seeded random sampling, or the trials given as points to evaluate (the grid's distinct
    combinations; a conditional space's random draws)."""
    if sweep.cfg.searcher == "optuna":
        from ray.tune.search import ConcurrencyLimiter
        from ray.tune.search.optuna import OptunaSearch

        from seqlab.sweeps.search_space import DefineByRun

        searcher = OptunaSearch(space=DefineByRun(sweep.cfg.space), metric=metric, mode=mode, seed=sweep.cfg.seed)
        return ConcurrencyLimiter(searcher, max_concurrent=sweep.cfg.max_concurrent_trials)
    from ray.tune.search import BasicVariantGenerator

    return BasicVariantGenerator(points_to_evaluate=_points(sweep), random_state=sweep.cfg.seed,
                                 max_concurrent=sweep.cfg.max_concurrent_trials)


def _scheduler(name: str, epochs: int, sweep: SweepConfig) -> Any:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if name == "fifo":
        return FIFOScheduler()
    # max_t one past the last epoch: a trial that survives every rung ends by itself, so it logs its model and
    # releases its workers, instead of being stopped inside its final report.
    return ASHAScheduler(time_attr="training_iteration", max_t=epochs + 1,
                         grace_period=min(sweep.grace_period, epochs), reduction_factor=sweep.reduction_factor)


def _trial_rows(grid: Any, task: Any) -> list[dict[str, Any]]:
    """One row per trial: its params, best metric (by the task's mode), epochs run, status, MLflow run."""
    metric = task.metric
    rows = []
    for result in grid:
        df = result.metrics_dataframe
        last = result.metrics or {}
        row: dict[str, Any] = {"trial": last.get("trial_id") or (Path(result.path).name if result.path else "?"),
                               "status": "error" if result.error else "finished",
                               "error": str(result.error).splitlines()[-1][:300] if result.error else ""}
        row.update({f"param.{k}": v for k, v in (result.config or {}).items()})
        if df is not None and len(df) and metric in df:
            values = df[metric].dropna()
            row[f"best_{metric}"] = task.best(values.tolist()) if len(values) else math.nan  # NaN/inf rank worst
            row["epochs"] = int(df["epoch"].max()) if "epoch" in df else len(df)
            row["loop_s"] = float(df["epoch_s"].sum()) if "epoch_s" in df else math.nan
            row["trial_overhead_s"] = float(df["trial_overhead_s"].iloc[-1]) if "trial_overhead_s" in df else math.nan
        else:
            row["epochs"] = 0
        rows.append(row)
    return rows


def _close_stopped_runs(uri: str, parent_run_id: str, trials: list[dict[str, Any]]) -> None:
    """Link each trial to its MLflow run (tag ``seqlab.trial_id``). ASHA stops trials inside ``report``, so
    their runs would stay RUNNING: mark them KILLED, errored trials' runs FAILED; finished ones stay."""
    c = tracking.client(uri)
    runs = c.search_runs([c.get_run(parent_run_id).info.experiment_id],
                         filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'", max_results=1000)
    by_trial = {t["trial"]: t for t in trials}
    groups: dict[str, list[Any]] = {}
    for run in runs:
        groups.setdefault(run.data.tags.get("seqlab.trial_id", ""), []).append(run)
    for trial_id, trial_runs in groups.items():
        trial = by_trial.get(trial_id)
        done = [r for r in trial_runs if r.info.status == "FINISHED"]
        for run in trial_runs:  # a RUNNING run is stale: its trial was stopped, failed, or restarted on resume
            if run.info.status == "RUNNING":
                failed = trial is not None and trial["status"] == "error"
                c.set_terminated(run.info.run_id, status="FAILED" if failed else "KILLED")
        if trial is None:
            continue
        trial["mlflow_run_id"] = (done or trial_runs)[0].info.run_id
        if not done and trial["status"] == "finished":
            trial["status"] = "stopped early"
