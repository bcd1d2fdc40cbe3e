"""Clean stops: Ctrl-C and SIGTERM stop seqlab at once and leave no run RUNNING and no Ray process behind.

Ray Train and Ray Tune install SIGINT handlers inside ``fit()`` and leave them there; the pipeline then served
forever, deaf to Ctrl-C. These tests send real signals to real ``seqlab`` processes (each with its own local
Ray) and read the outcome from the SQLite MLflow store.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
import psutil
import pytest
import yaml

from runs_helpers import finished_run, tiny_checkpoint
from seqlab.tasks import load_config
from seqlab.tracking.registry import promote
from seqlab.tasks import get_task
from seqlab.tasks.base import ArraySplit
from seqlab.training.driver import run_training
from seqlab.training.resume import checkpoint_dirs

ROOT = Path(__file__).resolve().parents[2]
SEQLAB = [sys.executable, "-m", "seqlab.cli"]
pytestmark = pytest.mark.usefixtures("ray_session")


def _env(uri: str, tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "SEQLAB_STORAGE_PATH": str(tmp_path / "store"),
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT / "platform"), os.environ.get("PYTHONPATH")) if p),
           "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)  # each child starts (and must stop) its own local Ray
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[str], sig: int, family: list[psutil.Process]) -> tuple[int, float]:
    """Send ``sig``; return the exit code and the seconds it took; then check the family is gone."""
    t0 = time.monotonic()
    proc.send_signal(sig)
    try:
        rc = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"seqlab still running 30 s after signal {sig}") from None
    took = time.monotonic() - t0
    _, alive = psutil.wait_procs(family, timeout=10)
    for p in alive:  # clean up before failing
        p.kill()
    assert not alive, f"Ray processes left behind: {[p.name() for p in alive]}"
    return rc, took


def test_training_leaves_the_sigint_handler_as_it_was(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    cfg = load_config(ROOT / "configs/forecast/tiny.yaml", [f"train.storage_path={tmp_path}", "train.epochs=1"])
    run_training(cfg, track=False)  # a real TorchTrainer.fit() on this (the main) thread's behalf
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, "KILLED"), (signal.SIGTERM, "KILLED")])
def test_signal_mid_training_stops_the_job_and_closes_its_run(sig: int, status: str, tmp_path: Path,
                                                               mlflow_uri: str) -> None:
    proc = subprocess.Popen([*SEQLAB, "train", "--config", str(ROOT / "configs/forecast/tiny.yaml"),
                             "train.epochs=500", "train.run_name=stopme", "tracking.log_model=false"],
                            env=_env(mlflow_uri, tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    run_dir = tmp_path / "store" / "stopme"
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None and not checkpoint_dirs(run_dir):
        time.sleep(0.3)
    if proc.poll() is not None or not checkpoint_dirs(run_dir):
        proc.kill()
        raise AssertionError(f"training did not get under way: {proc.stderr.read()[-3000:] if proc.stderr else ''}")
    family = psutil.Process(proc.pid).children(recursive=True)
    rc, took = _stop(proc, sig, family)
    assert took < 10, f"took {took:.1f} s to stop"
    if sig == signal.SIGINT:
        assert rc == 130, proc.stderr.read()[-2000:] if proc.stderr else rc
    else:
        assert rc != 0
    run_id = (run_dir / "seqlab_mlflow_run_id").read_text().strip()
    assert mlflow.MlflowClient(tracking_uri=mlflow_uri).get_run(run_id).info.status == status


def test_failure_after_training_marks_the_run_failed(tmp_path: Path, mlflow_uri: str) -> None:
    cfg = load_config(ROOT / "configs/sentiment/tiny.yaml", [f"train.storage_path={tmp_path}", "train.epochs=1",
                                                             "train.run_name=late", "tracking.log_model=false"])
    prepared = get_task("sentiment").prepare(cfg)
    test = prepared.test
    assert isinstance(test, ArraySplit)
    prepared.test = ArraySplit(np.full_like(test.x, 10**6), test.y)  # word ids past the embedding: eval fails
    with pytest.raises(IndexError):
        run_training(cfg, prepared=prepared)
    run_id = (tmp_path / "late" / "seqlab_mlflow_run_id").read_text().strip()
    assert mlflow.MlflowClient(tracking_uri=mlflow_uri).get_run(run_id).info.status == "FAILED"


def test_seqlab_serve_keeps_serving_a_reload_from_another_terminal_finds_it_and_ctrl_c_stops_it(
        tmp_path: Path, mlflow_uri: str) -> None:
    """The README's `seqlab serve` (no --block) printed the endpoints and exited, taking its local Ray and
    the apps with it; `seqlab serve --reload` from a second terminal then started a Ray of its own and died
    on the taken port after 182 lines of traceback."""
    import httpx

    checkpoint = tiny_checkpoint(tmp_path / "ckpt")
    assert promote(mlflow_uri, "sentiment", finished_run(mlflow_uri, checkpoint, 0.7)).promoted
    serve_file = tmp_path / "serve.yaml"
    tree = yaml.safe_load((ROOT / "configs/serve.yaml").read_text())
    tree["applications"] = [a for a in tree["applications"] if a["name"] in ("sentiment", "health")]
    tree["applications"][-1]["args"]["apps"] = ["sentiment"]
    serve_file.write_text(yaml.safe_dump(tree))
    port = free_port()
    command = [*SEQLAB, "serve", "--config", str(serve_file), "--port", str(port)]
    proc = subprocess.Popen(command, env=_env(mlflow_uri, tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    assert proc.stdout is not None
    lines = []
    deadline = time.time() + 240
    for line in proc.stdout:  # until it serves
        lines.append(line)
        if "serving until Ctrl-C" in line or time.time() > deadline:
            break
    time.sleep(2)
    assert proc.poll() is None, "".join(lines)[-3000:]  # still serving
    family = psutil.Process(proc.pid).children(recursive=True)
    assert any("raylet" in " ".join(p.cmdline()) for p in family), "the serve process started no local Ray"
    readyz = f"http://127.0.0.1:{port}/sentiment/readyz"
    assert httpx.get(readyz, timeout=10).json()["version"] == "1"

    # a second terminal: a better model is promoted, then --reload switches the running app to it
    assert promote(mlflow_uri, "sentiment", finished_run(mlflow_uri, checkpoint, 0.9)).promoted
    other = subprocess.run([*command, "--reload"], env=_env(mlflow_uri, tmp_path), capture_output=True,
                           text=True, timeout=180, cwd=tmp_path)
    assert other.returncode == 0, other.stdout[-2000:] + other.stderr[-3000:]
    assert f"found the seqlab server of process {proc.pid} on port {port}" in other.stdout
    assert "sentiment: serving champion v2 (v1 replaced)" in other.stdout  # which version replaced which
    assert httpx.get(readyz, timeout=10).json()["version"] == "2"
    assert proc.poll() is None  # the reload neither stopped nor replaced the server

    rc, took = _stop(proc, signal.SIGINT, family)
    assert rc == 130 and took < 10, (rc, took, "".join(lines)[-2000:])
    assert not (Path(tempfile.gettempdir()) / f"seqlab-serve-{port}.json").exists()  # its record went with it


def test_seqlab_serve_on_a_port_another_process_holds_says_so_in_one_line(tmp_path: Path, mlflow_uri: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        out = subprocess.run([*SEQLAB, "serve", "--port", str(port)], env=_env(mlflow_uri, tmp_path),
                             capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.strip().splitlines() == [
        f"error: 127.0.0.1:{port} is in use by another process, which is not a seqlab server this command can reach "
        f"(no live {Path(tempfile.gettempdir()) / f'seqlab-serve-{port}.json'}; a `seqlab serve` still starting "
        "writes it when it prints 'serving until Ctrl-C'): stop it, serve on another port (--port), or join its "
        "Ray cluster with RAY_ADDRESS=<its address>"]
