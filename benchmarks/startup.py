"""Where the seconds of a ``seqlab train`` go when the training loop itself takes almost none.

    python benchmarks/startup.py                                   # configs/sentiment/tiny.yaml, 3 epochs
    python benchmarks/startup.py --config forecast/tiny.yaml --runs 2 train.num_workers=2

Runs the real command line (``seqlab train``) in a fresh process and a temp folder (own Ray; one SQLite
MLflow store for all runs, created by the first), once per ``--runs``, and prints per phase: Python imports
and config (process launch until training starts), Ray start (the MLflow store check and data prepare run
alongside it on a helper thread), checks (resources, resume), the wait for that helper after Ray is up
(store_data_wait), MLflow run, worker group start with checkpoints and Ray Train's teardown, the training
loop (the epochs' own seconds), test evaluation, MLflow metrics and curves, model logging, Ray stop and what
is left (process exit). Fixed start-up is wall time minus loop time; the target on a 2-core machine is
<= 15 s. Next to the runs, one "bare Ray Train" column: the same Ray start, a TorchTrainer fit of one CPU
worker that only saves 3 checkpoints, and Ray stop, without seqlab: the floor that seqlab's runs build on.
Other processes on the machine change every figure: the load average is printed next to them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 15.0

# The floor under any `seqlab train`: the same Ray start, TorchTrainer fit (one CPU worker, 3 reports each with
# a checkpoint, Ray Train V2's controller, placement group and worker process start) and Ray stop, with a
# training function that does nothing else. Run in a fresh process like seqlab; prints its phases as JSON.
BARE = """
import json, os, sys, tempfile, time
launched = float(sys.argv[1]); t = {"imports_and_config": 0.0}
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2")
os.environ.setdefault("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0")
import ray, ray.train
from ray.train.torch import TorchTrainer
def fn(_):
    import torch
    for epoch in range(3):
        with tempfile.TemporaryDirectory() as d:
            torch.save({"epoch": epoch}, os.path.join(d, "state.pt"))
            ray.train.report({"epoch": epoch}, checkpoint=ray.train.Checkpoint.from_directory(d))
t["imports_and_config"] = time.time() - launched; t0 = time.perf_counter()
ray.init(address="local", num_cpus=2, include_dashboard=False)
t["ray_start"] = time.perf_counter() - t0; t0 = time.perf_counter()
TorchTrainer(fn, scaling_config=ray.train.ScalingConfig(num_workers=1),
             run_config=ray.train.RunConfig(name="bare", storage_path=sys.argv[2])).fit()
t["workers_checkpoints"] = time.perf_counter() - t0; t0 = time.perf_counter()
ray.shutdown()
t["ray_stop"] = time.perf_counter() - t0
print("BARE " + json.dumps(t), flush=True)
"""


def bare_run() -> dict[str, float]:
    """The bare Ray Train arm (``BARE``) in a fresh process: seconds per phase, ``wall``, ``fixed``."""
    with tempfile.TemporaryDirectory(prefix="seqlab-startup-bare-") as tmp:
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        launched = time.time()
        done = subprocess.run([sys.executable, "-c", BARE, str(launched), f"{tmp}/ray"], cwd=tmp, env=env,
                              capture_output=True, text=True, timeout=600, check=False)
        wall = time.time() - launched
    line = next((x for x in done.stdout.splitlines() if x.startswith("BARE ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"bare Ray Train run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    phases = json.loads(line.removeprefix("BARE "))
    phases["exit_and_rest"] = max(0.0, wall - sum(phases.values()))
    return {**phases, "wall": wall, "fixed": wall}


def one_run(config: str, overrides: list[str], store: Path) -> dict[str, float]:
    """One ``seqlab train`` in a temp folder, tracked in ``store``: seconds per phase, ``wall``, ``fixed``."""
    with tempfile.TemporaryDirectory(prefix="seqlab-startup-") as tmp:
        timing_file = Path(tmp) / "timing.json"
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": f"sqlite:///{store}/mlflow.db",
            "SEQLAB_TIMING_FILE": str(timing_file),
            "PYTHONPATH": str(ROOT / "platform"),
        }
        env.pop("RAY_ADDRESS", None)
        cmd = [sys.executable, "-m", "seqlab.cli", "train", "--config", str(ROOT / "configs" / config),
               f"train.storage_path={tmp}/ray", *overrides]
        launched = time.time()
        done = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=600, check=False)
        wall = time.time() - launched
        if done.returncode != 0:
            raise RuntimeError(f"seqlab train failed ({done.returncode}):\n{done.stderr[-3000:]}")
        timing = json.loads(timing_file.read_text())
    started = timing.pop("started")
    phases = {"imports_and_config": started - launched, **timing}
    phases["exit_and_rest"] = max(0.0, wall - sum(phases.values()))
    return {**phases, "wall": wall, "fixed": wall - timing.get("loop", 0.0)}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default="sentiment/tiny.yaml", help="under configs/")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.num_workers=2")
    args = parser.parse_args()
    runs = []
    # one MLflow store for all runs, as a user has: the first run also creates its tables (mlflow_store)
    store = Path(tempfile.mkdtemp(prefix="seqlab-startup-store-"))
    for i in range(args.runs):
        load = os.getloadavg()[0]
        r = one_run(args.config, args.overrides, store)
        runs.append(r)
        print(f"[startup] run {i + 1}: wall {r['wall']:.1f} s, loop {r.get('loop', 0.0):.2f} s, "
              f"fixed {r['fixed']:.1f} s (load average before: {load:.1f})", flush=True)
    bare = bare_run()
    print(f"[startup] bare Ray Train (no seqlab): wall {bare['wall']:.1f} s", flush=True)
    keys = [k for k in runs[0] if k not in ("wall", "fixed")]
    print(f"\n{'phase':<24}" + "".join(f"{'run ' + str(i + 1):>10}" for i in range(len(runs)))
          + f"{'bare Ray Train':>16}")
    for key in [*keys, "wall", "fixed"]:
        print(f"{key:<24}" + "".join(f"{r.get(key, 0.0):>10.2f}" for r in runs)
              + (f"{bare[key]:>16.2f}" if key in bare else f"{'':>16}"))
    shutil.rmtree(store, ignore_errors=True)
    best = min(r["fixed"] for r in runs)
    print(f"\nuptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print(f"fixed start-up (wall - loop), best run: {best:.1f} s "
          f"({'meets' if best <= TARGET_S else 'MISSES'} the <= {TARGET_S:.0f} s target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
