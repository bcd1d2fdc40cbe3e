"""The checkpoint file: weights, optimizer, epoch, early-stopping state and the fitted preprocessing.

One file, ``state.pt``, inside each Ray Train checkpoint directory. It holds only tensors and plain data
(dicts, lists, strings, numbers), so it loads with ``torch.load(weights_only=True)``: a foreign pickle
cannot run code on load. The same file is the artefact of the MLflow model.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from seqlab.errors import CheckpointError

FORMAT = "seqlab-checkpoint-v1"
FILENAME = "state.pt"
#: the config sections a resumed run must share with its checkpoint: other data or another model would
#: continue old weights on a new word index / other windows. ``train`` may change (more epochs, another lr).
RESUME_SECTIONS = ("data", "model")


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
