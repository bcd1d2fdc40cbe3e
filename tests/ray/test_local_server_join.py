"""`seqlab serve --reload` in a second terminal joins the Ray of the local server running in the first.

The first terminal is stood in for by this test process: its session Ray (token authentication on, as Ray 2.60
starts it) and a server record naming it. The second terminal is a fresh interpreter with a user's shell
environment: no ``RAY_ADDRESS``, no ``RAY_AUTH_MODE``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

JOIN = """
import sys
from seqlab.serve.deploy import reach_local_server
reach_local_server("127.0.0.1", int(sys.argv[1]))
from seqlab.runtime.cluster import init_ray
resources = init_ray()
print("joined", resources.get("TRAIN_DRIVER"))
"""


@pytest.mark.usefixtures("ray_session")
def test_second_terminal_joins_the_local_servers_ray(tmp_path: Path) -> None:
    import ray

    port = 18431  # only named in the record; nothing listens on it
    (tmp_path / f"seqlab-serve-{port}.json").write_text(json.dumps(
        {"pid": os.getpid(), "port": port, "gcs_address": ray.get_runtime_context().gcs_address}))
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    for key in ("RAY_ADDRESS", "RAY_AUTH_MODE"):  # as a user's second terminal has it
        env.pop(key, None)
    done = subprocess.run([sys.executable, "-c", JOIN, str(port)], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    out = done.stdout + done.stderr
    # before the fix: ray was imported before RAY_AUTH_MODE=token was set, so the join failed authentication
    # ("Failed to connect to Ray cluster") after 20 retries
    assert done.returncode == 0, out[-3000:]
    assert f"found the seqlab server of process {os.getpid()} on port {port}" in out
    assert "joined 4.0" in out  # the session Ray's TRAIN_DRIVER slots: this process did not start its own
    assert "InvalidAuthToken" not in out


TWO_THREADS = """
import threading
from seqlab.runtime.cluster import init_ray
results, errors = [], []
def start():
    try:
        results.append(init_ray(num_cpus=1, object_store_mb=128))
    except Exception as exc:
        errors.append(repr(exc))
helper = threading.Thread(target=start)  # as the training driver's data-preparing thread
helper.start()
start()  # the main thread, as the training driver
helper.join()
print("errors", errors, "started", len(results), flush=True)
"""


def test_a_helper_thread_and_the_main_thread_starting_ray_at_once_start_one(tmp_path: Path) -> None:
    # `seqlab train` starts Ray while a helper thread prepares the data, which starts Ray too where Ray Data
    # reads sharded files. Before: "AssertionError: Perhaps you called ray.init twice by accident?"; and where
    # the helper thread won, ray.cluster_resources() hung on the main thread
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run([sys.executable, "-c", TWO_THREADS], env=env, capture_output=True, text=True,
                          timeout=120, check=False, cwd=tmp_path)
    assert "errors [] started 2" in done.stdout, (done.stdout + done.stderr)[-3000:]
