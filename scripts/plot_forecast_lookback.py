"""Forecast MAE against lookback and step, with the common-sense baseline: one sweep's MLflow runs -> a PNG.

Reads the trials of one forecast sweep (the child runs of its parent MLflow run), draws each trial's best
validation MAE and held-out test MAE against ``data.lookback``, one line per ``data.step``, with the
common-sense baseline of each split (per lookback: it only changes which rows start a window), writes the PNG (default
``figures/forecast_lookback_step.png``, not tracked by git) and logs it to the sweep's parent run under ``figures/``.

    seqlab tune --config configs/forecast/sweep_lookback.yaml
    python scripts/plot_forecast_lookback.py                    # the latest sweep of that file
    python scripts/plot_forecast_lookback.py --sweep <name> --out docs/forecast_lookback_step.png  # the README's

MLflow: $MLFLOW_TRACKING_URI (default sqlite:///mlflow.db), as ``seqlab tune`` used.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from seqlab.errors import SeqlabError
from seqlab.tracking import runs as tracking
from seqlab.tracking.sweep_trials import Trial, find_sweep, finished_trials, log_figure

ROOT = Path(__file__).resolve().parent.parent


def trial_points(trials: list[Trial]) -> list[dict[str, float]]:
    """One dict per finished trial: lookback, step, best val MAE, test MAE and both baselines."""
    points = []
    for t in trials:
        p, m = t.params, t.metrics
        points.append({"lookback": int(p["data.lookback"]), "step": int(p["data.step"]),
                       "val": m["best_val_mae"], "test": m.get("test_mae", math.nan),
                       "val_base": float(p["baseline.val_mae"]), "test_base": float(p["baseline.test_mae"])})
    return points


def draw(points: list[dict[str, float]], title: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    for ax, split in zip(axes, ("val", "test")):
        for step in sorted({int(q["step"]) for q in points}):
            rows = sorted((q for q in points if q["step"] == step), key=lambda q: q["lookback"])
            ax.plot([q["lookback"] for q in rows], [q[split] for q in rows], marker="o", label=f"step {step}")
        # The baseline depends on the lookback only through which rows start a window: one value per lookback.
        lookbacks = sorted({int(q["lookback"]) for q in points})
        base = [min(q[f"{split}_base"] for q in points if q["lookback"] == lb) for lb in lookbacks]
        ax.plot(lookbacks, base, color="black", linestyle="--", marker="_", label="common-sense baseline")
        ax.set_xscale("log")
        ax.set_xticks(lookbacks, [str(lb) for lb in lookbacks])
        ax.minorticks_off()
        ax.set_xlabel("lookback (rows of history)")
        ax.set_ylabel(f"{'best validation' if split == 'val' else 'held-out test'} MAE (normalized)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", default=None, help="the sweep's name (tag seqlab.sweep); default: the latest")
    parser.add_argument("--experiment", default="seqlab")
    parser.add_argument("--out", default=str(ROOT / "figures" / "forecast_lookback_step.png"),
                        help="the PNG (default figures/forecast_lookback_step.png, untracked)")
    args = parser.parse_args()
    uri = tracking.resolve_tracking_uri(None)
    c = tracking.client(uri)
    try:
        parent = find_sweep(c, args.experiment, "forecast", {"data.lookback"}, args.sweep)
    except SeqlabError as exc:
        sys.exit(f"{type(exc).__name__}: {exc}")
    points = trial_points(finished_trials(c, parent, "best_val_mae"))
    if not points:
        sys.exit(f"sweep {parent.info.run_name!r} has no finished trials with best_val_mae")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    draw(points, f"forecast sweep {parent.info.run_name}: MAE vs lookback and step ({len(points)} trials)", out)
    where = log_figure(c, parent, out)
    print(f"{out} ({len(points)} trials) logged to run {parent.info.run_id} as {where}")


if __name__ == "__main__":
    main()
