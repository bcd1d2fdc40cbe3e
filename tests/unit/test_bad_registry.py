"""Bad input table, registry surface: a promotion that must not happen is refused or declined, naming the run
and what is wrong, and registers nothing. A real SQLite MLflow store and real logged models.

    python -m pytest tests/unit/test_bad_registry.py -q
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from runs_helpers import ROOT, finished_run, tiny_checkpoint
from seqlab.errors import TrackingError
from seqlab.tracking.registry import FINGERPRINT_TAG, promote


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("bad-registry")
    yield f"sqlite:///{folder}/mlflow.db", tiny_checkpoint(folder / "ckpt")


REFUSED = [
    ("unknown run", {"run": "0" * 32}, "sentiment", "MLflow run '00000000000000000000000000000000' not found"),
    ("running", {"status": "RUNNING"}, "sentiment", "has status RUNNING; only FINISHED"),
    ("failed", {"status": "FAILED"}, "sentiment", "has status FAILED; only FINISHED"),
    ("killed", {"status": "KILLED"}, "sentiment", "has status KILLED; only FINISHED"),
    ("other task", {}, "forecast", "is a 'sentiment' run, not 'forecast'"),
    ("no model", {"log_model": False}, "sentiment", "has no logged model"),
]


@pytest.mark.parametrize(("case", "run", "task", "names"), REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_promotion_names_the_run_and_the_reason(store: tuple[str, Path], case: str, run: dict[str, object],
                                                        task: str, names: str) -> None:
    uri, ckpt = store
    run_id = str(run["run"]) if "run" in run else finished_run(
        uri, ckpt, 0.5, log_model=bool(run.get("log_model", True)), status=str(run.get("status", "FINISHED")))
    name = f"refused-{case.replace(' ', '-')}"
    with pytest.raises(TrackingError) as err:
        promote(uri, task, run_id, name)
    assert names in str(err.value) and run_id in str(err.value), str(err.value)
    assert mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri).search_model_versions(f"name = '{name}'") == []


def test_a_run_without_the_metric_is_refused_naming_the_metric(store: tuple[str, Path]) -> None:
    uri, ckpt = store
    run_id = finished_run(uri, ckpt, 0.5)
    client = mlflow.MlflowClient(tracking_uri=uri)
    client.delete_tag(run_id, "seqlab.task")
    client.set_tag(run_id, "seqlab.task", "forecast")  # a forecast run must carry best_val_mae
    with pytest.raises(TrackingError, match=f"run {run_id} has no metric 'best_val_mae'"):
        promote(uri, "forecast", run_id, "no-metric")


@pytest.mark.parametrize("value", [math.inf, -math.inf], ids=["inf", "-inf"])
def test_non_finite_metrics_are_declined(store: tuple[str, Path], value: float) -> None:
    uri, ckpt = store
    p = promote(uri, "sentiment", finished_run(uri, ckpt, value), "non-finite")
    assert not p.promoted and "best_val_accuracy" in p.reason and "not a finite number" in p.reason


def test_a_champion_validated_on_other_data_is_not_replaced(store: tuple[str, Path]) -> None:
    uri, ckpt = store
    assert promote(uri, "sentiment", finished_run(uri, ckpt, 0.5), "fingerprints").promoted
    other = finished_run(uri, ckpt, 0.9)
    mlflow.MlflowClient(tracking_uri=uri).set_tag(other, FINGERPRINT_TAG, "another-split")
    p = promote(uri, "sentiment", other, "fingerprints")
    assert not p.promoted and "validated on other data" in p.reason and "another-split" in p.reason


def test_every_promotion_line_states_both_figures_and_the_true_direction(store: tuple[str, Path]) -> None:
    uri, ckpt = store
    name = "directions"
    first = promote(uri, "sentiment", finished_run(uri, ckpt, 0.5), name)
    assert first.line() == f"promoted {name} v1: val_accuracy=0.5000; the first champion"
    tie = promote(uri, "sentiment", finished_run(uri, ckpt, 0.5), name)
    # an exact tie read "beats" when forced, and "does not beat" otherwise
    assert tie.line() == (f"not promoted {name}: val_accuracy=0.5000 ties champion v1 (0.5000); only a better "
                          "model replaces the champion")
    worse = promote(uri, "sentiment", finished_run(uri, ckpt, 0.4), name, force=True)
    # --force printed "beats champion v3" for a worse model
    assert worse.promoted and worse.line() == (f"promoted {name} v2: val_accuracy=0.4000 is worse than champion v1 "
                                               "(0.5000); replaced because the promotion was forced")
    better = promote(uri, "sentiment", finished_run(uri, ckpt, 0.6), name)
    assert better.line() == f"promoted {name} v3: val_accuracy=0.6000 beats champion v2 (0.4000)"


def test_a_champion_validated_on_other_data_is_scored_on_the_candidates_data(tmp_path: Path) -> None:
    """The pipeline kept a worse champion because the two were validated on other windows; both models are
    now scored on the candidate's validation windows, each through its own preprocessing."""
    from seqlab.checkpoint import load_state
    from seqlab.tasks import get_task, load_config
    from seqlab.tracking.pyfunc import LoadedModel

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    weak_cfg, strong_cfg = ("data.lookback=24",), ("data.lookback=12",)  # other windows: other fingerprints
    weak = tiny_checkpoint(tmp_path / "weak", "forecast", (*weak_cfg, "train.max_steps_per_epoch=1", "train.lr=1e-4"))
    strong = tiny_checkpoint(tmp_path / "strong", "forecast", (*strong_cfg, "train.epochs=4",
                                                                "train.max_steps_per_epoch=10"))
    # the truth on the candidate's windows, as the registry should find it (checked so the test means something)
    cfg = load_config(ROOT / "configs" / "forecast" / "tiny.yaml", list(strong_cfg))
    models = [LoadedModel(load_state(strong)), LoadedModel(load_state(weak))]
    (mine, its), n = get_task("forecast").score_models(cfg, [(m.module, m.preprocessing) for m in models])
    assert mine < its and n > 100
    # the logged figures say the opposite: a flattering champion on its own windows, a modest candidate
    champion = finished_run(uri, weak, 0.1, "forecast", overrides=weak_cfg)
    assert promote(uri, "forecast", champion, "across").promoted
    p = promote(uri, "forecast", finished_run(uri, strong, 0.9, "forecast", overrides=strong_cfg), "across")
    assert p.promoted and p.previous_version == "1", p.reason
    assert p.line() == (
        f"promoted across v2: champion v1 was validated on other data (fingerprint "
        f"{get_task('forecast').data_fingerprint(load_config(ROOT / 'configs/forecast/tiny.yaml', list(weak_cfg)))} "
        f"vs {get_task('forecast').data_fingerprint(cfg)}), so both were scored on this run's validation data "
        f"({n} examples, each model through its own preprocessing): val_mae={mine:.4f} beats champion v1 ({its:.4f})")
    # and the other way round: the weak model does not replace the strong one, whatever its logged figure
    back = promote(uri, "forecast", finished_run(uri, weak, 0.01, "forecast", overrides=weak_cfg), "across")
    assert not back.promoted and "is worse than champion v2" in back.reason
    assert back.reason.endswith("only a better model replaces the champion")


def test_a_refusal_for_other_data_names_the_calling_commands_way_out(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    six, twelve = ("data.delay=6",), ("data.delay=12",)  # another horizon: not the same prediction at all
    assert promote(uri, "forecast", finished_run(uri, tiny_checkpoint(tmp_path / "a", "forecast", six), 0.5,
                                                 "forecast", overrides=six), "way-out").promoted
    other = finished_run(uri, tiny_checkpoint(tmp_path / "b", "forecast", twelve), 0.4, "forecast", overrides=twelve)
    p = promote(uri, "forecast", other, "way-out", force_hint="seqlab pipeline --config p.yaml --force")
    assert not p.promoted and p.version is None
    assert p.line().startswith("not promoted way-out: champion v1 was validated on other data")  # not "vNone"
    assert "cannot be scored on the same examples" in p.line()
    assert "it predicts 6 rows ahead, these targets lie 12 rows ahead" in p.line()
    assert "val_mae=0.4000 here, 0.5000 there" in p.line()
    assert p.line().endswith("to replace it anyway: seqlab pipeline --config p.yaml --force")


def test_seqlab_promote_prints_its_line_and_no_library_chatter(tmp_path: Path) -> None:
    """Every promote printed MLflow's download progress bars and its 'has no artifacts at artifact path'."""
    import os
    import subprocess
    import sys

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    run_id = finished_run(uri, tiny_checkpoint(tmp_path / "ckpt"), 0.7)
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    env.pop("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", None)
    done = subprocess.run([sys.executable, "-m", "seqlab.cli", "promote", "--task", "sentiment", "--run", run_id],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["[seqlab] promoted seqlab-sentiment v1: val_accuracy=0.7000; the first champion"]
    for chatter in ("has no artifacts at artifact path", "Downloading artifacts", "%|", "Successfully registered",
                    "Created version"):
        assert chatter not in done.stdout + done.stderr, done.stderr[-2000:]
