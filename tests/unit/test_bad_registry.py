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

from runs_helpers import finished_run, tiny_checkpoint
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


def test_a_refusal_for_other_data_names_the_calling_commands_way_out(store: tuple[str, Path]) -> None:
    uri, ckpt = store
    assert promote(uri, "sentiment", finished_run(uri, ckpt, 0.5), "way-out").promoted
    other = finished_run(uri, ckpt, 0.9)
    mlflow.MlflowClient(tracking_uri=uri).set_tag(other, FINGERPRINT_TAG, "another-split")
    p = promote(uri, "sentiment", other, "way-out", force_hint="seqlab pipeline --config p.yaml --force")
    assert not p.promoted and p.version is None
    assert p.line().startswith("not promoted way-out: champion v1 was validated on other data")  # not "vNone"
    assert "val_accuracy=0.9000 here and 0.5000 there" in p.line()
    assert p.line().endswith("to replace it anyway: seqlab pipeline --config p.yaml --force")
