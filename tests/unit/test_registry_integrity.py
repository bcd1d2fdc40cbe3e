"""The registry never crowns a wrong champion: non-finite metrics rank worst, concurrent promotions converge.

A real SQLite MLflow store (one per module: creating its tables is the slow part) and real logged models.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from runs_helpers import finished_run, tiny_checkpoint
from seqlab.tracking.registry import CHAMPION, FINGERPRINT_TAG, PREVIOUS, promote
from seqlab.tasks import get_task
from seqlab.sweeps.driver import best_trial


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{folder}/mlflow.db"
    yield uri, tiny_checkpoint(folder / "ckpt")


@pytest.mark.parametrize("mode_task", ["sentiment", "forecast"])
def test_non_finite_values_rank_worst(mode_task: str) -> None:
    task = get_task(mode_task)
    for bad in (math.nan, math.inf, -math.inf):
        assert not task.is_better(bad, None), f"{bad} beat nothing"
        assert task.is_better(0.5, bad), f"0.5 did not beat {bad}"
        assert not task.is_better(bad, 0.5)
    assert task.is_better(0.5, None)


def test_tune_best_trial_skips_nan() -> None:
    task = get_task("forecast")  # mode min: NaN compares False both ways, so order once decided the winner
    trials = [{"trial": "a", "best_val_mae": math.nan}, {"trial": "b", "best_val_mae": 0.9},
              {"trial": "c", "best_val_mae": 0.4}]
    best = best_trial(trials, task)
    assert best is not None and best["trial"] == "c"
    assert best_trial([{"trial": "a", "best_val_mae": math.nan}], task) is None


def test_nan_candidate_is_never_promoted_even_forced(store: tuple[str, Path]) -> None:
    uri, ckpt = store
    run_id = finished_run(uri, ckpt, math.nan)
    for force in (False, True):
        p = promote(uri, "sentiment", run_id, "nan-candidate", force=force)
        assert not p.promoted and "not a finite number" in p.reason
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert client.search_model_versions("name = 'nan-candidate'") == []


def test_nan_champion_does_not_block_a_real_model(store: tuple[str, Path]) -> None:
    uri, ckpt = store
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    # a champion with a NaN metric, as an older seqlab could register it
    legacy = finished_run(uri, ckpt, 0.5)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    fingerprint = client.get_run(legacy).data.tags[FINGERPRINT_TAG]
    v = mlflow.register_model(f"runs:/{legacy}/model", "nan-champion",
                              tags={"seqlab.metric_value": "nan", FINGERPRINT_TAG: fingerprint})
    client.set_registered_model_alias("nan-champion", CHAMPION, v.version)

    p = promote(uri, "sentiment", finished_run(uri, ckpt, 0.6), "nan-champion")
    assert p.promoted, p.reason
    assert str(client.get_model_version_by_alias("nan-champion", CHAMPION).version) == p.version == "2"


def test_concurrent_promotions_leave_the_best_champion_and_a_right_previous(store: tuple[str, Path]) -> None:
    uri, ckpt = store
    runs = {value: finished_run(uri, ckpt, value) for value in (0.5, 0.6, 0.7)}
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    for round_ in range(3):
        name = f"race-{round_}"
        barrier = threading.Barrier(len(runs))
        errors: list[BaseException] = []

        def promoter(run_id: str) -> None:
            barrier.wait()  # all read the (absent) champion at once, as parallel pipeline steps would
            try:
                promote(uri, "sentiment", run_id, name)
            except BaseException as exc:  # recorded: a thread must not die silently
                errors.append(exc)

        threads = [threading.Thread(target=promoter, args=(r,)) for r in runs.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        versions = sorted(client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version))
        values = [float(v.tags["seqlab.metric_value"]) for v in versions]
        # each registration beat the champion of its moment: values rise with the version number
        assert values == sorted(set(values)) and values[-1] == 0.7, values
        champion = client.get_model_version_by_alias(name, CHAMPION)
        assert float(champion.tags["seqlab.metric_value"]) == 0.7 and champion.run_id == runs[0.7]
        if len(versions) > 1:  # previous is the champion the winner replaced
            assert str(client.get_model_version_by_alias(name, PREVIOUS).version) == str(versions[-2].version)


def test_a_champion_that_cannot_be_read_stops_the_promotion_before_any_write(tmp_path: Path) -> None:
    # A store that fails to answer the champion read (here its alias table is gone) must not be taken for a
    # registry without a champion: that would register and crown the candidate without a comparison.
    import sqlite3

    from seqlab.errors import TrackingError

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    ckpt = tiny_checkpoint(tmp_path / "ckpt")
    assert promote(uri, "sentiment", finished_run(uri, ckpt, 0.7), "unreadable").promoted  # v1, champion
    candidate = finished_run(uri, ckpt, 0.6)  # worse: it must never be crowned
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        db.execute("DROP TABLE registered_model_aliases")
    with pytest.raises(TrackingError, match="unreadable: could not read its 'champion' alias .*promote again"):
        promote(uri, "sentiment", candidate, "unreadable")
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    versions = client.search_model_versions("name = 'unreadable'")
    assert [str(v.version) for v in versions] == ["1"]  # nothing registered on the way
