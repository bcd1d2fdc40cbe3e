"""The whole pipeline from one YAML: data checks -> train or sweep per task -> promote -> deploy.

    seqlab pipeline --config configs/pipeline.yaml
    ray job submit --working-dir . -- python jobs/pipeline.py --config configs/pipeline.yaml

Each step's outcome is collected; the summary lists the best run per task, its metrics, the registry result,
the endpoint URLs and MLflow run links, and the exit status is non-zero if any step failed.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from seqlab.config import read_yaml
from seqlab.errors import ConfigError, SeqlabError
from seqlab.tasks import load_config


class TaskStep(BaseModel):
    """Train one config, or run one sweep, for a task."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    train: str | None = None  # a training config (path relative to the pipeline file's folder, or the cwd)
    sweep: str | None = None  # a sweep file
    overrides: list[str] = Field(default_factory=list)  # dotted key=value for that file

    @model_validator(mode="after")
    def _one(self) -> TaskStep:
        if (self.train is None) == (self.sweep is None):
            raise ValueError("give exactly one of 'train' (a config) or 'sweep' (a sweep file)")
        return self


class PipelineServe(BaseModel):
    """Which Serve config to deploy after the tasks, and what to change in every app of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    config: str = "serve.yaml"  # a Serve config (relative to the pipeline file's folder, or the cwd)
    port: int | None = Field(None, ge=1, le=65535)  # None: the Serve config's http_options.port
    app_overrides: dict[str, Any] = Field(default_factory=dict)  # e.g. {num_cpus: 0, num_replicas: 2}


class PipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data_check: bool = True  # describe the packaged data first (fails fast on a broken install)
    tasks: dict[str, TaskStep] = Field(default_factory=dict)  # task name -> its step, run in this order
    promote: bool = True  # after a plain training; a sweep promotes its own best trial
    deploy: bool = True
    serve: PipelineServe = PipelineServe()
    block: bool = False  # keep serving after the deploy on a cluster too (on a Ray it starts, it always does)

    @model_validator(mode="after")
    def _known_tasks(self) -> PipelineConfig:
        from seqlab.tasks import TASKS

        unknown = [t for t in self.tasks if t not in TASKS]
        if unknown:
            raise ValueError(f"tasks: unknown task(s) {unknown}; choose from: {', '.join(sorted(TASKS))}")
        return self


def _resolve(path: str, folder: Path) -> Path:
    for candidate in (folder / path, Path(path), folder.parent / path):
        if candidate.is_file():
            return candidate
    raise ConfigError(f"pipeline: file {path!r} not found (relative to {folder} or the cwd)")


def load_pipeline(path: str | Path) -> tuple[PipelineConfig, Path]:
    p = Path(path)
    try:
        cfg = PipelineConfig.model_validate(read_yaml(p))
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(x) for x in e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]
        raise ConfigError(f"invalid pipeline ({p}):\n" + "\n".join(lines)) from None
    # Check every referenced config now, before any Ray resource or minute of training is spent.
    from seqlab.sweeps.sweep_file import load_sweep

    for task, step in cfg.tasks.items():
        if step.train:
            loaded = load_config(_resolve(step.train, p.parent), step.overrides)
            kind = loaded.task
        else:
            kind = load_sweep(_resolve(step.sweep or "", p.parent), step.overrides).task
        if kind != task:
            raise ConfigError(f"pipeline {p}: tasks.{task} points at a {kind!r} config")
    if cfg.deploy:
        serve_apps(cfg.serve, p.parent)
    return cfg, p.parent


def serve_apps(spec: PipelineServe, folder: Path) -> tuple[int, list[Any]]:
    """The port and the checked ServeArgs of every app of the pipeline's Serve config."""
    from seqlab.serve.deploy import load_serve_file
    from seqlab.serve.schemas import ServeArgs, validate_args

    http, apps = load_serve_file(_resolve(spec.config, folder))
    apps = [validate_args(ServeArgs, {**a.model_dump(), **spec.app_overrides}, "pipeline serve.app_overrides")
            for a in apps]
    return int(spec.port or http.get("port", 8000)), apps


def run_pipeline(path: str | Path, force_promote: bool = False,
                 loaded: tuple[PipelineConfig, Path] | None = None) -> tuple[dict[str, Any], bool]:
    """Run every step; return the summary and whether all steps succeeded.

    ``force_promote`` (``seqlab pipeline --force``) crowns each task's new model even where the champion is
    better or was validated on data it cannot be compared on (a version is still never overwritten).
    ``loaded``: what :func:`load_pipeline` returned for ``path``, if the caller has it already.

    Raises:
        ConfigError: a bad pipeline file, or (before anything runs) a Serve port another process holds.
    """
    from seqlab.runtime.cluster import init_ray
    from seqlab.serve.deploy import reach_local_server

    cfg, folder = loaded or load_pipeline(path)
    if cfg.deploy:  # a local server of another terminal is updated, not fought over its port
        port, apps = serve_apps(cfg.serve, folder)
        reach_local_server("127.0.0.1", port)
    summary: dict[str, Any] = {"steps": {}}
    ok = True

    def step(name: str, fn: Any) -> Any:
        nonlocal ok
        t0 = time.perf_counter()
        print(f"[seqlab] pipeline step: {name}", flush=True)
        try:
            out = fn()
            summary["steps"][name] = {"status": "ok", "seconds": round(time.perf_counter() - t0, 1)}
            return out
        except Exception as exc:  # noqa: BLE001  (one failed step must not hide the others' results)
            ok = False
            detail = str(exc) if isinstance(exc, SeqlabError) else traceback.format_exc(limit=3)
            summary["steps"][name] = {"status": "failed", "error": detail[-2000:]}
            print(f"[seqlab] step {name} failed: {detail}", flush=True)
            return None

    if cfg.data_check:
        from seqlab.describe import describe_all

        step("data", describe_all)
    init_ray()
    hint = f"seqlab pipeline --config {path} --force"
    for task, spec in cfg.tasks.items():
        result = step(f"{task}", lambda spec=spec: _run_task(spec, folder, cfg.promote, force_promote, hint))
        if result is not None:
            summary[task] = result
    if cfg.deploy:
        from seqlab.serve.deploy import deploy

        # reload: pin each app to the champion promoted a moment ago, also when the apps already run
        urls = step("deploy", lambda: deploy(apps, reload=True, port=port))
        if urls is not None:
            summary["endpoints"] = urls
    return summary, ok


def _run_task(spec: TaskStep, folder: Path, promote_after: bool, force: bool, force_hint: str) -> dict[str, Any]:
    from seqlab.tracking.runs import resolve_tracking_uri

    if spec.train:
        from seqlab.tracking.registry import promote
        from seqlab.training.driver import run_training

        cfg = load_config(_resolve(spec.train, folder), spec.overrides)
        result = run_training(cfg)
        out: dict[str, Any] = {
            "run": result.run_name, "mlflow_run_id": result.run_id,
            "metrics": {k: round(v, 4) for k, v in {**result.metrics, **result.test_metrics}.items()
                        if k.startswith(("val_", "test_"))},
        }
        baseline = {k.removeprefix("baseline."): round(v, 4) for k, v in result.info.items()
                    if k.startswith("baseline.val_")}
        if baseline:
            out["baseline"] = baseline
        if promote_after and result.run_id:
            p = promote(resolve_tracking_uri(cfg.tracking.tracking_uri), cfg.task, result.run_id,
                        cfg.tracking.registered_model, force=force, force_hint=force_hint)
            out["registry"] = p.line()
        return out
    from seqlab.sweeps.driver import run_sweep
    from seqlab.sweeps.sweep_file import load_sweep

    sweep = load_sweep(_resolve(spec.sweep or "", folder), spec.overrides)
    res = run_sweep(sweep, force_promote=force, force_hint=force_hint)
    failure = res.failure()
    if failure is not None:
        raise SeqlabError(f"sweep {res.name}: {failure}" + (f"; {res.not_promoted}" if res.not_promoted else "")
                          + f" (MLflow parent run {res.parent_run_id})")
    if res.best is None:
        raise SeqlabError(f"sweep {res.name}: no trial finished; see the MLflow parent run {res.parent_run_id}")
    metric = next(k for k in res.best if k.startswith("best_"))
    out = {"sweep": res.name, "mlflow_parent_run_id": res.parent_run_id, "best_trial": res.best["trial"],
           "mlflow_run_id": res.best.get("mlflow_run_id"), metric: round(res.best[metric], 4),
           "params": {k.removeprefix("param."): v for k, v in res.best.items() if k.startswith("param.")},
           "trials": len(res.trials), "trial_epochs": res.total_epochs}
    if res.promotion is not None:
        p = res.promotion
        out["registry"] = p.line()
    return out
