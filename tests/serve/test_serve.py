"""Ray Serve end to end: both apps over models registered in a temp MLflow store, called over real HTTP on
127.0.0.1; parity with the offline pyfunc, bad inputs and no champion (the champion switch under load is
test_champion_switch.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import mlflow
import pytest
from seqlab.serve.deploy import deploy
from seqlab.serve.schemas import ServeArgs
from serve_helpers import ROOT, TASKS, Registry, free_port, weather_rows

TEXTS = ["A wonderful, moving film.", "Boring and awful, a waste.", " ".join(["great"] * 30)]


def _rows(
    n: int = 30, spacing_s: int = 3600, gap_at: int | None = None, zone_at: int | None = None,
    start: str = "2013-01-01T00:00:00", **first: Any,
) -> list[dict[str, Any]]:
    """Weather rows in time order, ``spacing_s`` apart from ``start``; ``first`` overrides fields of row 0."""
    from datetime import datetime, timedelta

    rows = weather_rows(n, shuffle=False)
    t0 = datetime.fromisoformat(start) - timedelta(seconds=spacing_s * (n - 1) if start.startswith("9999") else 0)
    for i, row in enumerate(rows):
        t = t0 + timedelta(seconds=spacing_s * i + (3600 if gap_at is not None and i >= gap_at else 0))
        row["time"] = t.isoformat() + ("+00:00" if zone_at == i else "")
    rows[0].update(first)
    return rows


def _apps(registry: Registry, *extra: ServeArgs) -> list[ServeArgs]:
    # half a CPU each: the session's Ray has 4 logical CPUs and the trainings are done
    return [
        ServeArgs(task=t, tracking_uri=registry.uri, num_cpus=0.5) for t in TASKS
    ] + list(extra)


@pytest.fixture(scope="module")
def base(registry: Registry) -> Iterator[str]:
    from ray import serve

    port = free_port()
    urls = deploy(_apps(registry), port=port)
    assert urls["sentiment"] == f"http://127.0.0.1:{port}/sentiment"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()  # the session's Ray stays up


@pytest.fixture(scope="module")
def http(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=30.0) as client:
        yield client


def test_every_endpoint_answers(http: httpx.Client, registry: Registry) -> None:
    from ray import serve

    assert http.get("/healthz").json() == {"status": "ok"}
    ready = http.get("/readyz")
    assert ready.status_code == 200 and set(ready.json()["apps"]) == {"sentiment", "forecast"}
    for task, window in (
        ("sentiment", {"maxlen": 16}),
        ("forecast", {"lookback": 24, "step": 2, "delay": 6}),
    ):
        info = http.get(f"/{task}/info").json()
        assert (info["model"], info["version"], info["run_id"]) == (
            f"seqlab-{task}",
            registry.versions[task],
            registry.run_ids[task],
        )
        assert window.items() <= info["window"].items() and info["metrics"]
        assert http.get(f"/{task}/readyz").json()["ready"] is True
        assert http.get(f"/{task}/docs").status_code == 200
        assert "/predict" in http.get(f"/{task}/openapi.json").json()["paths"]
    status = serve.get_app_handle("sentiment").model_status.remote().result(timeout_s=30)
    assert status["ready"] and status["version"] == registry.versions["sentiment"]


def test_answers_equal_the_offline_pyfunc(http: httpx.Client, registry: Registry) -> None:
    mlflow.set_tracking_uri(registry.uri)
    offline = mlflow.pyfunc.load_model("models:/seqlab-sentiment@champion").predict(TEXTS)
    r = http.post("/sentiment/predict", json={"texts": TEXTS})
    assert r.status_code == 200, r.text
    served = r.json()["predictions"]
    assert [p["probability"] for p in served] == pytest.approx(offline["probability"].tolist(), abs=1e-6)
    assert [p["label"] for p in served] == offline["label"].tolist()
    assert [p["truncated"] for p in served] == [False, False, True]

    rows = weather_rows(40, seed=5)
    offline = mlflow.pyfunc.load_model("models:/seqlab-forecast@champion").predict(rows)
    r = http.post("/forecast/predict", json={"rows": rows})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["prediction"] == pytest.approx(float(offline["prediction"].iloc[0]), abs=1e-6)
    assert (body["target_time"], body["unit"]) == (offline["target_time"].iloc[0], offline["unit"].iloc[0])


def test_concurrent_requests_answer_as_alone(http: httpx.Client, base: str) -> None:
    alone = [http.post("/sentiment/predict", json={"texts": [t]}).json()["predictions"][0] for t in TEXTS]

    def one(i: int) -> dict[str, Any]:
        with httpx.Client(base_url=base, timeout=30.0) as c:  # own connection: real concurrency
            r = c.post("/sentiment/predict", json={"texts": [TEXTS[i % 3]]})
            assert r.status_code == 200, r.text
            return r.json()["predictions"][0]  # type: ignore[no-any-return]

    with ThreadPoolExecutor(12) as pool:
        together = list(pool.map(one, range(24)))
    for i, answer in enumerate(together):
        assert answer["probability"] == pytest.approx(alone[i % 3]["probability"], abs=1e-6)


@pytest.mark.parametrize(
    "path, kwargs, status, expected",
    [
        (
            "/sentiment/predict",
            {"content": b'{"texts": ["a",', "headers": {"content-type": "application/json"}},
            422,
            "malformed JSON",
        ),
        ("/sentiment/predict", {"json": {"texts": ["  "]}}, 422, "texts[0]"),
        ("/sentiment/predict", {"json": {"texts": [3]}}, 422, "texts[0]"),
        ("/sentiment/predict", {"json": {"texts": []}}, 422, "texts"),
        ("/sentiment/predict", {"json": {"texts": ["a"] * 65}}, 413, "at most 64"),
        ("/sentiment/predict", {"content": b"x" * 2_000_000}, 413, "1048576"),
        ("/forecast/predict", {"json": {"rows": weather_rows(10)}}, 422, "need at least 24"),
        (
            "/forecast/predict",
            {"json": {"rows": [dict(r, temp="warm") for r in weather_rows(30)]}},
            422,
            ".temp",
        ),
        (
            "/forecast/predict",
            {"json": {"rows": [dict(r, time="2020-01-01T00:00:00") for r in weather_rows(30)]}},
            422,
            "duplicate time",
        ),
        (
            "/forecast/predict",
            {
                "content": json.dumps({"rows": weather_rows(30)}).replace('"temp": ', '"temp": NaN, "x": ', 1),
                "headers": {"content-type": "application/json"},
            },
            422,
            "finite",
        ),
        ("/sentiment/predict", {"json": {"texts": ["fine", "!!!"]}}, 422, "texts[1]"),
        ("/sentiment/predict", {"json": {"texts": ["\u0000"]}}, 422, "texts[0]"),
        ("/sentiment/predict", {"json": {"texts": ["\u200b\u200b\u200b"]}}, 422, "texts[0]"),
        *[("/forecast/predict", {"json": {"rows": rows}}, 422, where) for rows, where in (
            (_rows(temp="12.5"), ".temp"),
            (_rows(temp="inf"), ".temp"),
            (_rows(temp="Infinity"), ".temp"),
            (_rows(temp="1e999"), ".temp"),
            (_rows(temp=1e308), "overflows float32"),
            (_rows(time="now"), ".time"),
            (_rows(time=1356998400), ".time"),
            (_rows(spacing_s=86_400), "s apart"),  # daily rows to an hourly model
            (_rows(spacing_s=1), "s apart"),
            (_rows(gap_at=10), "s apart"),
            (_rows(zone_at=3), "time zone"),
            (_rows(start="9999-12-31T23:00:00"), "9999"),
        )],
    ],
)
def test_bad_input_is_4xx_and_the_replica_keeps_answering(
    http: httpx.Client, path: str, kwargs: dict[str, Any], status: int, expected: str
) -> None:
    r = http.post(path, **kwargs)
    assert r.status_code == status, r.text
    assert expected in r.text
    ok = {"texts": ["fine"]} if path.startswith("/sentiment") else {"rows": weather_rows(30)}
    assert http.post(path, json=ok).status_code == 200


def test_an_app_without_champion_starts_and_says_why(
    http: httpx.Client, registry: Registry, base: str
) -> None:
    port = int(base.rsplit(":", 1)[1])
    empty = ServeArgs(
        task="sentiment",
        name="nochamp",
        registered_model="seqlab-nothing",
        tracking_uri=registry.uri,
        num_cpus=0.5,
    )
    deploy(_apps(registry, empty), port=port)
    try:
        ready = http.get("/nochamp/readyz")
        assert ready.status_code == 503 and "seqlab-nothing" in ready.json()["reason"]
        r = http.post("/nochamp/predict", json={"texts": ["a film"]})
        assert r.status_code == 503 and "champion" in r.json()["detail"]
        root = http.get("/readyz")
        assert root.status_code == 503 and root.json()["reason"].startswith("nochamp:")
        assert http.post("/sentiment/predict", json={"texts": ["a film"]}).status_code == 200
    finally:
        deploy(_apps(registry), port=port)  # the whole set again: nochamp goes away
    assert http.get("/readyz").status_code == 200
    assert http.get("/nochamp/readyz").status_code == 404


def test_the_ingress_is_haproxy(http: httpx.Client) -> None:
    import psutil

    assert os.environ["RAY_SERVE_ENABLE_HA_PROXY"] == "1"  # seqlab's default (tests/conftest.py)
    folder = os.environ["RAY_SERVE_HAPROXY_SERVER_STATE_BASE"]  # this session's own HAProxy files
    running = [
        p.info["cmdline"]
        for p in psutil.process_iter(["name", "cmdline"])
        if p.info["name"] == "haproxy" and folder in " ".join(p.info["cmdline"] or [])
    ]
    assert running, f"no haproxy process uses {folder}"
    assert http.get("/healthz").status_code == 200  # answered through it


def test_overload_beyond_the_queue_is_503_with_retry_after_at_once(
    http: httpx.Client, registry: Registry, base: str
) -> None:
    port = int(base.rsplit(":", 1)[1])
    narrow = ServeArgs(
        task="sentiment",
        name="narrow",
        tracking_uri=registry.uri,
        num_cpus=0.5,
        max_ongoing_requests=1,
        max_batch_size=1,
        max_queued_requests=1,
        retry_after_s=2.0,
    )
    deploy(_apps(registry, narrow), port=port)
    body = {"texts": [" ".join(["a long and rather slow review"] * 200)] * 64}
    start = threading.Barrier(24)

    def one(_: int) -> tuple[int, str | None, float, str]:
        with httpx.Client(base_url=base, timeout=30.0) as c:
            start.wait()
            t0 = time.perf_counter()
            r = c.post("/narrow/predict", json=body)
            return r.status_code, r.headers.get("retry-after"), time.perf_counter() - t0, r.text[:200]

    try:
        with ThreadPoolExecutor(24) as pool:
            answers = list(pool.map(one, range(24)))
    finally:
        deploy(_apps(registry), port=port)
    statuses = [a[0] for a in answers]
    assert set(statuses) <= {200, 503}, answers
    assert 1 <= statuses.count(200) and statuses.count(503) >= 12, statuses
    for status, retry_after, seconds, text in answers:
        if status == 503:
            assert retry_after == "2" and seconds < 5.0, (retry_after, seconds, text)


def test_deploy_works_in_throughput_optimized_mode(registry: Registry, base: str) -> None:
    """A second driver with RAY_SERVE_THROUGHPUT_OPTIMIZED=1 redeploys the same apps and waits for them."""
    import ray

    port = int(base.rsplit(":", 1)[1])
    script = (
        "import sys; from seqlab.serve.schemas import ServeArgs; from seqlab.serve.deploy import deploy\n"
        f"apps = [ServeArgs(task=t, tracking_uri={registry.uri!r}, num_cpus=0.5) "
        "for t in ('sentiment', 'forecast')]\n"
        f"print(deploy(apps, reload=True, port={port})['sentiment'])\n"
    )
    env = {
        **os.environ,
        "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
        "RAY_ADDRESS": ray.get_runtime_context().gcs_address,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith(f"127.0.0.1:{port}/sentiment"), done.stdout[-500:]


def test_serve_args_bound_the_queue_and_fit_the_batch() -> None:
    options = ServeArgs(task="sentiment").deployment_options()
    assert options["max_queued_requests"] == 128  # was -1: overload waited for the request timeout
    assert options["backpressure_config"] == {"status_code": 503, "retry_after_s": 1.0}
    # a small max_ongoing_requests without a batch size deploys (the batch follows it down)
    assert ServeArgs(task="forecast", max_ongoing_requests=4).max_batch_size == 4
    assert ServeArgs(task="forecast", max_ongoing_requests=4).init_args()["max_ongoing_requests"] == 4
