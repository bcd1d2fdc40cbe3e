"""Validation and held-out test accuracy of a sentiment config, trained in this process (no Ray, no MLflow).

The loop is seqlab's own (``seqlab.training.loop.run_epochs``, what each Ray Train worker runs, here on one torch
thread as a one-CPU worker runs it) and the test figure is ``seqlab.training.loop.evaluate_test`` on the
best-validation weights, so a seed gives the figures ``seqlab train`` logs, without the Ray start-up.

    nice -n 19 python benchmarks/sentiment_quality.py --config configs/sentiment/lstm.yaml --seeds 0,1
    nice -n 19 python benchmarks/sentiment_quality.py --config configs/sentiment/lstm.yaml train.optimizer=rmsprop
"""

from __future__ import annotations

import json
import time
from typing import Any

from seeded import parse_seeded_args  # benchmarks/, this script's folder
from seqlab.tasks import get_task, load_config
from seqlab.training.loop import evaluate_test, run_epochs


def main() -> None:
    args, seeds = parse_seeded_args(__doc__, "train.lr=5e-4")
    prepared = None
    for seed in seeds:
        cfg = load_config(args.config, [*args.overrides, f"train.seed={seed}"])
        task = get_task(cfg.task)
        prepared = prepared or task.prepare(cfg)  # the data do not depend on train.seed

        def show(metrics: dict[str, Any], state: Any) -> None:
            print(f"  seed {seed} epoch {int(metrics['epoch'])}: val_accuracy {metrics['val_accuracy']:.4f} "
                  f"({metrics['epoch_s']:.0f} s)", flush=True)

        t0 = time.perf_counter()
        state = run_epochs(cfg, prepared, report=show)
        seconds = time.perf_counter() - t0
        test = evaluate_test(cfg, task, prepared, state)
        row = {
            "config": args.config, "overrides": args.overrides, "seed": seed,
            "val_accuracy": round(state["best_metric"], 4), "test_accuracy": round(test["test_accuracy"], 4),
            "best_epoch": state["best_epoch"], "epochs": state["epoch"], "train_s": round(seconds, 1),
            "val_by_epoch": [round(h["val_accuracy"], 4) for h in state["history"]],
        }
        print(json.dumps(row), flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
