"""What Ray Train costs: seqlab's training against a plain single-process PyTorch loop, same work.

For each case (a sentiment Conv1D and a forecast GRU), the same model is trained on the same data for the
same steps, with the same torch thread count:

* plain   - a loop written here: ``task.build_model``, Adam, the batches of ``prepared.train.batch(idx)``
            in the same seeded order, then one pass over the validation split (as seqlab does every epoch);
* seqlab  - ``seqlab.training.driver.run_training`` on 1 Ray Train worker with ``train.cpus_per_worker=2`` (2 torch
            threads), and on 2 workers x 1 CPU (DDP over gloo, half the batch each).

samples/s = training samples / epoch seconds (training steps + validation pass), epoch 1 left out as
warm-up when there are 3+ epochs; seqlab's comes from its per-epoch ``samples_per_s`` / ``epoch_s`` reports.
On a shared machine the load swings from epoch to epoch, so each figure is the median of the epochs'
rates (the best epoch beside it), and the plain loop runs twice (before and after seqlab), its better
median counting: treat ratios within ~10-20% as equal unless the load average was low.
Start-up = wall time of ``run_training`` minus the sum of its epoch times (the data is prepared once, outside,
so this is Ray + Train worker start-up + MLflow run + checkpoints + test evaluation + model logging).

    python benchmarks/train_overhead.py                  # about 5 minutes on 2 idle cores, 10+ when loaded
    python benchmarks/train_overhead.py --epochs 3 --max-steps 50 --maxlen 200 --no-two-workers
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import numpy as np
import torch

from seqlab.tasks import load_config
from seqlab.tasks import get_task

ROOT = Path(__file__).resolve().parent.parent
THREADS = 2


def plain_loop(cfg: Any, prepared: Any) -> list[tuple[int, float]]:
    """The same training as seqlab's, by hand: ``(samples, seconds)`` per epoch."""
    task = get_task(cfg.task)
    tc = cfg.train
    torch.set_num_threads(THREADS)
    torch.manual_seed(tc.seed)
    model = task.build_model(cfg, prepared.preprocessing, prepared.embedding_matrix)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=tc.lr)
    n = len(prepared.train)
    epochs = []
    for epoch in range(1, tc.epochs + 1):
        t0 = time.perf_counter()
        order = np.random.default_rng(tc.seed * 1_000_003 + epoch).permutation(n)  # seqlab's order
        steps = math.ceil(n / tc.batch_size)
        if tc.max_steps_per_epoch is not None:
            steps = min(steps, tc.max_steps_per_epoch)
        model.train()
        seen = 0
        for s in range(steps):
            idx = order[s * tc.batch_size : (s + 1) * tc.batch_size]
            x, y = prepared.train.batch(idx)
            out = model(torch.as_tensor(x))
            loss = task.loss(out, torch.as_tensor(y))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(idx)
        model.eval()
        with torch.inference_mode():  # seqlab validates every epoch, inside its epoch time
            for start in range(0, len(prepared.val), tc.batch_size * 4):
                x, y = prepared.val.batch(np.arange(start, min(start + tc.batch_size * 4, len(prepared.val))))
                task.metric_sums(model(torch.as_tensor(x)), torch.as_tensor(y))
        epochs.append((seen, time.perf_counter() - t0))
    return epochs


def epoch_rates(epochs: list[tuple[int, float]]) -> list[float]:
    """Per-epoch samples/s, the first (warm-up) epoch left out when there are 3+."""
    kept = epochs[1:] if len(epochs) >= 3 else epochs
    return [n / sec for n, sec in kept]


def median(values: list[float]) -> float:
    v = sorted(values)
    return (v[(len(v) - 1) // 2] + v[len(v) // 2]) / 2


def seqlab_run(cfg: Any, prepared: Any, name: str) -> tuple[list[tuple[int, float]], float]:
    """``run_training`` on the prepared data: per-epoch ``(samples, seconds)`` and the wall seconds."""
    from seqlab.training.driver import run_training

    t0 = time.perf_counter()
    result = run_training(cfg, prepared=prepared, name=f"{name}-{int(time.time())}")
    wall = time.perf_counter() - t0
    epochs = [(round(h["samples_per_s"] * h["epoch_s"]), h["epoch_s"]) for h in result.history]
    return epochs, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5, help="3+ leaves the first out as warm-up")
    parser.add_argument("--max-steps", type=int, default=30, help="train.max_steps_per_epoch")
    parser.add_argument("--maxlen", type=int, default=200, help="sentiment data.maxlen")
    parser.add_argument("--no-two-workers", action="store_true", help="skip the 2-worker runs")
    args = parser.parse_args()

    import ray

    from seqlab.runtime.cluster import DRIVER_RESOURCE

    logging.getLogger("ray").setLevel(logging.ERROR)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning)
    tmp = Path(tempfile.mkdtemp(prefix="seqlab-overhead-"))
    common = [f"train.storage_path={tmp / 'ray'}", f"tracking.tracking_uri=sqlite:///{tmp}/mlflow.db",
              "tracking.experiment=train-overhead", f"train.epochs={args.epochs}",
              f"train.max_steps_per_epoch={args.max_steps}", "train.optimizer=adam"]
    cases = [
        ("sentiment conv1d", "configs/sentiment/conv1d.yaml", [f"data.maxlen={args.maxlen}"]),
        ("forecast GRU(32)", "configs/forecast/gru.yaml", []),
    ]
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=1024 * 2**20,
             resources={DRIVER_RESOURCE: 8}, log_to_driver=False, logging_level=logging.ERROR)
    load_start = os.getloadavg()[0]
    lines = []
    try:
        for label, path, extra in cases:
            one = load_config(ROOT / path, common + extra + ["train.num_workers=1", f"train.cpus_per_worker={THREADS}"])
            t0 = time.perf_counter()
            prepared = get_task(one.task).prepare(one)
            prep_s = time.perf_counter() - t0
            print(f"[train_overhead] {label}: data prepared in {prep_s:.1f} s; plain loop ...", flush=True)
            plain_a = epoch_rates(plain_loop(one, prepared))
            print(f"[train_overhead] {label}: seqlab 1 worker ...", flush=True)
            ep1, wall1 = seqlab_run(one, prepared, "overhead-1w")
            plain_b = epoch_rates(plain_loop(one, prepared))  # again: the machine's load drifts
            plain = max(median(plain_a), median(plain_b))
            s1 = epoch_rates(ep1)
            steps = min(math.ceil(len(prepared.train) / one.train.batch_size), args.max_steps)
            lines.append(f"{label}: {args.epochs} epochs x {steps} steps x batch {one.train.batch_size} "
                         f"({len(prepared.train)} train, {len(prepared.val)} val samples), Adam lr {one.train.lr:g}")
            lines.append(f"  {'':<38} {'median':>9} {'best':>9}  samples/s")
            lines.append(f"  {f'plain PyTorch loop, {THREADS} threads, run 1':<38} {median(plain_a):>9.0f} "
                         f"{max(plain_a):>9.0f}")
            lines.append(f"  {f'plain PyTorch loop, {THREADS} threads, run 2':<38} {median(plain_b):>9.0f} "
                         f"{max(plain_b):>9.0f}")
            lines.append(f"  {f'seqlab run_training, 1 worker x {THREADS} CPUs':<38} {median(s1):>9.0f} "
                         f"{max(s1):>9.0f}  {median(s1) / plain:.2f}x plain's better median, best/best "
                         f"{max(s1) / max(plain_a + plain_b):.2f}x (target >= 0.9x)")
            fixed1 = wall1 - sum(sec for _, sec in ep1)
            lines.append(f"    start-up: {wall1:.1f} s wall - {sum(sec for _, sec in ep1):.1f} s epochs = "
                         f"{fixed1:.1f} s fixed (data prep, {prep_s:.1f} s, not included)")
            if not args.no_two_workers:
                print(f"[train_overhead] {label}: seqlab 2 workers ...", flush=True)
                two = load_config(ROOT / path, common + extra + ["train.num_workers=2", "train.cpus_per_worker=1"])
                ep2, wall2 = seqlab_run(two, prepared, "overhead-2w")
                s2 = epoch_rates(ep2)
                lines.append(f"  {'seqlab run_training, 2 workers x 1 CPU':<38} {median(s2):>9.0f} {max(s2):>9.0f}"
                             f"  {median(s2) / median(s1):.2f}x 1 worker (medians)")
                lines.append(f"    start-up: {wall2:.1f} s wall - {sum(sec for _, sec in ep2):.1f} s epochs = "
                             f"{wall2 - sum(sec for _, sec in ep2):.1f} s fixed")
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(f"load average {load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end, {os.cpu_count()} CPUs "
          f"(shared machine: other work competes for the cores)")
    print("samples/s = training samples / (training steps + validation pass) seconds per epoch, epoch 1 left out")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
