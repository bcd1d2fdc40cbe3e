"""The picture sweeps: crossover finding, trials gathered into curves and grids, and the sweep files' grids."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from seqlab.errors import TrackingError
from seqlab.sweeps.search_space import grid_points
from seqlab.tracking import sweep_figures as figs
from seqlab.tracking.sweep_trials import Trial
from seqlab.sweeps.sweep_file import load_sweep

ROOT = Path(__file__).resolve().parents[2]
SENTIMENT = ROOT / "configs" / "sentiment"


def _trial(acc: float, **params: object) -> Trial:
    return Trial(run_id="r", name="t", params={k.replace("__", "."): str(v) for k, v in params.items()},
                 metrics={"best_val_accuracy": acc})


# ------------------------------------------------------------------------------------------------ crossover


def test_crossover_is_interpolated_on_a_log_scale_between_the_bracketing_sizes() -> None:
    learned = [(100, 0.50), (500, 0.55), (1000, 0.70), (5000, 0.80)]
    glove = [(100, 0.56), (500, 0.60), (1000, 0.65), (5000, 0.70)]
    cross = figs.crossover(learned, glove, "GloVe")
    assert (cross.below, cross.above) == (500, 1000)
    assert cross.size == pytest.approx(math.sqrt(500 * 1000))  # -0.05 then +0.05: half way in log(size)
    assert "707" in cross.note and "GloVe" in cross.note


def test_crossover_is_the_last_one_after_which_learned_stays_ahead() -> None:
    learned = [(100, 0.60), (200, 0.50), (500, 0.70), (1000, 0.80)]  # ahead, behind (noise), ahead for good
    glove = [(100, 0.55), (200, 0.60), (500, 0.60), (1000, 0.60)]
    cross = figs.crossover(learned, glove)
    assert (cross.below, cross.above) == (200, 500)


def test_curves_that_never_cross_say_so() -> None:
    cross = figs.crossover([(100, 0.5), (1000, 0.6)], [(100, 0.6), (1000, 0.7)], "GloVe")
    assert cross.size is None and "never cross" in cross.note


def test_learned_ahead_only_in_the_middle_is_no_crossover() -> None:
    cross = figs.crossover([(100, 0.5), (500, 0.7), (1000, 0.6)], [(100, 0.6), (500, 0.6), (1000, 0.7)])
    assert cross.size is None and "never stays ahead" in cross.note and "[500]" in cross.note


def test_learned_ahead_everywhere_has_no_crossing_size() -> None:
    cross = figs.crossover([(100, 0.7), (1000, 0.8)], [(100, 0.6), (1000, 0.7)])
    assert cross.size is None and "every size" in cross.note


def test_curves_without_a_shared_size_are_an_error() -> None:
    with pytest.raises(TrackingError, match=r"share no training size: \[100\] vs \[200\]"):
        figs.crossover([(100, 0.5)], [(200, 0.6)])


# ------------------------------------------------------------------------------------- gathering trials


def test_trials_become_one_curve_per_embedding_kind_sorted_by_size() -> None:
    trials = [
        _trial(0.70, data__train_samples=1000, model__embedding="learned", model__freeze_embedding=False),
        _trial(0.55, data__train_samples=100, model__embedding="learned", model__freeze_embedding=False),
        _trial(0.60, data__train_samples=100, model__embedding="glove", model__freeze_embedding=True),
        _trial(0.62, data__train_samples=100, model__embedding="glove", model__freeze_embedding=False),
        _trial(0.64, data__train_samples=100, model__embedding="glove", model__freeze_embedding=False),  # repeat
    ]
    curves = figs.learning_curves(trials, "best_val_accuracy")
    assert curves[figs.LEARNED] == [(100, 0.55), (1000, 0.70)]
    assert curves[figs.GLOVE_FROZEN] == [(100, 0.60)]
    assert curves[figs.GLOVE_TUNED] == [(100, pytest.approx(0.63))]  # repeats average


def test_a_trial_without_the_swept_param_is_named() -> None:
    with pytest.raises(TrackingError, match=r"no param 'data.train_samples'"):
        figs.learning_curves([_trial(0.5, model__embedding="learned")], "best_val_accuracy")


def test_trials_gather_into_a_grid_with_gaps_and_a_best_cell() -> None:
    trials = [_trial(0.80, model__embed_dim=8, data__maxlen=100), _trial(0.85, model__embed_dim=8, data__maxlen=500),
              _trial(0.88, model__embed_dim=32, data__maxlen=500)]
    widths, maxlens, grid = figs.accuracy_grid(trials, "model.embed_dim", "data.maxlen", "best_val_accuracy")
    assert (widths, maxlens) == ([8, 32], [100, 500])
    assert grid[0].tolist() == [0.80, 0.85] and np.isnan(grid[1, 0]) and grid[1, 1] == 0.88
    assert figs.best_cell(widths, maxlens, grid) == (32, 500, 0.88)
    with pytest.raises(TrackingError, match="no finished trial"):
        figs.best_cell([8], [100], np.array([[np.nan]]))


def test_split_sizes_are_read_from_the_logged_data_description() -> None:
    trial = _trial(0.5, data__val="{'count': 4000, 'positive_fraction': 0.495}", data__test="not a dict")
    assert figs.split_count(trial, "val") == 4000
    assert figs.split_count(trial, "test") is None and figs.split_count(trial, "train") is None


# ------------------------------------------------------------------------------------ the sweep files


@pytest.mark.parametrize("name", ["sweep_pretrained_vs_learned.yaml", "sweep_pretrained_vs_learned_gpu.yaml"])
def test_pretrained_vs_learned_grid_covers_the_sizes_and_freezes_only_glove(name: str) -> None:
    sweep = load_sweep(SENTIMENT / name)
    points = grid_points(sweep.cfg.space, sweep.cfg.num_samples)
    sizes = {p["data.train_samples"] for p in points}
    assert {100, 200, 500, 1000, 2000, 5000} <= sizes
    assert all(p["model.freeze_embedding"] is None for p in points if p["model.embedding"] == "learned")
    glove = [p for p in points if p["model.embedding"] == "glove"]
    assert {p["model.freeze_embedding"] for p in glove} == {True, False}
    assert len(points) == 3 * len(sizes)  # learned, GloVe frozen, GloVe fine-tuned at every size
    assert sweep.base_tree["model"]["name"] == "flatten" and sweep.base_tree["data"]["maxlen"] == 100
    assert sweep.base_tree["data"]["max_words"] == 10000


@pytest.mark.parametrize("name", ["sweep_width_maxlen.yaml", "sweep_width_maxlen_gpu.yaml"])
def test_width_maxlen_grid_crosses_widths_and_windows(name: str) -> None:
    sweep = load_sweep(SENTIMENT / name)
    points = grid_points(sweep.cfg.space, sweep.cfg.num_samples)
    widths = {p["model.embed_dim"] for p in points}
    maxlens = {p["data.maxlen"] for p in points}
    assert {8, 16, 32, 64, 128} <= widths and {50, 100, 200, 500, 1000, 1500} <= maxlens
    assert len(points) == len(widths) * len(maxlens)
    model = sweep.base_tree["model"]
    assert model["name"] == "ngram_bag" and model["ngrams"] == 1  # the mean of learned word vectors


# ------------------------------------------------------------------------------ reading a sweep from MLflow


def test_find_sweep_picks_the_newest_sweep_over_exactly_the_keys_and_its_finished_trials(tmp_path: Path) -> None:
    import json

    import mlflow

    from seqlab.tracking.sweep_trials import find_sweep, finished_trials

    c = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    exp = c.create_experiment("seqlab")

    def parent(name: str, keys: list[str], start: int) -> str:
        run = c.create_run(exp, start_time=start, run_name=name, tags={
            "seqlab.kind": "sweep", "seqlab.task": "sentiment", "seqlab.sweep": name})
        c.log_param(run.info.run_id, "sweep.space", json.dumps({k: {"grid": [1]} for k in keys}))
        return str(run.info.run_id)

    grid = parent("grid", ["data.maxlen", "model.embed_dim"], 1)
    parent("broad", ["data.maxlen", "model.embed_dim", "train.lr"], 2)  # newer, but sweeps one more key
    done = c.create_run(exp, tags={"mlflow.parentRunId": grid}, run_name="done")
    c.log_metric(done.info.run_id, "best_val_accuracy", 0.8)
    c.log_param(done.info.run_id, "data.maxlen", "100")
    c.set_terminated(done.info.run_id)
    c.create_run(exp, tags={"mlflow.parentRunId": grid}, run_name="still running")

    keys = {"data.maxlen", "model.embed_dim"}
    assert find_sweep(c, "seqlab", "sentiment", keys, exact=True).info.run_name == "grid"
    assert find_sweep(c, "seqlab", "sentiment", keys).info.run_name == "broad"  # a superset is enough
    trials = finished_trials(c, find_sweep(c, "seqlab", "sentiment", keys, exact=True), "best_val_accuracy")
    assert [(t.name, t.params, t.metrics) for t in trials] == [("done", {"data.maxlen": "100"},
                                                               {"best_val_accuracy": 0.8})]
    with pytest.raises(TrackingError, match=r"no sentiment sweep over exactly \['data.maxlen'\]"):
        find_sweep(c, "seqlab", "sentiment", {"data.maxlen"}, exact=True)
    with pytest.raises(TrackingError, match=r"sentiment sweep 'broad' swept \['data.maxlen', 'model.embed_dim', "
                       r"'train.lr'\]; this picture needs a sweep over exactly"):
        find_sweep(c, "seqlab", "sentiment", keys, sweep="broad", exact=True)
    assert find_sweep(c, "seqlab", "sentiment", keys, sweep="grid", exact=True).info.run_name == "grid"
    with pytest.raises(TrackingError, match="no MLflow experiment 'nope'"):
        find_sweep(c, "nope", "sentiment", keys)


def test_both_pictures_are_drawn_with_crossings_gaps_and_curves_that_never_cross(tmp_path: Path) -> None:
    curves = {figs.LEARNED: [(100, 0.52), (1000, 0.70)], figs.GLOVE_FROZEN: [(100, 0.58), (1000, 0.62)],
              figs.GLOVE_TUNED: [(100, 0.58), (1000, 0.75)]}
    crossings = {k: figs.crossover(curves[figs.LEARNED], c, k) for k, c in curves.items() if k != figs.LEARNED}
    assert crossings[figs.GLOVE_FROZEN].size is not None and crossings[figs.GLOVE_TUNED].size is None
    figs.draw_pretrained_vs_learned(curves, crossings, "t", tmp_path / "a.png", all_size=1000)
    grid = np.array([[0.80, 0.85], [np.nan, 0.88]])
    figs.draw_width_maxlen([8, 32], [100, 500], grid, "t", tmp_path / "b.png")
    for name in ("a.png", "b.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
