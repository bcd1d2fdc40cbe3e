"""What a sweep prints while it runs: one seqlab line when a trial starts, finishes or fails.

    [seqlab] trial 00001 started  (1/3)  data.maxlen=8  model.name=gru  train.lr=0.00312
    [seqlab] trial 00001 finished after 2/3 epochs (stopped early)  best val_accuracy=0.5833  5.1 s
    [seqlab] trial 00002 FAILED after 1/3 epochs: ValueError: ...

Tune's own status tables stay off the console unless ``-v`` (see seqlab.runtime.chatter): they repeat every
parameter of every trial each few seconds and are what the MLflow UI shows better.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ray import tune


def _value(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


class TrialLines(tune.Callback):
    """A Tune callback (it runs in the sweep's driver) printing one line per trial event."""

    def __init__(self, metric: str, mode: str, epochs: int, trials: int) -> None:
        self.metric, self.mode, self.epochs, self.trials = metric, mode, epochs, trials
        self.started = 0

    @staticmethod
    def _name(trial: Any) -> str:
        return str(trial.trial_id).rsplit("_", 1)[-1]

    def _best(self, trial: Any) -> str:
        best = (trial.metric_analysis.get(self.metric) or {}).get(self.mode)  # Tune keeps min/max/last per metric
        if not isinstance(best, (int, float)):
            return "no metric reported"
        return f"best {self.metric}={best:.4f}" if math.isfinite(best) else f"best {self.metric}={best}"

    def _epochs(self, trial: Any) -> int:
        return int((trial.last_result or {}).get("epoch", 0) or 0)

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.started += 1
        params = "  ".join(f"{k}={_value(v)}" for k, v in sorted((trial.config or {}).items()))
        print(f"[seqlab] trial {self._name(trial)} started  ({self.started}/{self.trials})  {params}", flush=True)

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        epochs = self._epochs(trial)
        early = " (stopped early)" if 0 < epochs < self.epochs else ""
        seconds = float((trial.last_result or {}).get("time_total_s", 0.0) or 0.0)
        print(f"[seqlab] trial {self._name(trial)} finished after {epochs}/{self.epochs} epochs{early}  "
              f"{self._best(trial)}  {seconds:.1f} s", flush=True)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        print(f"[seqlab] trial {self._name(trial)} FAILED after {self._epochs(trial)}/{self.epochs} epochs: "
              f"{_last_line(trial.error_file)}", flush=True)


def _last_line(path: str | None) -> str:
    """The last line of a trial's error file (the exception), or where to look."""
    try:
        lines = [line for line in Path(path).read_text(errors="replace").splitlines() if line.strip()] if path else []
    except OSError:
        lines = []
    return lines[-1][:300] if lines else "see the sweep's log"
