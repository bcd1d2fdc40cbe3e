"""Resuming a training run safely: find its checkpoints, refuse one made under other data/model settings,
set an old run aside (``train.force_new``), and continue its MLflow run with each epoch logged once.

Used by the driver in ``seqlab.training.driver`` and by Tune trials in ``seqlab.sweeps.driver``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from seqlab.checkpoint import load_state
from seqlab.config import TaskConfig, config_to_dict
from seqlab.errors import CheckpointError
from seqlab.tracking import runs as tracking

AnyConfig = TaskConfig  # a task's config model (seqlab.tasks: each task subclasses it)
#: the config sections a resumed run must share with its checkpoint: other data or another model would
#: continue old weights on a new word index / other windows. ``train`` may change (more epochs, another lr).
RESUME_SECTIONS = ("data", "model")


def _digest(value: Any) -> str:
    blob = json.dumps(value, sort_keys=True, default=lambda o: o.tolist() if hasattr(o, "tolist") else repr(o)).encode()
    return hashlib.sha256(blob).hexdigest()


def resume_hashes(config: dict[str, Any], preprocessing: dict[str, Any]) -> dict[str, str]:
    """sha256 of the resolved config's ``data`` and ``model`` sections and of the fitted preprocessing."""
    out = {section: _digest(config.get(section)) for section in RESUME_SECTIONS}
    out["preprocessing"] = _digest(preprocessing)
    return out


def _flat(tree: Any, prefix: str) -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(_flat(value, f"{prefix}.{key}"))
    return out


def check_resume(state: dict[str, Any], config: dict[str, Any], where: str,
                 preprocessing: dict[str, Any] | None = None) -> None:
    """Refuse to continue ``state`` under ``config`` when its data/model (or preprocessing) differ.

    Args:
        state: a loaded checkpoint.
        config: the resolved config of the run that wants to resume.
        where: the checkpoint's path, for the message.
        preprocessing: the preprocessing fitted now; None skips that check (the config check runs first,
            before any data is read).

    Raises:
        CheckpointError: naming each key that differs, its value in the checkpoint and now.
    """
    saved = state.get("config", {})
    old = {k: v for s in RESUME_SECTIONS for k, v in _flat(saved.get(s), s).items()}
    new = {k: v for s in RESUME_SECTIONS for k, v in _flat(config.get(s), s).items()}
    diffs = [f"{k}: checkpoint {old.get(k, '(absent)')!r}, now {new.get(k, '(absent)')!r}"
             for k in sorted(set(old) | set(new)) if old.get(k, "(absent)") != new.get(k, "(absent)")]
    stored = state.get("resume_hash") or {}
    if not diffs and preprocessing is not None and "preprocessing" in stored \
            and stored["preprocessing"] != _digest(preprocessing):
        saved_pre = state.get("preprocessing") or {}
        keys = sorted(k for k in set(saved_pre) | set(preprocessing)
                      if _digest(saved_pre.get(k)) != _digest(preprocessing.get(k)))
        diffs.append(f"preprocessing ({', '.join(keys) or 'content'}): fitted now from the same config but other "
                     "data files")
    if diffs:
        raise CheckpointError(
            f"cannot resume from {where}: its run was trained with other data/model settings:\n  "
            + "\n  ".join(diffs)
            + "\nuse another train.run_name, or --force-new (train.force_new=true) to start this run afresh")


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    """Ray Train's checkpoint folders of a run (not its ``checkpoint_manager_snapshot.json``)."""
    return [p for p in run_dir.glob("checkpoint_*") if p.is_dir()]


def latest_checkpoint(run_dir: Path) -> Path | None:
    dirs = sorted((p for p in checkpoint_dirs(run_dir) if (p / "state.pt").is_file()), key=lambda p: p.stat().st_mtime)
    return dirs[-1] if dirs else None


def check_resumable(cfg: AnyConfig, run_dir: Path) -> tuple[str | None, dict[str, Any] | None, Path | None]:
    """If ``run_dir`` holds a previous run, check its checkpoint fits this config (task, model, data/model
    settings); return its MLflow run id, the loaded state and the checkpoint's path. Touches nothing."""
    last = latest_checkpoint(run_dir) if run_dir.is_dir() else None
    state = None
    if last is not None:
        # every task's model section has a name; TaskConfig types the section as any pydantic model
        # (load_state raises CheckpointError)
        state = load_state(last, task=cfg.task, model=cfg.model.name)  # type: ignore[attr-defined]
        check_resume(state, config_to_dict(cfg), str(last))
    elif run_dir.is_dir() and checkpoint_dirs(run_dir):
        raise CheckpointError(f"run folder {run_dir} holds checkpoint folders without {'state.pt'}: not a seqlab run")
    marker = run_dir / "seqlab_mlflow_run_id"
    return (marker.read_text().strip() if marker.is_file() else None), state, last


def set_aside(run_dir: Path) -> None:
    """``train.force_new``: keep the old run's folder (renamed), so Ray Train starts this one from scratch."""
    if run_dir.is_dir():
        aside = run_dir.with_name(f"{run_dir.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
        run_dir.rename(aside)
        print(f"[seqlab] train.force_new: the old run folder is kept as {aside}", flush=True)


def reopen_run(uri: str, run_id: str) -> bool:
    """A resumed run continues: RUNNING again, unless it had FINISHED; return whether it had."""
    c = tracking.client(uri)
    if c.get_run(run_id).info.status == "FINISHED":
        return True
    c.update_run(run_id, status="RUNNING")
    return False


def reopen_and_backfill(uri: str, run_id: str, resume: dict[str, Any] | None) -> set[int]:
    """A restored Tune trial continues ``run_id``: RUNNING again, the checkpoint's epochs that the run lacks
    logged now; return every epoch the run holds (they are not logged again)."""
    from mlflow.entities import Metric

    c = tracking.client(uri)
    c.update_run(run_id, status="RUNNING")
    logged = {int(m.step) for m in c.get_metric_history(run_id, "epoch_s")}
    missing = [h for h in (resume or {}).get("history", []) if int(h["epoch"]) not in logged]
    now = int(time.time() * 1000)
    batch = [Metric(k, float(v), now, int(h["epoch"])) for h in missing for k, v in h.items()
             if v is not None and k != "epoch"]
    for i in range(0, len(batch), 500):
        c.log_batch(run_id, metrics=batch[i : i + 500])
    return logged | {int(h["epoch"]) for h in missing}
