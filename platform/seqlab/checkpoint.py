"""The checkpoint file: weights, optimizer, epoch, early-stopping state and the fitted preprocessing.

One file, ``state.pt``, inside each Ray Train checkpoint directory. It holds only tensors and plain data
(dicts, lists, strings, numbers), so it loads with ``torch.load(weights_only=True)``: a foreign pickle
cannot run code on load. The same file is the artefact of the MLflow model.

It stands below every wing that reads or writes the file: training writes it, tracking logs it as the
model, Serve loads it (and never imports training code). Whether a checkpoint may be continued under a new
config is training's rule (``seqlab.training.resume``). It imports only ``errors``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from seqlab.errors import CheckpointError

FORMAT = "seqlab-checkpoint-v1"
FILENAME = "state.pt"


def save_state(directory: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (plus the format tag) to ``directory/state.pt`` atomically."""
    path = Path(directory) / FILENAME
    tmp = path.with_suffix(".tmp")
    torch.save({"format": FORMAT, **state}, tmp)
    tmp.replace(path)  # a reader never sees half a file
    return path


def load_state(path: str | Path, task: str | None = None, model: str | None = None) -> dict[str, Any]:
    """Read a checkpoint file (or the ``state.pt`` inside a directory) and check it belongs here.

    Args:
        path: ``state.pt`` or the checkpoint directory holding it.
        task: if given, the task the checkpoint must have been trained for.
        model: if given, the model name it must hold.

    Raises:
        CheckpointError: missing, unreadable, not a seqlab checkpoint, or for another task/model.
    """
    p = Path(path)
    if p.is_dir():
        p = p / FILENAME
    if not p.is_file():
        raise CheckpointError(f"checkpoint not found: {p} (expected a seqlab checkpoint file '{FILENAME}')")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (torch raises many kinds for a corrupt or foreign file)
        raise CheckpointError(f"checkpoint {p} is corrupt or not a seqlab checkpoint: {type(exc).__name__}: {exc}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"checkpoint {p} has format {found!r}; expected {FORMAT!r}")
    cfg = state.get("config", {})
    if task is not None and cfg.get("task") != task:
        raise CheckpointError(f"checkpoint {p} is for task {cfg.get('task')!r}, not {task!r}; use another run name")
    saved_model = cfg.get("model", {}).get("name")
    if model is not None and saved_model != model:
        raise CheckpointError(
            f"checkpoint {p} holds model {saved_model!r}, not {model!r}; use another run name or the same model"
        )
    return state
