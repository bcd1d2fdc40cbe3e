"""Bad input table, checkpoint surface: every refusal names the file and what is wrong with it (and, for a
resume under other settings, each key that differs).

    python -m pytest tests/unit/test_bad_checkpoints.py -q
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from runs_helpers import tiny_checkpoint
from seqlab.checkpoint import load_state
from seqlab.training.resume import check_resume
from seqlab.errors import CheckpointError


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return load_state(tiny_checkpoint(tmp_path_factory.mktemp("ckpt")))


class _NotPlainData:
    pass


def _write(path: Path, make: Callable[[dict[str, Any]], Any], good: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    obj = make(copy.deepcopy(good))
    if isinstance(obj, bytes):
        path.write_bytes(obj)
    elif obj is not None:
        torch.save(obj, path)
    return path


LOAD_CASES: list[tuple[str, Callable[[dict[str, Any]], Any], dict[str, str], str]] = [
    ("missing", lambda s: None, {}, "checkpoint not found"),
    ("garbage", lambda s: b"not a checkpoint", {}, "corrupt or not a seqlab checkpoint"),
    ("truncated", lambda s: b"PK\x03\x04" + b"\x00" * 10, {}, "corrupt or not a seqlab checkpoint"),
    ("code", lambda s: {**s, "hook": _NotPlainData()}, {}, "corrupt or not a seqlab checkpoint"),  # weights_only
    ("format", lambda s: {**s, "format": "other-v9"}, {}, "format 'other-v9'"),
    ("tensor", lambda s: torch.zeros(3), {}, "format 'Tensor'"),
    ("task", lambda s: s, {"task": "forecast"}, "for task 'sentiment', not 'forecast'"),
    ("model", lambda s: s, {"model": "lstm"}, "holds model 'gru', not 'lstm'"),
]


@pytest.mark.parametrize(("case", "make", "expect", "names"), LOAD_CASES, ids=[c[0] for c in LOAD_CASES])
def test_bad_checkpoint_file_names_the_file_and_the_problem(tmp_path: Path, good: dict[str, Any], case: str,
                                                            make: Callable[[dict[str, Any]], Any],
                                                            expect: dict[str, str], names: str) -> None:
    path = _write(tmp_path / "run" / "state.pt", make, good)
    with pytest.raises(CheckpointError) as err:
        load_state(path, **expect)
    assert names in str(err.value) and str(path) in str(err.value), str(err.value)


def test_a_folder_without_state_pt_is_named(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=f"{tmp_path}/state.pt.*'state.pt'"):
        load_state(tmp_path)


RESUME_CASES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("data", lambda c: c["data"].update(max_words=32), "data.max_words: checkpoint 64, now 32"),
    ("model", lambda c: c["model"].update(hidden=16), "model.hidden: checkpoint 8, now 16"),
    ("source", lambda c: c["data"].update(source="packaged"), "data.source: checkpoint 'synthetic', now 'packaged'"),
    ("new key", lambda c: c["model"].update(extra=1), "model.extra: checkpoint '(absent)', now 1"),
]


@pytest.mark.parametrize(("case", "change", "names"), RESUME_CASES, ids=[c[0] for c in RESUME_CASES])
def test_resume_under_other_settings_names_each_key(good: dict[str, Any], case: str,
                                                    change: Callable[[dict[str, Any]], None], names: str) -> None:
    config = copy.deepcopy(good["config"])
    change(config)
    with pytest.raises(CheckpointError) as err:
        check_resume(good, config, "runs/x/checkpoint_000001")
    assert names in str(err.value) and "runs/x/checkpoint_000001" in str(err.value), str(err.value)


def test_resume_refuses_preprocessing_fitted_on_other_data(good: dict[str, Any]) -> None:
    check_resume(good, good["config"], "here", good["preprocessing"])  # the same: accepted
    other = copy.deepcopy(good["preprocessing"])
    other["word_index"]["words"] = list(reversed(other["word_index"]["words"]))
    with pytest.raises(CheckpointError, match=r"preprocessing \(word_index\)"):
        check_resume(good, good["config"], "here", other)
