"""Calendar features, and the forecast window a prediction builds from raw rows matching training's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqlab.models.series import SeriesModelConfig
from seqlab.tasks import load_config
from seqlab.data.calendar import calendar_columns, calendar_features, index_seconds
from seqlab.data.synthetic import synthetic_weather
from seqlab.errors import DataError
from seqlab.models.series import LastValueResidual, build_series_model
from seqlab.tasks import get_task
from seqlab.tasks.forecast import window_features


def test_phases_of_day_and_year() -> None:
    times = index_seconds(np.array(["2013-01-01T00:00", "2013-01-01T06:00", "2013-07-02T12:00",
                                    "2016-12-31T18:00", "2017-01-01T00:00"], dtype="datetime64[s]"))
    x = calendar_features(times)
    assert x.shape == (5, 4) and x.dtype == np.float32 and calendar_columns() == ["day_sin", "day_cos", "year_sin", "year_cos"]
    np.testing.assert_allclose(x[0], [0, 1, 0, 1], atol=1e-6)  # midnight, 1 January
    np.testing.assert_allclose(x[1, :2], [1, 0], atol=1e-6)  # 06:00 is a quarter of the day
    np.testing.assert_allclose(x[2, 2:], [0, -1], atol=1e-6)  # 2 July 12:00 is half of 2013 (365 days)
    assert x[3, 2] < 0 and x[3, 3] > 0.99  # the last hours of a leap year lie next to...
    np.testing.assert_allclose(x[4, 2:], [0, 1], atol=1e-6)  # ...1 January, phase 0 again
    np.testing.assert_allclose(calendar_features(times, ["year"]), x[:, 2:])


def test_bad_times_and_cycles_are_named() -> None:
    with pytest.raises(ValueError, match="1-d integer array of epoch seconds"):
        calendar_features(np.array([1.5]))
    with pytest.raises(ValueError, match=r"unknown calendar cycles \['week'\]"):
        calendar_features(np.array([0]), ["week"])


@pytest.mark.parametrize("calendar", [[], ["day"], ["day", "year"]])
def test_window_from_raw_rows_equals_the_training_window(calendar: list[str]) -> None:
    # Serving builds its input from raw rows with window_features: it must be the window training saw.
    cfg = load_config(None, {"task": "forecast", "data.source": "synthetic", "data.lookback": 48, "data.step": 2,
                             "data.delay": 6, "data.calendar": calendar, "model.hidden": 4})
    task = get_task("forecast")
    prepared = task.prepare(cfg)
    raw = synthetic_weather(n_rows=2000, seed=cfg.data.seed)
    features = prepared.preprocessing["features"]
    sampler = prepared.val
    k = 17
    last_row = int(sampler.rows[k] + sampler.offsets[-1])  # the window's last row in the series
    rows = raw.iloc[last_row - 60 : last_row + 1]  # more rows than the lookback: the last ones count
    times_s = index_seconds(rows["time"].to_numpy())
    x = window_features(times_s, rows[features].to_numpy(), prepared.preprocessing)
    expected, _ = sampler.batch(np.array([k]))
    assert x.shape == expected[0].shape == (24, len(features) + 2 * len(calendar))
    np.testing.assert_allclose(x, expected[0], atol=1e-5)
    module = task.build_model(cfg, prepared.preprocessing)
    expected_y = float(module.eval()(torch.from_numpy(x[None]))[0])
    records = [{**r, "time": r["time"].isoformat()} for r in rows.to_dict("records")]
    request = task.pyfunc_request(records[::-1])  # any row order
    answer = task.predictor(module, prepared.preprocessing)([request], task.Options())[0]
    assert isinstance(answer, dict), answer
    normalizer = prepared.preprocessing["normalizer"]
    t = prepared.preprocessing["target_idx"]
    assert answer["prediction"] == pytest.approx(expected_y * normalizer["std"][t] + normalizer["mean"][t], abs=1e-4)
    with pytest.raises(DataError, match="need at least 48 rows of"):
        window_features(times_s[-10:], rows[features].to_numpy()[-10:], prepared.preprocessing)


def test_residual_model_starts_from_the_last_value() -> None:
    cfg = SeriesModelConfig(name="gru", hidden=4, residual=True)
    model = build_series_model(cfg, window_steps=10, num_features=3, target_idx=1)
    assert isinstance(model, LastValueResidual)
    for p in model.inner.parameters():
        torch.nn.init.zeros_(p)  # an inner model that predicts no change: the common-sense baseline
    x = torch.randn(5, 10, 3)
    torch.testing.assert_close(model(x), x[:, -1, 1])
    assert not isinstance(build_series_model(SeriesModelConfig(name="gru", hidden=4), 10, 3), LastValueResidual)
