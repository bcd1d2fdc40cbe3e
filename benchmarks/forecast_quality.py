"""Forecast MAE of a config against the common-sense baseline, trained in this process (no Ray, no MLflow).

The loop is seqlab's own (``seqlab.training.loop.run_epochs``, what each Ray Train worker runs) and the test figure
is ``seqlab.training.loop.evaluate_test`` on the best-validation weights, so the numbers are what ``seqlab train``
logs, without the Ray start-up. Several ``--seeds`` also report the mean of the seeds' test predictions.

    nice python benchmarks/forecast_quality.py --config configs/forecast/gru.yaml --threads 1
    nice python benchmarks/forecast_quality.py --config configs/forecast/gru.yaml data.step=2 --seeds 0,1,2
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch

from seeded import parse_seeded_args  # benchmarks/, this script's folder
from seqlab.tasks import load_config
from seqlab.tasks import get_task
from seqlab.training.loop import evaluate_test, run_epochs


def _test_predictions(cfg: object, task: object, prepared: object, state: dict) -> np.ndarray:
    module = task.build_model(cfg, prepared.preprocessing)  # type: ignore[attr-defined]
    module.load_state_dict(state["best_model_state"])
    module.eval()
    x, _ = prepared.test.batch(np.arange(len(prepared.test)))  # type: ignore[attr-defined]
    with torch.inference_mode():
        return module(torch.from_numpy(x)).numpy()


def main() -> None:
    args, seeds = parse_seeded_args(__doc__, "data.step=2")
    preds, prepared = [], None
    for seed in seeds:
        cfg = load_config(args.config, [*args.overrides, f"train.seed={seed}"])
        task = get_task(cfg.task)
        prepared = prepared or task.prepare(cfg)
        t0 = time.perf_counter()
        state = run_epochs(cfg, prepared)
        seconds = time.perf_counter() - t0
        test = evaluate_test(cfg, task, prepared, state)
        preds.append(_test_predictions(cfg, task, prepared, state))
        row = {
            "config": args.config, "overrides": args.overrides, "seed": seed,
            "val_mae": state["best_metric"], "val_baseline": prepared.info["baseline.val_mae"],
            "test_mae": test["test_mae"], "test_baseline": prepared.info["baseline.test_mae"],
            "best_epoch": state["best_epoch"], "epochs": state["epoch"], "train_s": round(seconds, 1),
        }
        row["test_vs_baseline"] = 1 - row["test_mae"] / row["test_baseline"]
        row["val_vs_baseline"] = 1 - row["val_mae"] / row["val_baseline"]
        print(json.dumps(row), flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(row) + "\n")
    if len(preds) > 1 and prepared is not None:
        y = prepared.test.targets  # type: ignore[attr-defined]
        mae = float(np.mean(np.abs(np.mean(preds, axis=0) - y)))
        print(json.dumps({"ensemble_test_mae": mae, "ensemble_vs_baseline": 1 - mae / prepared.info["baseline.test_mae"]}))


if __name__ == "__main__":
    main()
