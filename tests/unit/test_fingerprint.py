"""The data fingerprint that guards champion comparisons: the data file's content (not its path) and every
setting that decides the validation examples; every data key of a task is classified as counting or not."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from seqlab.tasks import load_config
from seqlab.tasks import TASKS, get_task

CSV = "time,temp,dewp\n" + "".join(f"2020-01-01T{h:02d}:00:00,{h}.5,{h}.1\n" for h in range(24))


def _fp(task: str, **data: Any) -> str:
    cfg = load_config(None, {"task": task, **{f"data.{k}": v for k, v in data.items()}})
    return get_task(task).data_fingerprint(cfg)


def test_same_content_elsewhere_is_the_same_data_and_an_edit_is_not(tmp_path: Path) -> None:
    a = tmp_path / "a.csv"
    a.write_text(CSV)
    b = tmp_path / "copy" / "b.csv"
    b.parent.mkdir()
    shutil.copy(a, b)
    same = {"source": "csv", "lookback": 4, "delay": 2}
    assert _fp("forecast", path=str(a), **same) == _fp("forecast", path=str(b), **same)
    b.write_text(CSV.replace("3.5", "3.6"))
    assert _fp("forecast", path=str(a), **same) != _fp("forecast", path=str(b), **same)


def test_a_folder_of_reviews_is_hashed_by_content(tmp_path: Path) -> None:
    for root in ("x", "y"):
        (tmp_path / root / "train").mkdir(parents=True)
        (tmp_path / root / "train" / "1.txt").write_text("a fine film")
    fp = {r: _fp("sentiment", source="aclimdb", path=str(tmp_path / r)) for r in ("x", "y")}
    assert fp["x"] == fp["y"]
    (tmp_path / "y" / "train" / "1.txt").write_text("a dull film")
    assert fp["x"] != _fp("sentiment", source="aclimdb", path=str(tmp_path / "y"))


@pytest.mark.parametrize(
    "task, change",
    [
        ("forecast", {"lookback": 120}),
        ("forecast", {"step": 6}),
        ("forecast", {"delay": 12}),
        ("forecast", {"train_fraction": 0.6}),
        ("forecast", {"val_fraction": 0.2}),
        ("forecast", {"seed": 3}),
        ("forecast", {"station": "JFK"}),
        ("sentiment", {"val_fraction": 0.3}),
        ("sentiment", {"test_fraction": 0.3}),
        ("sentiment", {"val_samples": 100}),
        ("sentiment", {"seed": 1}),
        ("sentiment", {"source": "synthetic"}),
    ],
)
def test_every_validation_setting_changes_the_fingerprint(task: str, change: dict[str, Any]) -> None:
    assert _fp(task) != _fp(task, **change)


def test_settings_that_keep_the_validation_examples_keep_the_fingerprint() -> None:
    assert _fp("sentiment") == _fp("sentiment", maxlen=50, max_words=500, train_samples=200)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_data_key_is_declared_counting_or_not(name: str) -> None:
    task = TASKS[name]
    data_model = task.config.model_fields["data"].annotation
    fields = set(data_model.model_fields)  # type: ignore[union-attr]
    declared = set(task.fingerprint_keys) | set(task.fingerprint_ignored)
    assert fields == declared, (
        f"{name}: data keys {sorted(fields - declared)} are neither in fingerprint_keys nor in "
        f"fingerprint_ignored; unknown keys declared: {sorted(declared - fields)}"
    )
