"""Helpers shared by the serve tests (a uniquely named module: tests/ has no packages)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TASKS = ("sentiment", "forecast")


def make_state(task: str, seed: int = 0) -> dict[str, Any]:
    """A checkpoint-like state with preprocessing fitted on the tiny config's data and untrained weights."""
    import torch
    from seqlab.config import config_to_dict
    from seqlab.tasks import get_task, load_config

    cfg = load_config(ROOT / "configs" / task / "tiny.yaml")
    t = get_task(task)
    prepared = t.prepare(cfg)
    torch.manual_seed(seed)
    module = t.build_model(cfg, prepared.preprocessing)
    return {
        "config": config_to_dict(cfg),
        "preprocessing": prepared.preprocessing,
        "best_model_state": module.state_dict(),
        "best_metrics": {f"val_{t.metric[4:]}": 0.5, "epoch": 1},
    }


def log_state_model(uri: str, folder: Path, state: dict[str, Any], metrics: dict[str, float] | None = None,
                    tags: dict[str, str] | None = None) -> str:
    """A FINISHED MLflow run holding ``state`` as a seqlab pyfunc model (no Ray, no training); its run id."""
    from seqlab.checkpoint import save_state
    from seqlab.tracking import runs as tracking

    folder.mkdir(parents=True, exist_ok=True)
    run_id = tracking.start_run(uri, "seqlab-tests", "logged", {}, {},
                                tags={"seqlab.task": state["config"]["task"], **(tags or {})})
    tracking.log_model(uri, run_id, str(save_state(folder, state)))
    if metrics:
        tracking.log_metrics(uri, run_id, metrics, step=0)
    tracking.end_run(uri, run_id)
    return run_id


def weather_rows(n: int = 30, seed: int = 1, shuffle: bool = True) -> list[dict[str, Any]]:
    """Raw weather rows as a client sends them: ISO times, any order."""
    from seqlab.data.synthetic import synthetic_weather

    frame = synthetic_weather(n, seed=seed)
    if shuffle:
        frame = frame.sample(frac=1.0, random_state=seed)
    frame["time"] = frame["time"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    return frame.to_dict("records")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Registry:
    """A temp MLflow store with a champion per task (the ``registry`` fixture)."""

    uri: str
    run_ids: dict[str, str]
    versions: dict[str, str]
