"""Temperature forecasting: a window of recent weather rows -> the temperature ``delay`` rows later.

The series is normalized with statistics of the training rows only; windows are start indices into that one
normalized array. ``preprocessing`` carries features, target, normalization, lookback/step/delay and the row
frequency, so raw weather rows can be turned into a model input (and the answer back into degrees).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from seqlab.config import ForecastConfig
from seqlab.data.calendar import calendar_columns, calendar_features
from seqlab.data.weather import cleaning_info, prepare_series
from seqlab.errors import DataError
from seqlab.models.series import build_series_model
from seqlab.tasks.base import Prepared, Task

TIME_COLUMN = "time"


class ForecastTask(Task):
    name = "forecast"
    metric = "val_mae"
    mode = "min"

    def prepare(self, cfg: ForecastConfig) -> Prepared:
        s = prepare_series(cfg.data)
        norm = s.normalizer.to_dict()
        freq_s = s.series.interval_s or _row_frequency_s(s.series.frame.index)
        preprocessing = {
            "features": list(s.features),
            "target": s.target,
            "target_idx": int(s.target_idx),
            "normalizer": norm,
            "lookback": cfg.data.lookback,
            "step": cfg.data.step,
            "delay": cfg.data.delay,
            "freq_s": freq_s,
            "unit": s.series.unit,
            "calendar": list(cfg.data.calendar),
            # what a prediction request may send per feature: the training range plus a margin, within the
            # cleaning rules (seqlab.data.rows.parse_rows refuses anything outside)
            "bounds": {name: [lo, hi] for name, (lo, hi) in s.feature_bounds.items()},
        }
        info = {
            "data.origin": s.series.source,
            "data.rows": int(len(s.series.frame)),
            "data.gaps_filled": int(s.series.gaps_filled),
            **cleaning_info(s.series),  # values removed per column, long gaps
            "data.train_windows": len(s.train),
            "data.val_windows": len(s.val),
            "data.test_windows": len(s.test),
            "baseline.val_mae": float(s.baseline_mae_norm),
            "baseline.val_mae_degrees": float(s.baseline_mae_degrees),
            "baseline.test_mae": float(s.test_baseline_mae_norm),
            "baseline.test_mae_degrees": float(s.test_baseline_mae_degrees),
        }
        return Prepared(train=s.train, val=s.val, test=s.test, preprocessing=preprocessing, info=info)

    def build_model(
        self, cfg: ForecastConfig, preprocessing: dict[str, Any], embedding_matrix: np.ndarray | None = None
    ) -> nn.Module:
        steps = len(_offsets(preprocessing))
        return build_series_model(
            cfg.model, window_steps=steps, num_features=_num_columns(preprocessing),
            target_idx=int(preprocessing["target_idx"]),
        )

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.l1_loss(out, y)  # the chapter trains on MAE

    def metric_sums(self, out: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        return {"abs_err": float((out - y).abs().sum())}

    def finish_metrics(self, sums: dict[str, float], count: int, preprocessing: dict[str, Any]) -> dict[str, float]:
        mae = sums["abs_err"] / max(count, 1)
        std = float(preprocessing["normalizer"]["std"][preprocessing["target_idx"]])
        return {"loss": mae, "mae": mae, "mae_degrees": mae * std}

    def predictor(self, module: nn.Module, preprocessing: dict[str, Any]) -> Callable[[Any], list[dict[str, Any]]]:
        features = list(preprocessing["features"])
        mean = np.asarray(preprocessing["normalizer"]["mean"], dtype=np.float32)
        std = np.asarray(preprocessing["normalizer"]["std"], dtype=np.float32)
        t = int(preprocessing["target_idx"])
        lookback, delay = int(preprocessing["lookback"]), int(preprocessing["delay"])
        freq = pd.Timedelta(seconds=float(preprocessing["freq_s"]))
        module.eval()

        def predict(raw: Any) -> list[dict[str, Any]]:
            times, values = rows_to_window(raw, features, lookback)
            times_s = np.array([round(ts.timestamp()) for ts in times], dtype=np.int64)
            x = window_features(times_s, values, preprocessing)
            with torch.inference_mode():
                y = float(module(torch.from_numpy(x[None].astype(np.float32)))[0])
            last = times[-1]
            return [{
                "prediction": y * float(std[t]) + float(mean[t]),
                "unit": preprocessing["unit"],
                "target": preprocessing["target"],
                "last_time": last.isoformat(),
                "target_time": (last + delay * freq).isoformat(),
            }]

        return predict


def window_features(times_s: np.ndarray, values: np.ndarray, preprocessing: dict[str, Any]) -> np.ndarray:
    """Raw rows in time order -> the model's input for the window that ends at the last row.

    The same columns as training: the features normalized with the training statistics, then, when the
    preprocessing lists ``calendar`` cycles, the calendar columns of each kept row's time (:mod:`seqlab.data.calendar`).

    Args:
        times_s: int64 epoch seconds (UTC) of the last rows, ``len(times_s) >= lookback``; the last entry
            is the time of ``values``' last row.
        values: ``(rows, features)`` raw feature values in training feature order, ``rows >= lookback``.
        preprocessing: the model's saved preprocessing (features, normalizer, lookback, step, calendar).

    Returns:
        float32 ``(window_steps, columns)``: rows ``-lookback + step, ..., -step, last`` of the window.

    Raises:
        DataError: too few rows or times, or the wrong number of feature columns.
    """
    lookback = int(preprocessing["lookback"])
    n_features = len(preprocessing["features"])
    vals = np.asarray(values, dtype=np.float64)
    times = np.asarray(times_s, dtype=np.int64)
    if vals.ndim != 2 or vals.shape[1] != n_features or len(vals) < lookback or len(times) < lookback:
        raise DataError(
            f"window: need at least {lookback} rows of {n_features} features and as many times, got values "
            f"of shape {vals.shape} and {len(times)} times"
        )
    offsets = _offsets(preprocessing)
    mean = np.asarray(preprocessing["normalizer"]["mean"], dtype=np.float64)
    std = np.asarray(preprocessing["normalizer"]["std"], dtype=np.float64)
    x = ((vals[len(vals) - 1 + offsets] - mean) / std).astype(np.float32)
    cycles = preprocessing.get("calendar", [])  # models saved before calendar columns existed lack the key
    if cycles:
        x = np.concatenate([x, calendar_features(times[len(times) - 1 + offsets], cycles)], axis=1)
    return x


def _num_columns(preprocessing: dict[str, Any]) -> int:
    """Model input columns: the features, plus the calendar columns when the preprocessing adds them."""
    return len(preprocessing["features"]) + len(calendar_columns(preprocessing.get("calendar", [])))


def _offsets(preprocessing: dict[str, Any]) -> np.ndarray:
    """Row offsets of one window relative to its last row: ..., -2*step, -step, 0 (lookback rows span)."""
    lookback, step = int(preprocessing["lookback"]), int(preprocessing["step"])
    return -np.arange(0, lookback, step)[::-1]


def _row_frequency_s(index: pd.DatetimeIndex) -> float:
    if len(index) < 2:
        return 3600.0
    return float(pd.Series(index).diff().median().total_seconds())


def rows_to_window(raw: Any, features: list[str], lookback: int) -> tuple[list[pd.Timestamp], np.ndarray]:
    """Validate raw weather rows and return their times and values in time order.

    Args:
        raw: a DataFrame or a list of mappings with a ``time`` field and every feature.
        features: the training features, in model order.
        lookback: the number of rows the model needs.

    Raises:
        DataError: naming the field and what is allowed (missing, NaN, non-numeric, duplicate or
            unparseable times, too few rows).
    """
    frame = raw if isinstance(raw, pd.DataFrame) else pd.DataFrame(list(raw) if raw is not None else [])
    if frame.empty:
        raise DataError(f"rows: need at least {lookback} weather rows, got 0")
    missing = [c for c in [TIME_COLUMN, *features] if c not in frame.columns]
    if missing:
        raise DataError(f"rows: missing fields {missing}; every row needs '{TIME_COLUMN}' and {features}")
    times = pd.to_datetime(frame[TIME_COLUMN], errors="coerce", utc=True, format="mixed")
    bad = np.flatnonzero(times.isna().to_numpy())
    if bad.size:
        raise DataError(f"rows[{bad[0]}].{TIME_COLUMN}: unparseable time {frame[TIME_COLUMN].iloc[bad[0]]!r}; use ISO 8601")
    dup = times.duplicated(keep=False).to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise DataError(f"rows[{i}].{TIME_COLUMN}: duplicate time {times.iloc[i].isoformat()}; each row needs its own time")
    values = np.empty((len(frame), len(features)), dtype=np.float64)
    for j, name in enumerate(features):
        col = pd.to_numeric(frame[name], errors="coerce")
        bad = np.flatnonzero(col.isna().to_numpy())
        if bad.size:
            raise DataError(
                f"rows[{bad[0]}].{name}: expected a number, got {frame[name].iloc[bad[0]]!r} (missing, NaN and text are not allowed)"
            )
        values[:, j] = col.to_numpy(dtype=np.float64)
    if len(frame) < lookback:
        raise DataError(f"rows: need at least {lookback} weather rows (the model's lookback), got {len(frame)}")
    order = np.argsort(times.to_numpy(), kind="stable")
    return [times.iloc[i] for i in order[-lookback:]], values[order]
