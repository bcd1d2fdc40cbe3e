"""The training loop shared by Ray Train workers and single-process runs, and the held-out evaluation.

``run_epochs`` trains one worker's shard of every epoch (any number of workers: statistics are all-reduced),
keeps the best weights and early-stopping state, and hands each epoch's metrics and, on rank 0, the full state
to ``report``; ``seqlab.training.driver.train_fn_per_worker`` runs it inside each Ray Train worker.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any

import numpy as np
import torch

from seqlab.config import TaskConfig, config_to_dict
from seqlab.runtime.console import PROGRESS_EVERY_S, progress_line
from seqlab.tasks import get_task
from seqlab.tasks.base import Prepared, Task
from seqlab.training.optim import build_optimizer
from seqlab.training.resume import resume_hashes


def _evaluate(task: Task, model: torch.nn.Module, split: Any, positions: np.ndarray, batch_size: int,
              device: torch.device) -> tuple[dict[str, float], int]:
    """Summed metric statistics of ``model`` over ``positions`` of ``split`` (no gradient)."""
    sums: dict[str, float] = {}
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(positions), batch_size):
            x, y = split.batch(positions[start : start + batch_size])
            out = model(*_as_tensors(x, device))
            for k, v in task.metric_sums(out, torch.as_tensor(y, device=device)).items():
                sums[k] = sums.get(k, 0.0) + v
    return sums, len(positions)


def _as_tensors(x: Any, device: torch.device) -> tuple[torch.Tensor, ...]:
    """A batch's inputs as the model's positional arguments: one array, or a tuple (e.g. bag ids, offsets)."""
    parts = x if isinstance(x, tuple) else (x,)
    return tuple(torch.as_tensor(p, device=device) for p in parts)


def _all_reduce(sums: dict[str, float], count: int, world: int, device: torch.device) -> tuple[dict[str, float], int]:
    """Add shard statistics across workers (a no-op on one worker)."""
    if world == 1:
        return sums, count
    keys = sorted(sums)
    t = torch.tensor([sums[k] for k in keys] + [float(count)], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t)
    values = t.tolist()
    return dict(zip(keys, values[:-1])), int(values[-1])


def run_epochs(cfg: TaskConfig, prepared: Prepared, *, rank: int = 0, world: int = 1,
               device: torch.device | None = None, wrap: Any = None, resume: dict[str, Any] | None = None,
               report: Any = None) -> dict[str, Any]:
    """The training loop shared by Ray Train workers and single-process runs.

    Args:
        cfg: the validated config.
        prepared: splits and preprocessing from ``Task.prepare``.
        rank, world: this worker's rank and the number of workers; each takes an equal shard per epoch.
        device: where tensors go; None = CPU.
        wrap: turns the built module into the trained one (``ray.train.torch.prepare_model``); None = as is.
        resume: a loaded checkpoint state to continue from.
        report: ``report(metrics, state | None)`` after every epoch; ``state`` is given on rank 0 only.

    Returns:
        The final state (what the last checkpoint holds).
    """
    task = get_task(cfg.task)
    tc = cfg.train
    device = device or torch.device("cpu")
    torch.manual_seed(tc.seed)
    module = task.build_model(cfg, prepared.preprocessing, prepared.embedding_matrix)
    model = wrap(module) if wrap is not None else module.to(device)
    # a model with sparse parameters (an EmbeddingBag table) gets an optimizer that updates touched rows only
    optimizer = build_optimizer(tc.optimizer, module, tc.lr, tc.weight_decay)

    state: dict[str, Any] = {"epoch": 0, "history": [], "best_metric": None, "best_epoch": 0,
                             "epochs_since_best": 0, "best_model_state": None, "best_metrics": {}}
    if resume is not None:
        module.load_state_dict(resume["model_state"])
        optimizer.load_state_dict(resume["optimizer_state"])
        state.update({k: resume[k] for k in state})

    resumed_from = state["epoch"]  # 0 for a fresh start; the checkpoint's epoch after a restart
    per_worker_batch = max(1, tc.batch_size // world)
    n_train = len(prepared.train) // world * world  # equal shards: DDP needs the same step count everywhere
    val_positions = np.array_split(np.arange(len(prepared.val)), world)[rank]
    raw_module = module
    hashes = resume_hashes(config_to_dict(cfg), prepared.preprocessing) if rank == 0 else {}

    for epoch in range(state["epoch"] + 1, tc.epochs + 1):
        if tc.patience is not None and state["epochs_since_best"] >= tc.patience:
            break  # early stopped before the last resume; nothing left to do
        t0 = time.perf_counter()
        # [1] shard data: the same seeded permutation on every worker, each takes its own slice
        perm = np.random.default_rng(tc.seed * 1_000_003 + epoch).permutation(len(prepared.train))[:n_train]
        shard = perm[rank * (n_train // world) : (rank + 1) * (n_train // world)]
        steps = math.ceil(len(shard) / per_worker_batch)
        if tc.max_steps_per_epoch is not None:
            steps = min(steps, tc.max_steps_per_epoch)
        model.train()
        sums: dict[str, float] = {}
        seen = 0
        shown = t0  # a long epoch prints its progress every PROGRESS_EVERY_S (rank 0)
        for s in range(steps):
            idx = shard[s * per_worker_batch : (s + 1) * per_worker_batch]
            x, y = prepared.train.batch(idx)
            yt = torch.as_tensor(y, device=device)
            out = model(*_as_tensors(x, device))
            loss = task.loss(out, yt)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            for k, v in task.metric_sums(out.detach(), yt).items():
                sums[k] = sums.get(k, 0.0) + v
            seen += len(idx)
            if rank == 0 and time.perf_counter() - shown > PROGRESS_EVERY_S:
                shown = time.perf_counter()
                print(progress_line(epoch, tc.epochs, s + 1, steps, shown - t0), flush=True)
        train_sums, train_n = _all_reduce(sums, seen, world, device)
        val_sums, val_n = _all_reduce(*_evaluate(task, model, prepared.val, val_positions, per_worker_batch * 4,
                                                 device), world, device)
        seconds = time.perf_counter() - t0
        metrics: dict[str, float] = {"epoch": epoch, "epoch_s": seconds, "samples_per_s": train_n / seconds,
                                     "resumed_from": resumed_from}
        metrics.update({f"train_{k}": v for k, v in task.finish_metrics(train_sums, train_n, prepared.preprocessing).items()})
        metrics.update({f"val_{k}": v for k, v in task.finish_metrics(val_sums, val_n, prepared.preprocessing).items()})

        # early stopping and best weights: every worker sees the same reduced metrics, so they agree
        value = metrics[task.metric]
        if task.is_better(value, state["best_metric"]):
            state.update(best_metric=value, best_epoch=epoch, epochs_since_best=0,
                         best_model_state=copy.deepcopy(raw_module.state_dict()), best_metrics=dict(metrics))
        else:
            state["epochs_since_best"] += 1
        state["epoch"] = epoch
        state["history"].append(metrics)
        metrics["best_" + task.metric] = state["best_metric"]
        if report is not None:
            full = None
            if rank == 0:
                full = {**state, "model_state": raw_module.state_dict(), "optimizer_state": optimizer.state_dict(),
                        "preprocessing": prepared.preprocessing, "config": config_to_dict(cfg),
                        "resume_hash": hashes}
            report(metrics, full)  # [3] report
        if tc.patience is not None and state["epochs_since_best"] >= tc.patience:
            break
    return state


def evaluate_test(cfg: TaskConfig, task: Task, prepared: Prepared, state: dict[str, Any]) -> dict[str, float]:
    """Held-out metrics of the best weights (never used for selection)."""
    module = task.build_model(cfg, prepared.preprocessing)
    module.load_state_dict(state["best_model_state"])
    sums, n = _evaluate(task, module, prepared.test, np.arange(len(prepared.test)), 512, torch.device("cpu"))
    return {f"test_{k}": v for k, v in task.finish_metrics(sums, n, prepared.preprocessing).items()}
