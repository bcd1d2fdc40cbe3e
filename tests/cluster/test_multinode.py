"""A real two-node Ray cluster on this machine, driven with ``ray job submit`` like a user would.

Head and second node are separate ``ray start`` processes on 127.0.0.1, each with its own CPUs; token
authentication stays on (``RAY_AUTH_MODE=token`` + ``RAY_AUTH_TOKEN``, as Ray documents for clients and nodes).
The tests submit the whole pipeline (data -> sweep/train -> promote -> deploy) with training workers on both
nodes, call both endpoints, check that a config error fails the job fast, and that losing the second node
mid-training is survived from the last checkpoint without damaging what was registered before.

The cluster keeps its own Ray temp dir (so ``ray.init()`` elsewhere never attaches to it) and each node is a
``ray start --block`` process that the fixture terminates (``ray stop`` would stop every Ray of the machine).
"""

from __future__ import annotations

import json
import re
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import mlflow
import pytest
import yaml

from seqlab.training.resume import checkpoint_dirs

ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))
STORE_BYTES = 400 * 1024 * 1024  # per node; Ray's default (30% of memory) would take ~7 GiB each


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.gcs_port, self.dash_port, self.serve_port = _free_port(), _free_port(), _free_port()
        self.mlflow_uri = f"sqlite:///{tmp}/mlflow.db"
        self.env = {
            **os.environ,
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": secrets.token_hex(32),
            "RAY_USAGE_STATS_ENABLED": "0",
            "MLFLOW_TRACKING_URI": self.mlflow_uri,
            "SEQLAB_STORAGE_PATH": str(tmp / "store"),
        }
        self.env.pop("RAY_ADDRESS", None)
        # A temp dir of its own: `ray start` records "the current cluster" there, and a plain ray.init() on
        # this machine would otherwise attach to this cluster. Short: Ray puts unix sockets inside it.
        # One per node: two nodes sharing one temp dir delete each other's runtime_resources (job working dirs).
        self.temp_dir = f"/tmp/ray-mn-{secrets.token_hex(3)}"
        self.temp_dir2 = self.temp_dir + "-2"
        self.head: subprocess.Popen[bytes] | None = None
        self.node2: subprocess.Popen[bytes] | None = None

    def ray(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([RAY, *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode:
            raise AssertionError(f"ray {' '.join(args[:3])} failed ({done.returncode}):\n{done.stdout[-2000:]}\n"
                                 f"{done.stderr[-3000:]}")
        return done

    def start(self) -> None:
        # --block: each `ray start` process owns its node; terminating it takes that node (and only it) down.
        # (`ray stop` would stop every Ray instance of the machine, not just this cluster.)
        self.head = subprocess.Popen(
            [RAY, "start", "--head", f"--temp-dir={self.temp_dir}", "--node-ip-address=127.0.0.1", f"--port={self.gcs_port}", "--num-cpus=2",
             f"--object-store-memory={STORE_BYTES}", "--resources", json.dumps({"TRAIN_DRIVER": 4}), "--dashboard-host=127.0.0.1",
             f"--dashboard-port={self.dash_port}", "--disable-usage-stats", "--block"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_nodes(1)
        self.node2 = subprocess.Popen(
            [RAY, "start", f"--address=127.0.0.1:{self.gcs_port}", f"--temp-dir={self.temp_dir2}", "--node-ip-address=127.0.0.1", "--num-cpus=2",
             f"--object-store-memory={STORE_BYTES}", "--disable-usage-stats", "--block"], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_nodes(2)

    def wait_nodes(self, n: int, timeout_s: float = 150) -> None:
        deadline = time.time() + timeout_s
        status = ""
        while time.time() < deadline:
            done = self.ray("status", f"--address=127.0.0.1:{self.gcs_port}", check=False)
            status = done.stdout + done.stderr
            if "Active:" in status and status.count(" node_") >= n and f"{2.0 * n:.1f} CPU" in status:
                return
            time.sleep(2)
        raise AssertionError(f"cluster did not reach {n} node(s) in {timeout_s:.0f} s:\n{status[-2000:]}")

    def submit(self, *cmd: str, env_vars: dict[str, str] | None = None, wait: bool = True) -> str:
        runtime_env = {"env_vars": {"MLFLOW_TRACKING_URI": self.mlflow_uri, "SEQLAB_STORAGE_PATH": str(self.tmp / "store"),
                                    "RAY_TRAIN_ENABLE_PRINT_PATCH": "0", **(env_vars or {})}}
        args = ("job", "submit", f"--address=http://127.0.0.1:{self.dash_port}", "--working-dir", str(ROOT),
                "--runtime-env-json", json.dumps(runtime_env), "--no-wait", "--", *cmd)
        deadline = time.time() + 300
        while True:  # the nodes' job agents come up some time after the nodes themselves (minutes under load)
            done = self.ray(*args, check=False)
            if done.returncode == 0 or "No available agent" not in done.stderr or time.time() > deadline:
                break
            time.sleep(2)
        out = self.ray(*args).stdout if done.returncode else done.stdout
        job_id = next(w.strip("'\"") for w in out.split() if w.strip("'\"").startswith("raysubmit_"))
        if wait:
            self.wait(job_id)
        return job_id

    def status(self, job_id: str) -> str:
        done = self.ray("job", "status", f"--address=http://127.0.0.1:{self.dash_port}", job_id, check=False)
        out = (done.stdout + done.stderr).lower()  # e.g. "Job 'raysubmit_x' succeeded" / "... is currently running"
        for word in ("succeeded", "failed", "stopped", "running", "pending"):
            if word in out:
                return word.upper()
        return out

    def wait(self, job_id: str, timeout_s: float = 480) -> str:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            state = self.status(job_id)
            if state in ("SUCCEEDED", "FAILED", "STOPPED"):
                return state
            time.sleep(2)
        self.ray("job", "stop", f"--address=http://127.0.0.1:{self.dash_port}", job_id, check=False)
        raise AssertionError(f"job {job_id} still {state} after {timeout_s} s:\n{self.logs(job_id)[-3000:]}")

    def logs(self, job_id: str) -> str:
        return self.ray("job", "logs", f"--address=http://127.0.0.1:{self.dash_port}", job_id, check=False).stdout

    def stop(self) -> None:
        for node in (self.node2, self.head):
            if node is not None and node.poll() is None:
                node.terminate()
                try:
                    node.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    node.kill()
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        shutil.rmtree(self.temp_dir2, ignore_errors=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    # not pytest's tmp_path: another pytest run on the machine may rotate it away under the running jobs
    c = Cluster(Path(tempfile.mkdtemp(prefix="seqlab-cluster-")))
    try:
        c.start()
        yield c
    finally:
        c.stop()


def _pipeline_file(c: Cluster) -> Path:
    two_nodes = ["train.num_workers=2", "train.cpus_per_worker=2"]  # 2 CPUs per node: one worker on each
    tree: dict[str, Any] = {
        "data_check": False,
        "tasks": {
            "sentiment": {"sweep": str(ROOT / "configs/sentiment/sweep_tiny.yaml"),
                          "overrides": ["num_samples=1", "max_concurrent_trials=1", "scheduler=fifo",
                                        "overrides.train.num_workers=2", "overrides.train.cpus_per_worker=2",
                                        f"storage_path={c.tmp / 'store'}"]},
            "forecast": {"train": str(ROOT / "configs/forecast/tiny.yaml"), "overrides": two_nodes},
        },
        "promote": True,
        "deploy": True,
        # replicas hold no CPU here, so the node-loss test can still place its workers on the head
        "serve": {"config": str(ROOT / "configs/serve.yaml"), "port": c.serve_port, "app_overrides": {"num_cpus": 0}},
    }
    path = c.tmp / "pipeline.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def test_pipeline_job_trains_on_both_nodes_and_serves(cluster: Cluster) -> None:
    job = cluster.submit("python", "jobs/pipeline.py", "--config", str(_pipeline_file(cluster)))
    logs = cluster.logs(job)
    assert cluster.status(job) == "SUCCEEDED", logs[-4000:]
    # Both nodes share this machine's IP, so Ray Train's node_rank is 0 for both; the second node's own log
    # folder tells whether a training worker ran there.
    node2_logs = Path(cluster.temp_dir2) / "session_latest" / "logs"
    assert any("RayTrainWorker" in p.read_text(errors="replace") for p in node2_logs.glob("worker-*.err")), \
        "no training worker ran on the second node"
    # the parsed registry outcome per task ("not promoted ..." must not pass for "promoted")
    outcomes = dict(re.findall(r"^(sentiment|forecast):\n(?:  .*\n)*?  registry: '?(promoted|not promoted) ", logs, re.M))
    assert outcomes == {"sentiment": "promoted", "forecast": "promoted"}, logs[-4000:]

    base = f"http://127.0.0.1:{cluster.serve_port}"
    with httpx.Client(timeout=30) as http:
        r = http.post(f"{base}/sentiment/predict", json={"texts": ["a wonderful film", "a boring waste"]})
        assert r.status_code == 200, r.text
        assert len(r.json()["predictions"]) == 2
        from seqlab.data.synthetic import synthetic_weather

        rows = synthetic_weather(40, seed=1)
        rows["time"] = rows["time"].dt.strftime("%Y-%m-%dT%H:%M:%S")
        r = http.post(f"{base}/forecast/predict", json={"rows": rows.to_dict(orient="records")})
        assert r.status_code == 200, r.text


def test_config_error_fails_the_job_fast_with_the_error_in_its_logs(cluster: Cluster) -> None:
    t0 = time.time()
    job = cluster.submit("python", "jobs/train.py", "--config", "configs/forecast/tiny.yaml", "trian.epochs=2")
    assert cluster.status(job) == "FAILED"
    assert "trian: unknown key" in cluster.logs(job)
    assert time.time() - t0 < 120


def test_losing_the_second_node_mid_training_resumes_from_checkpoint(cluster: Cluster) -> None:
    client = mlflow.MlflowClient(tracking_uri=cluster.mlflow_uri, registry_uri=cluster.mlflow_uri)
    champion_before = client.get_model_version_by_alias("seqlab-forecast", "champion")
    finished_before = {r.info.run_id for r in client.search_runs(
        [e.experiment_id for e in client.search_experiments()], filter_string="attributes.status = 'FINISHED'")}

    job = cluster.submit("python", "jobs/train.py", "--config", "configs/forecast/tiny.yaml", "train.num_workers=2",
                         "train.placement_strategy=SPREAD", "train.epochs=300", "train.max_failures=3",
                         "train.run_name=node-loss", "tracking.log_model=false", wait=False)
    run_dir = cluster.tmp / "store" / "node-loss"
    deadline = time.time() + 180
    # the first checkpoint folder (Ray's checkpoint_manager_snapshot.json does not count): stop the node right
    # then, so that it dies with most of the 300 epochs (0.05 s each here) still to run and the restart has a
    # checkpoint to use
    while time.time() < deadline and len(checkpoint_dirs(run_dir)) < 1:
        time.sleep(0.2)
    assert len(checkpoint_dirs(run_dir)) >= 1, cluster.logs(job)[-3000:]
    assert cluster.node2 is not None
    cluster.node2.terminate()  # the second node goes away mid-training
    cluster.node2.wait(timeout=60)

    assert cluster.wait(job) == "SUCCEEDED", cluster.logs(job)[-4000:]
    run_id = (run_dir / "seqlab_mlflow_run_id").read_text().strip()
    resumed = [m.value for m in client.get_metric_history(run_id, "resumed_from")]
    assert max(resumed) > 0, f"training restarted from scratch instead of the last checkpoint: {cluster.logs(job)[-6000:]}"
    epochs = sorted(int(m.step) for m in client.get_metric_history(run_id, "val_mae"))
    assert epochs == list(range(1, 301))  # each epoch logged once: none lost, none repeated
    # nothing written before was damaged
    after = client.get_model_version_by_alias("seqlab-forecast", "champion")
    assert after.version == champion_before.version and after.run_id == champion_before.run_id
    for rid in finished_before:
        assert client.get_run(rid).info.status == "FINISHED"


def test_job_submission_needs_the_clusters_token(cluster: Cluster) -> None:
    """Token auth on a real two-node cluster: a client without the token (or with another) is refused."""
    args = ("job", "submit", f"--address=http://127.0.0.1:{cluster.dash_port}", "--no-wait", "--",
            "python", "-c", "print('hello')")
    for token in (None, secrets.token_hex(32)):
        env = {k: v for k, v in cluster.env.items() if k != "RAY_AUTH_TOKEN"}
        if token is not None:
            env["RAY_AUTH_TOKEN"] = token
        # a home without ~/.ray/auth_token: the client must not find some other token of this machine
        env["HOME"] = str(cluster.tmp / f"home-{token is None}")
        done = subprocess.run([RAY, *args], env=env, capture_output=True, text=True, timeout=120)
        out = (done.stdout + done.stderr).lower()
        assert done.returncode != 0 and "raysubmit_" not in out, out[-2000:]
        assert any(w in out for w in ("auth", "401", "token")), out[-2000:]
    job = cluster.submit("python", "-c", "print('hello')")  # the cluster's own token: accepted and run
    assert cluster.status(job) == "SUCCEEDED" and "hello" in cluster.logs(job)
