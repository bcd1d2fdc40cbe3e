"""seqlab's endpoints against what a user would run instead, on the same registered champions, under load.

    python benchmarks/serve_load.py                                  # trains quick champions, full table
    python benchmarks/serve_load.py --store /tmp/seqlab-serve-bench  # reuse champions of an earlier run
    python benchmarks/serve_load.py --servers seqlab seqlab-throughput --store ...   # Serve modes only

Top to bottom:
1. champions: the README main job's architectures and preprocessing sizes (``sentiment/ngram_bag.yaml``:
   maxlen 1500, 2^21 hashed bigrams; ``forecast/gru_calendar.yaml``: GRU(32) over 120 hourly rows taken
   one in 2, with calendar columns), trained for only
   ``--train-steps`` steps of one epoch (the weights' quality does not change the serving cost), registered as
   ``champion`` in a SQLite MLflow store of a temp folder (``--store`` reuses one);
2. one server at a time, each in its own processes, all on 127.0.0.1:
   - ``seqlab``: ``seqlab serve --block`` with configs/serve.yaml, as shipped (HAProxy ingress);
   - ``seqlab-python-proxy``: the same with ``RAY_SERVE_ENABLE_HA_PROXY=0`` (Ray's Python proxy);
   - ``seqlab-throughput``: the same with ``RAY_SERVE_THROUGHPUT_OPTIMIZED=1``;
   - ``mlflow``: ``mlflow models serve -m models:/<name>@champion --env-manager local`` (one uvicorn worker);
   - ``fastapi`` / ``fastapi-batched``: one uvicorn process, a FastAPI endpoint per task over the same
     batch predictor seqlab's replicas call: a batch of one per request, or everything that waits in one
     forward pass (the ``batched`` variant, no fixed wait); ``gc.freeze()`` after loading;
3. ``wrk`` (closed loop, keep-alive, from 127.0.0.1) posts one request body per task: a 238-word review, or
   240 weather rows (the issue's request size; the model reads the last 120); ``--warmup`` s unmeasured, then ``--duration`` s per point;
4. one table (req/s, p50, p99, errors) and a PNG, then the targets: sentiment >= 4x ``mlflow`` at c=32 and
   >= 1x at c=1 with a p50 no worse; forecast >= 3x 154 req/s at c=32; 0 errors everywhere.

Requires ``wrk`` (``apt-get install wrk``). The figures are only comparable within one run: the machine's
load (printed with the table) moves every server's numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import Request  # module level: FastAPI resolves the endpoint's annotations here

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
TASKS = {"sentiment": "sentiment/ngram_bag.yaml", "forecast": "forecast/gru_calendar.yaml"}
SERVERS = ["seqlab", "seqlab-python-proxy", "seqlab-throughput", "mlflow", "fastapi", "fastapi-batched"]
DEFAULT_SERVERS = ["seqlab", "mlflow", "fastapi", "fastapi-batched"]
SEQLAB_ENV = {
    "seqlab": {},
    "seqlab-python-proxy": {"RAY_SERVE_ENABLE_HA_PROXY": "0"},
    "seqlab-throughput": {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"},
}
FORECAST_BEFORE = 154.0  # req/s at c=32 behind HAProxy before the forecast fast path (the figure)

# ------------------------------------------------------------------------------------------- champions


def train_champions(store: Path, steps: int) -> None:
    """Train the main job's two architectures for ``steps`` steps and make each the champion."""
    import mlflow
    import ray
    from seqlab.tasks import load_config
    from seqlab.tracking.registry import promote
    from seqlab.runtime.cluster import init_ray
    from seqlab.training.driver import run_training

    uri = f"sqlite:///{store}/mlflow.db"
    init_ray()
    try:
        for task, path in TASKS.items():
            cfg = load_config(
                ROOT / "configs" / path,
                [
                    f"train.storage_path={store / 'ray'}",
                    "train.num_workers=1",
                    f"tracking.tracking_uri={uri}",
                    "train.epochs=1",
                    f"train.max_steps_per_epoch={steps}",
                ],
            )
            result = run_training(cfg)
            mlflow.set_tracking_uri(uri)
            mlflow.set_experiment(cfg.tracking.experiment)
            p = promote(uri, task, str(result.run_id), force=True)
            print(f"[bench] {task}: seqlab-{task} v{p.version} is champion", flush=True)
    finally:
        ray.shutdown()


def write_payloads(store: Path) -> dict[str, dict[str, Path]]:
    """Request bodies per task: ``json`` for seqlab and the FastAPI app, ``mlflow`` for /invocations."""
    import mlflow
    import numpy as np
    import pandas as pd

    words = (
        "this film was a wonderful surprise the story is moving the actors are brilliant and the plot "
        "never drags though the middle hour is slower than it needed to be"
    ).split()
    review = " ".join(words[i % len(words)] for i in range(238))
    mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
    loaded = mlflow.pyfunc.load_model("models:/seqlab-forecast@champion").unwrap_python_model().loaded
    p = loaded.preprocessing
    rng = np.random.default_rng(7)
    times = pd.date_range("2024-01-01", periods=240, freq=pd.Timedelta(seconds=float(p["freq_s"])))
    rows = []
    for i, t in enumerate(times):
        row: dict[str, Any] = {"time": t.strftime("%Y-%m-%dT%H:%M:%S")}
        for j, f in enumerate(p["features"]):
            mean, std = float(p["normalizer"]["mean"][j]), float(p["normalizer"]["std"][j])
            value = mean + std * float(np.sin(i / 12.0) + 0.1 * rng.standard_normal())
            lo, hi = p.get("bounds", {}).get(f, (-np.inf, np.inf))  # the model refuses values outside these
            row[f] = round(min(max(value, lo), hi), 3)
        rows.append(row)
    bodies = {
        "sentiment": ({"texts": [review]}, {"dataframe_records": [{"text": review}]}),
        "forecast": ({"rows": rows}, {"dataframe_records": rows}),
    }
    out: dict[str, dict[str, Path]] = {}
    for task, (plain, mlflow_body) in bodies.items():
        out[task] = {"json": store / f"{task}.json", "mlflow": store / f"{task}.mlflow.json"}
        out[task]["json"].write_text(json.dumps(plain))
        out[task]["mlflow"].write_text(json.dumps(mlflow_body))
    return out


# ------------------------------------------------------------------------------------------- the servers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 240.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer in {timeout_s:.0f}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl-C the server's process group (as a user would), then SIGKILL what is left after 60 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # Ray's helper processes of this server, if any stayed
    except ProcessLookupError:
        pass
    proc.wait()


@contextmanager
def running(server: str, task: str, store: Path, log: Path) -> Iterator[str]:
    """Start ``server`` (for ``task`` where a server holds one model) and yield its predict URL."""
    uri = f"sqlite:///{store}/mlflow.db"
    port = _free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(ROOT / "platform")}
    for key in ("RAY_SERVE_ENABLE_HA_PROXY", "RAY_SERVE_THROUGHPUT_OPTIMIZED", "RAY_ADDRESS"):
        env.pop(key, None)
    if server.startswith("seqlab"):
        env.update(SEQLAB_ENV[server])
        cmd = [sys.executable, "-m", "seqlab.cli", "serve", "--config", str(ROOT / "configs" / "serve.yaml"),
               "--tracking-uri", uri, "--port", str(port), "--block"]
        ready, url = f"http://{HOST}:{port}/readyz", f"http://{HOST}:{port}/{task}/predict"
    elif server == "mlflow":
        cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/seqlab-{task}@champion",
               "--env-manager", "local", "--workers", "1", "-h", HOST, "-p", str(port)]
        ready, url = f"http://{HOST}:{port}/ping", f"http://{HOST}:{port}/invocations"
    else:
        cmd = [sys.executable, __file__, "--plain", str(port), "--store", str(store)]
        cmd += ["--batched"] if server == "fastapi-batched" else []
        ready, url = f"http://{HOST}:{port}/healthz", f"http://{HOST}:{port}/{task}/predict"
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=store, env=env, stdout=out, stderr=out, start_new_session=True)
    try:
        _wait_http(ready, proc)
        yield url
    finally:
        _stop(proc)


def run_plain(port: int, store: Path, batched: bool) -> None:
    """The FastAPI+uvicorn app a user would write around the same predictor (one process)."""
    import asyncio
    import gc

    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse
    from seqlab.serve.model import load_served_model

    uri = f"sqlite:///{store}/mlflow.db"
    models = {task: load_served_model(uri, f"seqlab-{task}", "champion") for task in TASKS}
    options = {task: m.loaded.task.Options() for task, m in models.items()}

    def forward(task: str, batch: list[Any]) -> list[Any]:
        # the same batch predictor the replica calls: raw requests -> one forward pass -> one answer each
        loaded = models[task].loaded
        requests = [loaded.task.Request.model_validate(body) for body in batch]
        return list(loaded.predictor(requests, options[task]))

    app = FastAPI()
    waiting: dict[str, list[tuple[Any, asyncio.Future[Any]]]] = {t: [] for t in TASKS}
    busy = {t: False for t in TASKS}

    async def batched_forward(task: str, item: Any) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        waiting[task].append((item, future))
        if not busy[task]:  # one forward loop per task: each pass takes everything that waits
            busy[task] = True
            try:
                while waiting[task]:
                    taken, waiting[task] = waiting[task][:32], waiting[task][32:]
                    outs = await asyncio.to_thread(forward, task, [i for i, _ in taken])
                    for (_, f), o in zip(taken, outs, strict=True):
                        f.set_result(o)
            finally:
                busy[task] = False
        return await future

    def endpoint(task: str, key: str) -> Any:
        async def predict(request: Request) -> JSONResponse:
            item = await request.json()
            if batched:
                out = await batched_forward(task, item)
            else:
                out = (await asyncio.to_thread(forward, task, [item]))[0]
            if isinstance(out, Exception):
                return JSONResponse({"detail": str(out)}, status_code=422)
            return JSONResponse(out)

        return predict

    app.post("/sentiment/predict")(endpoint("sentiment", "texts"))
    app.post("/forecast/predict")(endpoint("forecast", "rows"))
    app.get("/healthz")(lambda: {"status": "ok"})
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=HOST, port=port, log_level="warning", access_log=False)


# -------------------------------------------------------------------------------------------------- load

_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("{body}", "rb"); wrk.body = f:read("*a"); f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT %d %d %d %d %d %d %d %d %d\\n", summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), e.status, e.connect, e.read, e.write, e.timeout))
end
"""


def wrk(url: str, body: Path, concurrency: int, duration_s: float) -> dict[str, float]:
    """One closed-loop point: ``concurrency`` keep-alive connections posting ``body`` back to back."""
    script = body.with_suffix(".lua")
    script.write_text(_LUA.replace("{body}", str(body)))
    threads = min(concurrency, 2)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{duration_s:g}s", "--timeout", "30s", "-s",
         str(script), url],
        capture_output=True, text=True, timeout=duration_s + 60, check=True,
    )
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
    n, dur_us, p50, p99, status, *sock = (int(v) for v in line.split()[1:])
    return {"rps": n / (dur_us / 1e6), "p50_ms": p50 / 1e3, "p99_ms": p99 / 1e3,
            "errors": status + sum(sock), "requests": n}


# ------------------------------------------------------------------------------------------------ report


def report(rows: list[dict[str, Any]], png: Path, load: str) -> bool:
    """Print the table and the targets, write the PNG; return whether every target is met."""
    print(f"\n{load}\n")
    print(f"{'task':<10} {'server':<20} {'conc':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for r in rows:
        print(f"{r['task']:<10} {r['server']:<20} {r['c']:>4} {r['rps']:>8.0f} {r['p50_ms']:>8.1f} "
              f"{r['p99_ms']:>8.1f} {r['errors']:>7d}")
    at = {(r["task"], r["server"], r["c"]): r for r in rows}
    checks: list[tuple[str, bool]] = []
    s32, m32 = at.get(("sentiment", "seqlab", 32)), at.get(("sentiment", "mlflow", 32))
    if s32 and m32:
        checks.append((f"sentiment c=32: {s32['rps'] / m32['rps']:.1f}x mlflow models serve (>= 4x)",
                       s32["rps"] >= 4 * m32["rps"]))
    s1, m1 = at.get(("sentiment", "seqlab", 1)), at.get(("sentiment", "mlflow", 1))
    if s1 and m1:
        checks.append((f"sentiment c=1: {s1['rps'] / m1['rps']:.2f}x mlflow, p50 {s1['p50_ms']:.1f} vs "
                       f"{m1['p50_ms']:.1f} ms (>= 1x, p50 no worse)",
                       s1["rps"] >= m1["rps"] and s1["p50_ms"] <= m1["p50_ms"]))
    f32 = at.get(("forecast", "seqlab", 32))
    if f32:
        checks.append((f"forecast c=32: {f32['rps']:.0f} req/s = {f32['rps'] / FORECAST_BEFORE:.1f}x "
                       f"{FORECAST_BEFORE:.0f} (>= 3x)", f32["rps"] >= 3 * FORECAST_BEFORE))
    errors = sum(r["errors"] for r in rows)
    checks.append((f"errors in all points: {errors} (0)", errors == 0))
    print()
    for text, ok in checks:
        print(f"{'meets ' if ok else 'MISSES'}  {text}")
    _plot(rows, png)
    print(f"\n[bench] wrote {png}")
    return all(ok for _, ok in checks)


def _plot(rows: list[dict[str, Any]], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(r["task"] for r in rows))
    servers = list(dict.fromkeys(r["server"] for r in rows))
    concs = sorted({r["c"] for r in rows})
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4), squeeze=False)
    width = 0.8 / len(servers)
    for ax, task in zip(axes[0], tasks, strict=True):
        for i, server in enumerate(servers):
            ys = [next((r["rps"] for r in rows if (r["task"], r["server"], r["c"]) == (task, server, c)), 0)
                  for c in concs]
            ax.bar([k + i * width for k in range(len(concs))], ys, width, label=server)
        ax.set_xticks([k + 0.4 - width / 2 for k in range(len(concs))], [f"c={c}" for c in concs])
        ax.set_title(f"{task}: requests/s (closed loop, wrk)")
        ax.set_ylabel("req/s")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


# -------------------------------------------------------------------------------------------------- main


def measure(args: argparse.Namespace, store: Path) -> list[dict[str, Any]]:
    """Each server of ``args.servers`` in turn: start, warm up, one wrk run per task and concurrency."""
    bodies = write_payloads(store)
    log = store / "servers.log"
    rows = []
    for server in args.servers:
        # seqlab and the FastAPI app serve both tasks from one start; mlflow serves one model per process
        one_start = server.startswith(("seqlab", "fastapi"))
        for group in [args.tasks] if one_start else [[t] for t in args.tasks]:
            t0 = time.perf_counter()
            with running(server, group[0], store, log) as url:
                print(f"[bench] {server} ready in {time.perf_counter() - t0:.0f}s", flush=True)
                for task in group:
                    task_url = url.replace(f"/{group[0]}/", f"/{task}/")
                    body = bodies[task]["mlflow" if server == "mlflow" else "json"]
                    wrk(task_url, body, max(args.concurrency), args.warmup)  # warm-up, not measured
                    for c in args.concurrency:
                        r = {"task": task, "server": server, "c": c, **wrk(task_url, body, c, args.duration)}
                        rows.append(r)
                        print(f"[bench] {task} {server} c={c}: {r['rps']:.0f} req/s p50 {r['p50_ms']:.1f} "
                              f"ms p99 {r['p99_ms']:.1f} ms errors {r['errors']}", flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", default=None, help="folder with champions of an earlier run (no training)")
    parser.add_argument("--train-steps", type=int, default=30, help="training steps per champion (1 epoch)")
    parser.add_argument("--servers", nargs="+", default=DEFAULT_SERVERS, choices=SERVERS)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per point")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before a task's points")
    parser.add_argument("--png", default=str(ROOT / "docs" / "serve_load.png"))
    parser.add_argument("--plain", type=int, help=argparse.SUPPRESS)  # internal: run the FastAPI app
    parser.add_argument("--batched", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain:
        run_plain(args.plain, Path(args.store), args.batched)
        return 0
    subprocess.run(["wrk", "--version"], capture_output=True, check=False)  # FileNotFoundError: install wrk

    store = Path(args.store or tempfile.mkdtemp(prefix="seqlab-serve-bench-")).resolve()
    if not (store / "mlflow.db").is_file():
        t0 = time.perf_counter()
        store.mkdir(parents=True, exist_ok=True)  # a new --store folder: its champions are trained now
        os.chdir(store)  # the SQLite store's artefacts (./mlruns) stay in the folder
        train_champions(store, args.train_steps)
        seconds = time.perf_counter() - t0
        print(f"[bench] champions trained in {seconds:.0f}s; reuse: --store {store}", flush=True)
    before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    rows = measure(args, store)
    after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    load = (f"uptime before: {before}\nuptime after:  {after}\n"
            f"{os.cpu_count()} CPUs, {args.duration:g} s per point")
    ok = report(rows, Path(args.png), load)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
