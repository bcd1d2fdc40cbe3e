"""Other programs' lines go to one log file per command, whose path is printed once; -v keeps them inline."""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from seqlab.runtime import chatter
from seqlab.runtime.chatter import KEEP_LOGS, ChatterLog, split_worker_lines


@pytest.fixture
def log_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "logs"
    monkeypatch.setenv(chatter.LOG_DIR_ENV, str(folder))
    yield folder
    chatter.route_chatter("done", verbose=True)  # takes this test's handler off the root logger


def test_a_library_logger_with_its_own_console_handler_writes_to_the_file(
        log_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # what Ray does to its "ray" logger at import: a console handler of its own, no propagation
    library = logging.getLogger("fakelib_ray_like")
    library.setLevel(logging.INFO)
    library.propagate = False
    library.addHandler(logging.StreamHandler())
    chatter.route_chatter("train", verbose=False)
    library.info("Started a local Ray instance.")
    logging.getLogger("fakelib.mlflow_like").warning("Creating initial MLflow database tables")  # propagates
    logging.getLogger("fakelib.mlflow_like").info("an INFO line of a propagating library")
    err = capsys.readouterr().err
    assert "Started a local Ray instance" not in err and "Creating initial" not in err
    files = list(log_dir.glob("train-*.log"))
    assert len(files) == 1
    text = files[0].read_text()
    assert "Started a local Ray instance" in text and "Creating initial MLflow database tables" in text
    assert "an INFO line of a propagating library" in text
    assert err.count("other programs' log lines") == 1 and str(files[0]) in err


def test_verbose_leaves_library_lines_on_the_console(log_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    library = logging.getLogger("fakelib_verbose")
    library.propagate = False
    library.setLevel(logging.INFO)
    stream = io.StringIO()
    library.addHandler(logging.StreamHandler(stream))
    chatter.route_chatter("train", verbose=True)
    library.info("HAProxy started successfully.")
    assert "HAProxy started successfully." in stream.getvalue()
    assert chatter.chatter_log() is None
    assert not log_dir.exists()  # nothing opened a file


def test_a_command_that_logs_nothing_leaves_no_file_and_prints_no_path(
        log_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chatter.route_chatter("validate", verbose=False)
    log = chatter.chatter_log()
    assert log is not None and not log.opened
    assert not log_dir.exists() and "other programs" not in capsys.readouterr().err


def test_the_folder_keeps_the_newest_files(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    for i in range(KEEP_LOGS + 5):
        old = folder / f"old-{i:03d}.log"
        old.write_text("x")
        os.utime(old, (time.time() - 1000 + i, time.time() - 1000 + i))
    log = ChatterLog("serve", folder=folder, say=io.StringIO())
    log.write("a line")
    log.close()
    kept = sorted(p.name for p in folder.glob("*.log"))
    assert len(kept) == KEEP_LOGS and log.path.name in kept
    assert "old-000.log" not in kept and f"old-{KEEP_LOGS + 4:03d}.log" in kept  # the oldest went


def test_worker_lines_split_into_seqlabs_own_and_the_rest() -> None:
    data = {"pid": 123, "actor_name": "RayTrainWorker", "is_err": False, "lines": [
        "[seqlab] epoch 1/3  0.1 s  train_loss=0.69",
        "Checkpoint successfully created at: Checkpoint(...)",
        "INFO 2026-12-08 proxy -- Successfully performed graceful HAProxy reload",
    ]}
    mine, others = split_worker_lines(data)
    assert mine is not None and mine["lines"] == ["[seqlab] epoch 1/3  0.1 s  train_loss=0.69"]
    assert mine["pid"] == 123 and mine["actor_name"] == "RayTrainWorker"  # Ray prints its prefix from these
    assert others == ["(RayTrainWorker pid=123) Checkpoint successfully created at: Checkpoint(...)",
                      "(RayTrainWorker pid=123) INFO 2026-12-08 proxy -- Successfully performed graceful HAProxy "
                      "reload"]
    none, rest = split_worker_lines({"pid": 7, "lines": ["only chatter"]})
    assert none is None and rest == ["(pid=7) only chatter"]


def test_sigterm_stops_the_command_through_seqlabs_own_stop(log_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    import signal

    from seqlab import cli

    stopped: list[bool] = []

    def terminated(args: object) -> int:
        raise SystemExit(signal.SIGTERM)  # what the SIGTERM handler of ray.init raises

    monkeypatch.setitem(cli.COMMANDS, "validate", terminated)
    monkeypatch.setattr(cli, "_stop_ray", lambda: stopped.append(True))
    assert cli.main(["validate", "--config", "x.yaml"]) == 128 + signal.SIGTERM
    assert stopped == [True] and "[seqlab] terminated; stopping" in capsys.readouterr().err

    def exits(args: object) -> int:
        raise SystemExit(3)  # any other exit is left alone

    monkeypatch.setitem(cli.COMMANDS, "validate", exits)
    with pytest.raises(SystemExit):
        cli.main(["validate", "--config", "x.yaml"])
    assert stopped == [True]


def test_a_bad_task_module_setting_is_one_error_line_not_a_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys

    # before: the parser (which imports the task registry) was built outside main()'s error handling
    env = {**os.environ, "SEQLAB_TASK_MODULES": "no_such_task_module"}
    done = subprocess.run([sys.executable, "-m", "seqlab.cli", "validate", "--config", "x.yaml"], env=env,
                          capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: SEQLAB_TASK_MODULES: cannot import task module 'no_such_task_module' (No module named "
        "'no_such_task_module'); set it to importable module paths, comma-separated"]


def test_describe_json_is_json_even_with_a_nan(monkeypatch: pytest.MonkeyPatch, log_dir: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from seqlab import cli, describe

    # e.g. the std of a column with no value in the train split; before: json.dumps printed a bare NaN
    monkeypatch.setattr(describe, "describe_all", lambda configs: {"forecast": {"std": float("nan"),
                                                                              "rows": [1.0, float("inf")]}})
    assert cli.main(["data", "describe", "--json"]) == 0
    assert json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"not JSON: {c}")) == {
        "forecast": {"std": None, "rows": [1.0, None]}}
