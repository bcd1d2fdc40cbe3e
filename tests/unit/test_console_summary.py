"""The summary after `seqlab train`: the data's baselines, and whether the model beats them."""

from __future__ import annotations

from seqlab.runtime.console import summary
from seqlab.training.driver import TrainingResult


def _result(val_mae: float, test_mae: float) -> TrainingResult:
    return TrainingResult(run_id=None, run_name="gru", metrics={"val_mae": val_mae, "epoch": 3},
                          test_metrics={"test_mae": test_mae}, checkpoint_path="/x",
                          info={"baseline.val_mae": 0.30, "baseline.test_mae": 0.40, "data.rows": 10})


def test_a_forecast_summary_says_when_the_model_loses_to_the_common_sense_baseline() -> None:
    """A GRU at 4.54 degF val MAE was worse than the 4.30 degF baseline, and nothing said so."""
    text = summary(_result(0.33, 0.30), mode="min")
    assert "[seqlab] baseline    val_mae=0.3000 (model 0.3300: 10.0% over it: NOT better than the baseline)" in text
    assert "test_mae=0.4000 (model 0.3000: 25.0% under it)" in text
    assert "data.rows" not in text


def test_a_summary_without_baselines_has_no_baseline_line() -> None:
    result = _result(0.2, 0.3)
    result.info = {}
    assert "baseline" not in summary(result, mode="min")
