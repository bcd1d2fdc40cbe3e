"""Sweep files: the space is checked against the config schema before any trial starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from seqlab.errors import ConfigError
from seqlab.sweeps.sweep_file import load_sweep

ROOT = Path(__file__).resolve().parents[2]
SWEEPS = sorted((ROOT / "configs").rglob("sweep*.yaml"))


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_sweep_loads(path: Path) -> None:
    sweep = load_sweep(path)
    assert sweep.task == path.parent.name and sweep.trial_keys


def _write(tmp_path: Path, **tree: object) -> Path:
    base = {"base": str(ROOT / "configs/sentiment/tiny.yaml"), "space": {"train.lr": {"loguniform": [1e-4, 1e-2]}}}
    base.update(tree)
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(base))
    return path


def test_misspelt_key_fails_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"space\.data\.maxln: unknown key; allowed here: .*maxlen"):
        load_sweep(_write(tmp_path, space={"data.maxln": {"choice": [10, 20]}}))


def test_out_of_range_values_fail_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"space\.data\.maxlen: .*greater than or equal to 1, got 0"):
        load_sweep(_write(tmp_path, space={"data.maxlen": {"choice": [0, 20]}}))


def test_empty_and_malformed_spaces(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="space is empty"):
        load_sweep(_write(tmp_path, space={}))
    with pytest.raises(ConfigError, match="give exactly one of choice, grid, uniform, loguniform, randint"):
        load_sweep(_write(tmp_path, space={"train.lr": {"logunifrom": [1e-4, 1e-2]}}))
    with pytest.raises(ConfigError, match=r"needs \[low, high\] numbers with low < high"):
        load_sweep(_write(tmp_path, space={"train.lr": {"uniform": [0.1, 0.01]}}))
    with pytest.raises(ConfigError, match="cannot take grid domains"):
        load_sweep(_write(tmp_path, searcher="optuna", space={"train.lr": {"grid": [0.1, 0.01]}}))
    with pytest.raises(ConfigError, match="num_samples"):
        load_sweep(_write(tmp_path, num_samples=0))
    with pytest.raises(ConfigError, match="sweep.*extra|schedular"):
        load_sweep(_write(tmp_path, schedular="asha"))


def test_a_space_with_no_valid_combination_is_refused(tmp_path: Path) -> None:
    # GloVe needs 50-d vectors; the tiny base has embed_dim 8: every combination is invalid.
    with pytest.raises(ConfigError, match="none of its 1 combinations is a valid config"):
        load_sweep(_write(tmp_path, space={"model.embedding": {"choice": ["glove"]}}))


def test_base_not_found(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="base config 'nope.yaml' not found"):
        load_sweep(_write(tmp_path, base="nope.yaml"))


def test_trial_data_cache_key_is_a_valid_config_for_glove() -> None:
    import json

    from seqlab.tasks import load_config, validate_config
    from seqlab.sweeps.driver import _data_key

    cfg = load_config(None, {"task": "sentiment", "model.embedding": "glove", "model.embed_dim": 50})
    assert validate_config(json.loads(_data_key(cfg))).model.embed_dim == 50


def test_an_unnamed_sweep_is_named_after_its_file(tmp_path: Path) -> None:
    """Every sweep was named sweep-<task>-<time> whatever its file: sweeps could not be told apart in MLflow."""
    from seqlab.config import is_plain_name
    from seqlab.sweeps.driver import default_sweep_name

    sweep = load_sweep(ROOT / "configs/sentiment/sweep_width_maxlen.yaml")
    name = default_sweep_name(sweep, sweep.task)
    assert name.startswith("sentiment-sweep_width_maxlen-") and is_plain_name(name)
    other = default_sweep_name(load_sweep(ROOT / "configs/sentiment/sweep_pretrained_vs_learned.yaml"), "sentiment")
    assert other.startswith("sentiment-sweep_pretrained_vs_learned-")
