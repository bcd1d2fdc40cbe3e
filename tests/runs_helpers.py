"""Real MLflow runs for registry tests, without Ray: a tiny trained checkpoint logged as the run's model.

    from runs_helpers import tiny_checkpoint, finished_run
"""

from __future__ import annotations

from pathlib import Path

from seqlab.checkpoint import save_state
from seqlab.config import config_to_dict
from seqlab.tasks import get_task, load_config
from seqlab.tracking import runs as tracking
from seqlab.tracking.registry import FINGERPRINT_TAG
from seqlab.training.loop import run_epochs

ROOT = Path(__file__).resolve().parents[1]


def tiny_checkpoint(folder: Path, task: str = "sentiment", overrides: tuple[str, ...] = ()) -> Path:
    """Train the tiny config (one epoch of 2 steps unless ``overrides`` say otherwise) in-process and write
    its ``state.pt`` into ``folder``."""
    cfg = load_config(ROOT / "configs" / task / "tiny.yaml",
                      ["train.epochs=1", "train.max_steps_per_epoch=2", *overrides])
    prepared = get_task(cfg.task).prepare(cfg)
    box: dict[str, object] = {}
    run_epochs(cfg, prepared, report=lambda metrics, state: box.update(state=state))
    folder.mkdir(parents=True, exist_ok=True)
    return save_state(folder, box["state"])  # type: ignore[arg-type]


def finished_run(uri: str, checkpoint: Path, value: float, task: str = "sentiment", log_model: bool = True,
                 status: str = "FINISHED", overrides: tuple[str, ...] = ()) -> str:
    """A seqlab-like training run: tags, ``best_<metric>`` = ``value``, the logged model; return its id.

    ``overrides`` change the tiny config the run states (its params and data fingerprint).
    """
    cfg = load_config(ROOT / "configs" / task / "tiny.yaml", list(overrides))
    resolved = config_to_dict(cfg)
    run_id = tracking.start_run(uri, "seqlab", f"run-{value}", {}, resolved, tags={
        "seqlab.task": task, FINGERPRINT_TAG: get_task(task).data_fingerprint(cfg)})
    tracking.log_metrics(uri, run_id, {f"best_{get_task(task).metric}": value}, step=1)
    if log_model:
        tracking.log_model(uri, run_id, str(checkpoint))
    tracking.end_run(uri, run_id, status)
    return run_id
