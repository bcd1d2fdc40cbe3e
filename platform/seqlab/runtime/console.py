"""What a training prints: one line per epoch (``epoch i/n`` with an ETA), progress inside a long epoch,
and a one-screen summary with where the seconds went. (What other programs print: seqlab.runtime.chatter.)

    [seqlab] epoch 2/4  41.3 s  ETA 1m23s  train_loss=0.4012  train_accuracy=0.8210  val_accuracy=0.8530 ...
    [seqlab]   epoch 1/4  step 120/282  17.6 s  ETA in epoch 23.7 s
"""

from __future__ import annotations

import time
from typing import Any

PROGRESS_EVERY_S = 10.0  # a step of the loop prints its progress at most this often
# metric keys shown elsewhere in the epoch line, or bookkeeping nobody reads per epoch
_NOT_SHOWN = {"epoch", "epoch_s", "resumed_from"}


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def epoch_line(metrics: dict[str, Any], epochs: int) -> str:
    """``[seqlab] epoch i/n  <time>  ETA <time>  key=value ...`` for one finished epoch.

    The ETA assumes the remaining epochs take as long as this one (early stopping may end sooner).
    """
    epoch, seconds = int(metrics["epoch"]), float(metrics["epoch_s"])
    head = f"[seqlab] epoch {epoch}/{epochs}  {_duration(seconds)}"
    if epoch < epochs:
        head += f"  ETA {_duration(seconds * (epochs - epoch))}"
    if metrics.get("resumed_from"):
        head += f"  (resumed from epoch {int(metrics['resumed_from'])})"
    values = "  ".join(
        f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
        for k, v in metrics.items()
        if k not in _NOT_SHOWN and v is not None
    )
    return f"{head}  {values}"


def progress_line(epoch: int, epochs: int, step: int, steps: int, elapsed_s: float) -> str:
    """Progress inside an epoch: steps done and the time the rest of this epoch should take."""
    left = elapsed_s / step * (steps - step)
    return (f"[seqlab]   epoch {epoch}/{epochs}  step {step}/{steps}  {_duration(elapsed_s)}  "
            f"ETA in epoch {_duration(left)}")


class Clock:
    """Seconds per phase of a run, in the order they happened: ``lap(name)`` closes the current phase."""

    def __init__(self) -> None:
        self.started = time.time()  # wall clock, so another process can subtract its own launch time
        self._last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> float:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self._last
        self._last = now
        return self.laps[name]

    def split_fit(self, history: list[dict[str, Any]]) -> dict[str, float]:
        """The laps, with ``fit`` split into the training loop (the epochs' own seconds) and the rest
        (worker group start, checkpoints, Ray Train's teardown); plus ``started`` (epoch seconds)."""
        loop = sum(float(h.get("epoch_s", 0.0)) for h in history)
        laps: dict[str, float] = {"started": self.started}
        for name, seconds in self.laps.items():
            if name == "fit":
                laps.update(workers_checkpoints=max(0.0, seconds - loop), loop=loop)
            else:
                laps[name] = seconds
        return laps


def _versus(mine: float, base: float, mode: str) -> str:
    """``12.3% under it`` / ``4.1% OVER it: worse`` for a metric where ``mode`` (min or max) is better."""
    if base == 0:
        return "better" if (mine < base if mode == "min" else mine > base) else "not better"
    rel = (mine - base) / abs(base)
    better = rel < 0 if mode == "min" else rel > 0
    side = "under" if rel < 0 else "over"
    return f"{abs(rel):.1%} {side} it" + ("" if better else ": NOT better than the baseline")


def summary(result: Any, wall_s: float | None = None, mode: str | None = None) -> str:
    """One screen after ``seqlab train``: run, best epoch and metrics, test metrics, the data's baselines
    (with how the model compares, when ``mode`` says which way is better), where the time went."""
    best = "  ".join(f"{k}={v:.4f}" for k, v in result.metrics.items() if k.startswith("val_"))
    test = "  ".join(f"{k}={v:.4f}" for k, v in result.test_metrics.items())
    lines = [
        "[seqlab] ---------------------------------------------------------------- summary",
        (
            f"[seqlab] run         {result.run_name}  (epochs run: {len(result.history)}, "
            f"best: {int(result.metrics.get('epoch', 0))})"
        ),
        f"[seqlab] best val    {best or '-'}",
        f"[seqlab] test        {test or '-'}",
        f"[seqlab] checkpoint  {result.checkpoint_path}",
    ]
    baselines = []
    for key, base in ((k.removeprefix("baseline."), float(v)) for k, v in result.info.items()
                      if k.startswith("baseline.")):
        mine = (result.metrics if key.startswith("val_") else result.test_metrics).get(key)
        versus = f" (model {mine:.4f}: {_versus(float(mine), base, mode)})" if mine is not None and mode else ""
        baselines.append(f"{key}={base:.4f}{versus}")
    if baselines:
        lines.append("[seqlab] baseline    " + "\n[seqlab]             ".join(baselines))
    if result.run_id:
        lines.append(f"[seqlab] MLflow      run {result.run_id}  model {result.model_uri}")
    timing = {k: v for k, v in result.timing.items() if k != "started"}
    if timing:
        total = sum(timing.values())
        parts = "  ".join(f"{k} {v:.1f}" for k, v in timing.items())
        lines.append(f"[seqlab] seconds     {parts}  (total {total:.1f}"
                     + (f", wall {wall_s:.1f} incl. imports" if wall_s is not None else "") + ")")
    return "\n".join(lines)
