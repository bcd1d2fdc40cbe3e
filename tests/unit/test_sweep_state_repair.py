"""A killed sweep driver can leave Tune's state files cut short; a resume repairs them from the driver's copy."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from seqlab.errors import ConfigError
from seqlab.sweeps.resume import _intact, recover_missing_checkpoints, repair_state_files

SESSION = "2026-11-30_21-04-38"


def _pickled(value: object) -> bytes:
    return pickle.dumps(value)  # Tune pickles its searcher state, though the file is named .json


def _sweep(tmp_path: Path, searcher: bytes) -> Path:
    sweep_dir = tmp_path / "store" / "sw"
    sweep_dir.mkdir(parents=True)
    (sweep_dir / f"experiment_state-{SESSION}.json").write_text(json.dumps({"trial_data": [1, 2]}))
    (sweep_dir / f"basic-variant-state-{SESSION}.json").write_bytes(searcher)
    (sweep_dir / "experiment_state-2026-11-29_10-00-00.json").write_text("{")  # an older session: never read
    return sweep_dir


def _staging(root: Path, experiment: dict, searcher: bytes, stamp: str = "2026-11-30_21-04-30") -> Path:
    staging = root / "session_2026-11-30_20-00-00_1_2" / "artifacts" / stamp / "sw" / "driver_artifacts"
    staging.mkdir(parents=True)
    (staging / f"experiment_state-{SESSION}.json").write_text(json.dumps(experiment))
    (staging / f"basic-variant-state-{SESSION}.json").write_bytes(searcher)
    return staging


def test_intact_tells_whole_files_from_cut_ones(tmp_path: Path) -> None:
    whole = pickle.dumps({"generated": 3, "names": ["a" * 50]})
    cases = {"experiment_state-a.json": b'{"a": 1}', "experiment_state-b.json": b"",
             "experiment_state-c.json": b'{"a": ', "basic-variant-state-d.json": whole,
             "basic-variant-state-e.json": whole[:-1], "searcher-state-f.pkl": b""}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    assert {name: _intact(tmp_path / name) for name in cases} == {
        "experiment_state-a.json": True, "experiment_state-b.json": False, "experiment_state-c.json": False,
        "basic-variant-state-d.json": True, "basic-variant-state-e.json": False, "searcher-state-f.pkl": False}


def test_whole_state_files_are_left_alone(tmp_path: Path) -> None:
    sweep_dir = _sweep(tmp_path, _pickled({"n": 3}))
    _staging(tmp_path / "ray", {"trial_data": [9]}, _pickled({"n": 9}))
    assert repair_state_files(sweep_dir, roots=[tmp_path / "ray"]) == []
    assert pickle.loads((sweep_dir / f"basic-variant-state-{SESSION}.json").read_bytes()) == {"n": 3}


def test_a_cut_file_brings_the_whole_session_set_from_the_driver_copy(tmp_path: Path) -> None:
    sweep_dir = _sweep(tmp_path, b"")  # emptied by a kill during the copy
    _staging(tmp_path / "ray", {"trial_data": [1, 2, 3]}, _pickled({"n": 3}))
    lines = repair_state_files(sweep_dir, roots=[tmp_path / "ray"])
    assert len(lines) == 2 and all("driver_artifacts" in line for line in lines)
    # both files of the session come from the same snapshot, so trials and searcher agree
    assert pickle.loads((sweep_dir / f"basic-variant-state-{SESSION}.json").read_bytes()) == {"n": 3}
    assert json.loads((sweep_dir / f"experiment_state-{SESSION}.json").read_text()) == {"trial_data": [1, 2, 3]}
    assert not list(sweep_dir.glob(".*.tmp"))


def test_a_cut_file_without_a_whole_copy_refuses_the_resume_and_changes_nothing(tmp_path: Path) -> None:
    sweep_dir = _sweep(tmp_path, b"")
    _staging(tmp_path / "ray", {"trial_data": [1]}, b"")  # the driver's copy is cut too
    before = {p.name: p.read_bytes() for p in sweep_dir.iterdir()}
    with pytest.raises(ConfigError, match=f"basic-variant-state-{SESSION}.json .*cut short.*new name"):
        repair_state_files(sweep_dir, roots=[tmp_path / "ray"])
    assert {p.name: p.read_bytes() for p in sweep_dir.iterdir()} == before


def test_a_sweep_killed_before_its_first_snapshot_has_nothing_to_repair(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "store" / "sw"
    sweep_dir.mkdir(parents=True)
    (sweep_dir / "seqlab_parent_run_id").write_text("abc")
    assert repair_state_files(sweep_dir, roots=[tmp_path / "ray"]) == []
    assert recover_missing_checkpoints(sweep_dir) == []
