"""What a person sees: the console of a real ``seqlab train`` subprocess on the tiny config (its own Ray)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_seqlab_train_prints_each_epoch_once_and_a_summary(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), os.environ.get("PYTHONPATH", "")]),
        "SEQLAB_LOG_DIR": str(tmp_path / "logs"),
    }
    for key in ("RAY_ADDRESS", "RAY_TRAIN_ENABLE_PRINT_PATCH", "RAY_DEDUP_LOGS", "RAY_AIR_NEW_OUTPUT"):  # as a user's shell has it
        env.pop(key, None)
    done = subprocess.run(
        [sys.executable, "-m", "seqlab.cli", "train", "--config", str(ROOT / "configs/sentiment/tiny.yaml"),
         f"train.storage_path={tmp_path}/ray", "train.epochs=3"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    epochs = re.findall(r"\[seqlab\] epoch (\d+)/3\b", out)
    assert epochs == ["1", "2", "3"], out[-3000:]  # each once, in order
    assert "ETA" in out
    # other programs' chatter: Ray's token-auth notice and placement-group cleaner, colour codes in output
    # that is not a terminal
    for chatter in ("Continuing to monitor", "Token authentication is enabled", "\x1b["):
        assert chatter not in out, (chatter, out[-3000:])
    # the rest of Ray's and MLflow's lines went to one log file, named once (before: on the console)
    assert "Started a local Ray instance" not in out and "Creating initial MLflow database" not in out
    logs = list((tmp_path / "logs").glob("train-*.log"))
    assert len(logs) == 1 and out.count(f"other programs' log lines (Ray, Serve, MLflow): {logs[0]}") == 1
    assert "Started a local Ray instance" in logs[0].read_text()
    assert "Reporting training result" not in out
    assert "Add type hints to the `predict` method" not in out
    summary = out[out.index("summary"):]
    for key in ("best val", "test", "checkpoint", "MLflow", "seconds", "ray_start", "loop"):
        assert key in summary, summary
