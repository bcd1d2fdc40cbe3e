"""Conditional search spaces: every searcher draws only valid trials; bad spaces fail before launch, naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from seqlab.config import apply_overrides
from seqlab.tasks import validate_config
from seqlab.errors import ConfigError
from seqlab.sweeps.search_space import (
    DefineByRun,
    active_overrides,
    grid_points,
    random_points,
    searcher_points,
    tune_param_space,
)
from seqlab.sweeps.sweep_file import load_sweep

ROOT = Path(__file__).resolve().parents[2]

# The shape of configs/sentiment/sweep.yaml on the tiny base: learned + frozen and GloVe with a width other
# than 50 are invalid configs, so without the conditions a quarter of all draws would fail.
SPACE: dict[str, Any] = {
    "model.embedding": {"choice": ["learned", "glove"]},
    "model.embed_dim": {"choice": [8, 16, 64], "when": {"model.embedding": "learned"}},
    "model.freeze_embedding": {"choice": [False, True], "when": {"model.embedding": "glove"}},
    "model.name": {"choice": ["flatten", "conv1d"]},
    "train.lr": {"loguniform": [1e-4, 1e-2]},
}


def _sweep(tmp_path: Path, space: dict[str, Any], **extra: Any) -> Path:
    tree = {"base": str(ROOT / "configs/sentiment/tiny.yaml"), "overrides": {"model.embed_dim": 50},
            "space": space, **extra}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(tree, sort_keys=False))
    return path


def _assert_valid(sample: dict[str, Any], base_tree: dict[str, Any]) -> None:
    learned = sample["model.embedding"] == "learned"
    assert (sample["model.embed_dim"] is not None) == learned, sample  # inactive keys show as None
    assert (sample["model.freeze_embedding"] is not None) == (not learned), sample
    cfg = validate_config(apply_overrides(base_tree, active_overrides(sample, SPACE)), "sample")
    assert cfg.model.embed_dim == (sample["model.embed_dim"] if learned else 50)


def test_random_searcher_never_draws_an_invalid_trial(tmp_path: Path) -> None:
    sweep = load_sweep(_sweep(tmp_path, SPACE))
    samples = random_points(sweep.cfg.space, 60, seed=0)
    for sample in samples:
        _assert_valid(sample, sweep.base_tree)
    assert {s["model.embed_dim"] for s in samples} == {8, 16, 64, None}
    assert {s["model.freeze_embedding"] for s in samples} == {False, True, None}
    lrs = [s["train.lr"] for s in samples]
    assert all(1e-4 <= lr <= 1e-2 for lr in lrs) and len(set(lrs)) == 60
    assert random_points(sweep.cfg.space, 60, seed=0) == samples  # seeded: the same sweep draws the same trials
    assert random_points(sweep.cfg.space, 60, seed=1) != samples


def test_a_conditional_random_space_leaves_tune_no_function_to_resolve_on_resume(tmp_path: Path) -> None:
    """Tune keeps a ``sample_from`` function as a placeholder in each trial's saved config; a resumed sweep
    passed it on as ``('__fn_ph', <hash>)`` (8 of 24 trials failed). Every trial is a plain point instead."""
    from ray.tune.search.sample import Domain, Function

    sweep = load_sweep(_sweep(tmp_path, SPACE))
    space = tune_param_space(sweep.cfg.space, "random", seed=0)
    assert set(space) == set(SPACE) and not any(isinstance(d, Function) for d in space.values())
    points = searcher_points(sweep.cfg.space, "random", 5, seed=0)
    assert points == random_points(sweep.cfg.space, 5, seed=0)
    assert all(not isinstance(v, Domain) and not callable(v) for p in points for v in p.values())
    # without conditional keys Tune samples its own domains, as before
    plain = {k: v for k, v in SPACE.items() if "when" not in v}
    assert searcher_points(plain, "random", 5, seed=0) is None
    assert all(isinstance(d, Domain) for d in tune_param_space(plain, "random", seed=0).values())


def test_grid_searcher_runs_each_distinct_valid_combination(tmp_path: Path) -> None:
    space = {k: v for k, v in SPACE.items() if k != "train.lr"}
    sweep = load_sweep(_sweep(tmp_path, space, searcher="grid"))
    points = grid_points(sweep.cfg.space)
    # (3 learned widths + 2 GloVe freeze settings) x 2 models; a plain grid would give 2 x 3 x 2 x 2 = 24.
    assert len(points) == 10 and len({tuple(p.items()) for p in points}) == 10
    for point in points:
        _assert_valid({**point, "train.lr": 1e-3}, sweep.base_tree)
    assert len(grid_points(sweep.cfg.space, repeats=2)) == 20


def test_optuna_searcher_never_draws_an_invalid_trial(tmp_path: Path) -> None:
    import random

    from ray.tune.search.optuna import OptunaSearch

    sweep = load_sweep(_sweep(tmp_path, SPACE, searcher="optuna"))
    searcher = OptunaSearch(space=DefineByRun(sweep.cfg.space), metric="val_accuracy", mode="max", seed=0)
    rng = random.Random(0)
    seen = set()
    for i in range(40):  # past Optuna's 10 random start-up trials, into TPE
        sample = searcher.suggest(str(i))
        _assert_valid(sample, sweep.base_tree)
        seen.add((sample["model.embedding"], sample["model.embed_dim"], sample["model.freeze_embedding"]))
        searcher.on_trial_complete(str(i), {"val_accuracy": rng.random()})
    assert any(s[0] == "learned" for s in seen) and any(s[0] == "glove" for s in seen)


def test_an_invalid_combination_is_refused_before_launch_naming_the_keys(tmp_path: Path) -> None:
    unconditional = {k: {kind: v for kind, v in spec.items() if kind != "when"} for k, spec in SPACE.items()}
    with pytest.raises(ConfigError, match=r"combinations are invalid configs(.|\n)*model\.freeze_embedding(.|\n)*when"):
        load_sweep(_sweep(tmp_path, unconditional))


@pytest.mark.parametrize(
    ("key", "spec", "message"),
    [
        ("model.embed_dim", {"choice": [0, 8], "when": {"model.embedding": "learned"}},
         r"space\.model\.embed_dim: .*greater than or equal to 1, got 0"),
        ("model.embed_dim", {"choice": [8], "when": {"model.embeding": "learned"}},
         r"space\.model\.embed_dim\.when\.model\.embeding: not another key of this space"),
        ("model.embed_dim", {"choice": [8], "when": {"model.embedding": "lerned"}},
         r"space\.model\.embed_dim\.when\.model\.embedding: \['lerned'\] is not among .*\['learned', 'glove'\]"),
        ("model.embed_dim", {"choice": [8], "when": {"train.lr": 0.001}},
         r"space\.model\.embed_dim\.when\.train\.lr: a condition must name an unconditional choice or grid key"),
        ("model.embed_dim", {"choice": [8], "when": []},
         r"space\.model\.embed_dim\.when: needs a mapping"),
        ("model.embed_dm", {"choice": [8], "when": {"model.embedding": "learned"}},
         r"space\.model\.embed_dm: unknown key"),
    ],
)
def test_bad_conditional_keys_are_named(tmp_path: Path, key: str, spec: dict[str, Any], message: str) -> None:
    space = {"model.embedding": SPACE["model.embedding"], "train.lr": SPACE["train.lr"], key: spec}
    with pytest.raises(ConfigError, match=message):
        load_sweep(_sweep(tmp_path, space))


def test_inactive_keys_keep_the_base_value() -> None:
    sample = {"model.embedding": "glove", "model.embed_dim": None, "model.freeze_embedding": True, "extra": 1}
    assert active_overrides(sample, SPACE) == {"model.embedding": "glove", "model.freeze_embedding": True}


def test_a_large_space_is_checked_pair_by_pair(tmp_path: Path) -> None:
    # 2 x 2 x 25 x 25 = 2,500 combinations: more than are listed one by one, so every pair of keys is checked.
    space = {"model.embedding": {"choice": ["learned", "glove"]}, "model.embed_dim": {"choice": [8, 50]},
             "data.maxlen": {"choice": list(range(8, 33))}, "train.batch_size": {"choice": list(range(2, 27))}}
    with pytest.raises(ConfigError, match=r"'model.embedding': 'glove', 'model.embed_dim': 8"):
        load_sweep(_sweep(tmp_path, space))
    space["model.embed_dim"]["when"] = {"model.embedding": "learned"}
    assert load_sweep(_sweep(tmp_path, space)).trial_keys
