"""What early stopping saves: the same sweep run with ASHA and with FIFO, and what a trial costs beyond training.

Both runs use ``seqlab.sweeps.driver.run_sweep`` on the same sweep file with the same seed, so the random searcher
samples the same trials; only the scheduler differs. Printed: trial-epochs, best validation metric and wall
time of each, ASHA's saving in trial-epochs (target >= 40% fewer), and the per-trial overhead, i.e. trial wall
time minus its training-loop time, as the trials report it (``trial_overhead_s``: data, MLflow run,
checkpoints, test evaluation and model logging; target < 3 s) and as seen from outside (sweep wall x
concurrent trials - the trials' loop seconds, per trial: adds Tune's scheduling and trial-process starts).

The default sweep (defined below) is 12 forecast trials x 6 epochs on the packaged NYC weather: dense and
GRU models on 120-hour windows, learning rates over two decades (so some trials are clearly worse and can be
stopped). MLflow writes to a temp SQLite store, Ray and Tune to a temp folder; nothing is promoted.

    python benchmarks/sweep.py                                   # a few minutes on 2 cores
    python benchmarks/sweep.py --reduction-factor 3 --trials       # keep the top third at each rung
    python benchmarks/sweep.py --sweep configs/forecast/sweep.yaml
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

import yaml

ROOT = Path(__file__).resolve().parent.parent

BENCH_SWEEP = {
    "base": str(ROOT / "configs/forecast/gru.yaml"),
    "overrides": {"train.epochs": 6, "train.cpus_per_worker": 1, "data.lookback": 120},
    "space": {
        "model.name": {"choice": ["dense", "gru"]},
        "model.hidden": {"choice": [16, 32]},
        "data.step": {"choice": [1, 2]},
        "train.lr": {"loguniform": [0.0001, 0.01]},
    },
    "searcher": "random",
    "num_samples": 12,
    "max_concurrent_trials": 2,
    "grace_period": 1,
    "reduction_factor": 2,
    "seed": 0,
}


def mean(values: list[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return sum(kept) / len(kept) if kept else math.nan


def summarize(label: str, result: Any, metric: str, concurrency: int) -> dict[str, Any]:
    trials = result.trials
    loop_s = sum(t.get("loop_s", 0.0) for t in trials if not math.isnan(t.get("loop_s", math.nan)))
    by_status: dict[str, int] = {}
    for t in trials:
        by_status[t["status"]] = by_status.get(t["status"], 0) + 1
    return {
        "label": label,
        "trials": len(trials),
        "status": ", ".join(f"{n} {s}" for s, n in sorted(by_status.items())),
        "epochs": result.total_epochs,
        "best": result.best[f"best_{metric}"] if result.best else math.nan,
        "wall_s": result.wall_s,
        "loop_s": loop_s,
        "overhead_s": mean([t.get("trial_overhead_s", math.nan) for t in trials]),
        "overhead_max_s": max((t.get("trial_overhead_s", 0.0) for t in trials), default=math.nan),
        "outside_s": (result.wall_s * concurrency - loop_s) / max(len(trials), 1),
        "rows": trials,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", type=Path, default=None, help="a sweep file instead of the built-in one")
    parser.add_argument("--num-samples", type=int, default=None, help="override the sweep's num_samples")
    parser.add_argument("--reduction-factor", type=float, default=None, help="override ASHA's reduction_factor")
    parser.add_argument("--trials", action="store_true", help="also print every trial's row")
    args = parser.parse_args()

    import ray

    from seqlab.runtime.cluster import DRIVER_RESOURCE
    from seqlab.tasks import get_task
    from seqlab.sweeps.driver import run_sweep
    from seqlab.sweeps.sweep_file import load_sweep

    logging.getLogger("ray").setLevel(logging.ERROR)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning)
    tmp = Path(tempfile.mkdtemp(prefix="seqlab-sweep-bench-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"  # the base config's tracking_uri is unset
    path = args.sweep
    if path is None:
        path = tmp / "bench_sweep.yaml"
        path.write_text(yaml.safe_dump(BENCH_SWEEP, sort_keys=False))
    extra = [f"storage_path={tmp / 'ray'}"] + ([f"num_samples={args.num_samples}"] if args.num_samples else []) \
        + ([f"reduction_factor={args.reduction_factor}"] if args.reduction_factor else [])
    sweep = load_sweep(path, extra)
    if sweep.base_tree.get("tracking", {}).get("tracking_uri"):
        raise SystemExit(f"{path}: its base sets tracking.tracking_uri; this benchmark writes to a temp store only")
    metric = get_task(sweep.task).metric
    concurrency = sweep.cfg.max_concurrent_trials

    # address="local": a private Ray even when another `ray start` cluster runs on this machine (init_ray
    # inside run_sweep would try to join that one); the same resources init_ray gives a local instance.
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=1024 * 2**20,
             resources={DRIVER_RESOURCE: 8}, log_to_driver=False, logging_level=logging.ERROR)
    load_start = os.getloadavg()[0]
    runs = []
    try:
        for sched in ("asha", "fifo"):
            print(f"[sweep] {sched}: {sweep.cfg.num_samples} trials ...", flush=True)
            result = run_sweep(sweep, scheduler=sched, promote=False, name=f"bench-{sched}-{int(time.time())}")
            runs.append(summarize(sched.upper(), result, metric, concurrency))
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    src = "built-in benchmark sweep" if args.sweep is None else str(args.sweep)
    print(f"sweep: {src}; task {sweep.task}, {sweep.cfg.num_samples} trials, searcher {sweep.cfg.searcher} "
          f"(seed {sweep.cfg.seed}), {concurrency} at a time, {sweep.base_tree['train']['epochs']} epochs max; "
          f"ASHA grace {sweep.cfg.grace_period}, reduction {sweep.cfg.reduction_factor:g}")
    print(f"space: {', '.join(f'{k} {v}' for k, v in sweep.cfg.space.items())}")
    print(f"load average {load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end, {os.cpu_count()} CPUs")
    print(f"{'scheduler':<9} {'trials (status)':<34} {'trial-epochs':>12} {'best ' + metric:>17} {'wall s':>7} "
          f"{'loop s':>7} {'overhead/trial s':>16} {'max':>5} {'outside view s':>14}")
    for r in runs:
        print(f"{r['label']:<9} {str(r['trials']) + ' (' + r['status'] + ')':<34} {r['epochs']:>12} "
              f"{r['best']:>17.4f} {r['wall_s']:>7.1f} {r['loop_s']:>7.1f} {r['overhead_s']:>16.2f} "
              f"{r['overhead_max_s']:>5.1f} {r['outside_s']:>14.1f}")
    asha, fifo = runs
    saving = 1 - asha["epochs"] / fifo["epochs"] if fifo["epochs"] else math.nan
    print(f"ASHA vs FIFO: {saving:.0%} fewer trial-epochs (target >= 40%), {1 - asha['wall_s'] / fifo['wall_s']:.0%} "
          f"less wall time; best {metric} {asha['best']:.4f} vs {fifo['best']:.4f}")
    print(f"per-trial overhead (trial_overhead_s, mean of all trials): ASHA {asha['overhead_s']:.2f} s, "
          f"FIFO {fifo['overhead_s']:.2f} s (target < 3 s); outside view = (wall x {concurrency} - loop s) / trials")
    if args.trials:
        for r in runs:
            print(f"\n{r['label']} trials:")
            keys = sorted({k for t in r["rows"] for k in t if k.startswith("param.")})
            for t in r["rows"]:
                params = " ".join(f"{k.removeprefix('param.')}={t.get(k)!s:.8}" for k in keys)
                print(f"  {t['trial']:<12} {t['status']:<13} epochs {t.get('epochs', 0):>2} "
                      f"best {t.get(f'best_{metric}', math.nan):.4f} loop {t.get('loop_s', math.nan):5.1f} s "
                      f"overhead {t.get('trial_overhead_s', math.nan):5.2f} s  {params}"
                      + (f"  ERROR {t['error']}" if t.get("error") else ""))


if __name__ == "__main__":
    main()
