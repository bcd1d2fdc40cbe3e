"""Ray Serve vs a plain FastAPI+uvicorn process serving the same registered models, under load.

    python benchmarks/serve_load.py                       # 10 s per point, concurrency 1, 8, 32
    python benchmarks/serve_load.py --duration 5 --concurrency 1 32 --cases sentiment-gru

What it does, top to bottom:
1. trains the models of CASES on synthetic data (chapter-sized: maxlen 500 reviews, 240-row weather
   windows; a few steps, the weights do not matter here) and registers each as champion in a temp SQLite
   MLflow store;
2. deploys one Serve app per case with ``seqlab.serve.deploy`` on 127.0.0.1 (one replica each, @serve.batch);
3. starts the baseline in a subprocess: one uvicorn process, a plain FastAPI endpoint per case calling the
   same ``LoadedModel.predict`` (no batching), ``gc.freeze()`` after loading like the Serve replicas;
4. for each case and concurrency, runs a load generator in a separate process (threads, one keep-alive
   httpx client each) against Serve and then the baseline, for ``--duration`` seconds after a warm-up,
   and prints requests/s, p50/p99 latency and failures side by side.

Targets at concurrency 32: Serve throughput >= baseline, Serve p99 <= 2x baseline p99, zero failures.
Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from seqlab.tasks.forecast import ForecastRequest  # module level: FastAPI resolves hints here
from seqlab.tasks.sentiment import SentimentRequest

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
# case -> (task, config overrides on configs/<task>/tiny.yaml); each is registered as seqlab-<case>
CASES: dict[str, tuple[str, list[str]]] = {
    # recurrent: 500 sequential steps, so 32 reviews in one pass cost about twice one review
    "sentiment-gru": (
        "sentiment",
        ["data.maxlen=500", "model.name=gru", "model.embed_dim=32", "model.hidden=32"],
    ),
    # the chapter's Conv1D (configs/sentiment/conv1d.yaml sizes): cost grows with the batch size
    "sentiment-conv1d": ("sentiment", ["data.maxlen=500", "model.name=conv1d", "model.embed_dim=128"]),
    # the chapter's GRU (configs/forecast/gru.yaml sizes): reading 240 JSON rows with pandas dominates
    "forecast-gru": ("forecast", ["data.lookback=240", "data.step=1", "data.delay=24", "model.hidden=32"]),
}

# ------------------------------------------------------------------------------------------ load generator


def run_load(
    url: str, payload_file: str, concurrency: int, duration_s: float, warmup_s: float
) -> dict[str, Any]:
    """``concurrency`` threads post the payload back to back; latencies of the measured window only."""
    import httpx

    body = Path(payload_file).read_bytes()
    headers = {"content-type": "application/json"}
    start = time.perf_counter()
    measure_from, stop_at = start + warmup_s, start + warmup_s + duration_s
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    failures = [0] * concurrency
    errors: list[str] = []

    def worker(i: int) -> None:
        with httpx.Client(timeout=30.0) as client:
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                try:
                    ok = client.post(url, content=body, headers=headers).status_code == 200
                except httpx.HTTPError as exc:
                    ok = False
                    if len(errors) < 3:
                        errors.append(f"{type(exc).__name__}: {exc}")
                t1 = time.perf_counter()
                if t0 >= measure_from and t1 <= stop_at:
                    latencies[i].append(t1 - t0)
                    failures[i] += 0 if ok else 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lat = sorted(x for per in latencies for x in per)
    n = len(lat)

    def pct(q: float) -> float:
        return 1000.0 * lat[min(n - 1, int(q * n))] if n else float("nan")

    return {
        "requests": n,
        "failures": sum(failures),
        "rps": n / duration_s,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "errors": errors,
    }


# ---------------------------------------------------------------------------------------------- baseline


def run_baseline(uri: str, port: int, cases: list[str]) -> None:
    """The plain app: one process, the same models, a sync endpoint per case (FastAPI's thread pool)."""
    import gc

    import mlflow
    import uvicorn
    from fastapi import FastAPI

    mlflow.set_tracking_uri(uri)
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    for case in cases:
        model = mlflow.pyfunc.load_model(f"models:/seqlab-{case}@champion").unwrap_python_model().loaded
        if CASES[case][0] == "sentiment":

            def sentiment(body: SentimentRequest, model: Any = model) -> dict[str, Any]:
                return {"predictions": model.predict(body.texts)}

            app.post(f"/{case}/predict")(sentiment)
        else:

            def forecast(body: ForecastRequest, model: Any = model) -> dict[str, Any]:
                return model.predict(body.rows)[0]  # type: ignore[no-any-return]

            app.post(f"/{case}/predict")(forecast)
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=HOST, port=port, log_level="warning", access_log=False)


# ------------------------------------------------------------------------------------------------ driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _train_and_register(tmp: Path, uri: str, cases: list[str]) -> dict[str, str]:
    import mlflow
    from seqlab.config import load_config
    from seqlab.tracking.registry import promote
    from seqlab.train import run_training

    versions = {}
    for case in cases:
        task, extra = CASES[case]
        cfg = load_config(
            ROOT / "configs" / task / "tiny.yaml",
            [
                f"train.storage_path={tmp / 'ray'}",
                "train.num_workers=1",
                f"tracking.tracking_uri={uri}",
                "train.epochs=1",
                "train.max_steps_per_epoch=2",
                *extra,
            ],
        )
        result = run_training(cfg)
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(cfg.tracking.experiment)  # registry._has_logged_model looks in the active one
        promotion = promote(uri, task, str(result.run_id), registered_name=f"seqlab-{case}", force=True)
        versions[case] = str(promotion.version)
    return versions


def _payloads(tmp: Path) -> dict[str, Path]:
    from seqlab.data.synthetic import synthetic_weather

    review = (
        "This film was a wonderful surprise: the story is moving, the actors are brilliant and the "
        "plot never drags. I loved every minute and would watch it again."
    )
    rows = synthetic_weather(240, seed=7)
    rows["time"] = rows["time"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    out = {"sentiment": tmp / "sentiment.json", "forecast": tmp / "forecast.json"}
    out["sentiment"].write_text(json.dumps({"texts": [review]}))
    out["forecast"].write_text(json.dumps({"rows": rows.to_dict("records")}))
    return out  # by task


def _wait_http(url: str, timeout_s: float = 120.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer in {timeout_s:.0f}s")


def _batch_counts(app: str) -> tuple[int, int]:
    """(forward passes, requests in them) so far in the app's replica."""
    from ray import serve

    status = serve.get_app_handle(app).model_status.remote().result(timeout_s=30)
    return int(status["batches"]), int(status["batched_requests"])


def _load_process(
    url: str, payload: Path, concurrency: int, duration_s: float, warmup_s: float
) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--load",
            url,
            "--payload",
            str(payload),
            "--concurrency",
            str(concurrency),
            "--duration",
            str(duration_s),
            "--warmup",
            str(warmup_s),
        ],
        capture_output=True,
        text=True,
        timeout=duration_s + warmup_s + 120,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per point")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument(
        "--store",
        default=None,
        help="reuse a folder from an earlier run (its mlflow.db has the champions): no training",
    )
    parser.add_argument("--load", help=argparse.SUPPRESS)  # internal: run as the load generator
    parser.add_argument("--payload", help=argparse.SUPPRESS)
    parser.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)  # internal: the baseline
    parser.add_argument("--tracking-uri", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        print(json.dumps(run_load(args.load, args.payload, args.concurrency[0], args.duration, args.warmup)))
        return 0
    if args.baseline:
        run_baseline(args.tracking_uri, args.port, args.cases)
        return 0

    import ray
    from ray import serve
    from seqlab.runtime import DRIVER_RESOURCE
    from seqlab.serve import ServeArgs
    from seqlab.serve.deploy import deploy

    tmp = Path(args.store).resolve() if args.store else Path(tempfile.mkdtemp(prefix="seqlab-serve-bench-"))
    uri = f"sqlite:///{tmp}/mlflow.db"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    cwd = os.getcwd()
    os.chdir(tmp)  # the SQLite store's default artefact root is ./mlruns: keep it in the temp folder
    ray.init(
        address="local",  # a Ray of its own, even if a cluster runs on this machine
        num_cpus=4,
        include_dashboard=False,
        object_store_memory=512 * 1024 * 1024,
        resources={DRIVER_RESOURCE: 4},
        log_to_driver=False,
    )
    baseline = None
    try:
        if not args.store:
            t0 = time.perf_counter()
            versions = _train_and_register(tmp, uri, args.cases)
            print(
                f"[bench] trained and registered {versions} in {time.perf_counter() - t0:.0f}s; "
                f"reuse with --store {tmp}",
                flush=True,
            )
        serve_port, base_port = _free_port(), _free_port()
        deploy(
            [
                ServeArgs(task=CASES[c][0], name=c, registered_model=f"seqlab-{c}", tracking_uri=uri)
                for c in args.cases
            ],
            port=serve_port,
        )
        baseline = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--baseline",
                "--tracking-uri",
                uri,
                "--port",
                str(base_port),
                "--cases",
                *args.cases,
            ],
            cwd=tmp,
        )
        _wait_http(f"http://{HOST}:{base_port}/healthz")
        payloads = _payloads(tmp)
        rows = []
        for case in args.cases:
            for c in args.concurrency:
                for server, port in (("serve", serve_port), ("baseline", base_port)):
                    before = _batch_counts(case) if server == "serve" else None
                    r = _load_process(
                        f"http://{HOST}:{port}/{case}/predict",
                        payloads[CASES[case][0]],
                        c,
                        args.duration,
                        args.warmup,
                    )
                    if before is not None:  # requests per forward pass in the Serve replica
                        after = _batch_counts(case)
                        passes = after[0] - before[0]
                        r["batch"] = (after[1] - before[1]) / passes if passes else float("nan")
                    rows.append((case, c, server, r))
                    print(
                        f"[bench] {case} c={c} {server}: {r['rps']:.0f} req/s p99 {r['p99_ms']:.1f} ms "
                        f"failures {r['failures']} {r['errors'] or ''}",
                        flush=True,
                    )
        _print_table(rows, max(args.concurrency))
    finally:
        if baseline is not None:
            baseline.terminate()
            baseline.wait(timeout=30)
        serve.shutdown()
        ray.shutdown()
        os.chdir(cwd)
    return 0


def _print_table(rows: list[tuple[str, int, str, dict[str, Any]]], top: int) -> None:
    print(
        f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
        "one load-generator process per point\n"
    )
    header = (
        f"{'case':<16} {'conc':>4}  {'server':<8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'failures':>8}"
    )
    print(header + "  requests/forward")
    for task, c, server, r in rows:
        batch = f"{r['batch']:>10.1f}" if "batch" in r else ""
        print(
            f"{task:<16} {c:>4}  {server:<8} {r['rps']:>8.1f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} "
            f"{r['failures']:>8d}  {batch}"
        )
    print()
    for task in dict.fromkeys(t for t, *_ in rows):
        at = {server: r for t, c, server, r in rows if t == task and c == top}
        if len(at) < 2:
            continue
        s, b = at["serve"], at["baseline"]
        ok = s["rps"] >= b["rps"] and s["p99_ms"] <= 2 * b["p99_ms"] and s["failures"] == 0
        print(
            f"{task} at concurrency {top}: throughput {s['rps'] / b['rps']:.2f}x baseline, "
            f"p99 {s['p99_ms'] / b['p99_ms']:.2f}x baseline, failures {s['failures']} -> "
            f"{'meets' if ok else 'MISSES'} the target (>= 1x throughput, <= 2x p99, 0 failures)"
        )


if __name__ == "__main__":
    sys.exit(main())
