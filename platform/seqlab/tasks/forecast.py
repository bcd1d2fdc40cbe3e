"""Temperature forecasting: a window of recent weather rows -> the temperature ``delay`` rows later.

The series is normalized with statistics of the training rows only; windows are start indices into that one
normalized array. ``preprocessing`` carries features, target, normalization, lookback/step/delay and the row
frequency, so raw weather rows can be turned into a model input (and the answer back into degrees).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from seqlab.config import TaskConfig
from seqlab.data.calendar import calendar_columns, calendar_features, index_seconds
from seqlab.data.rows import TIME_FIELD, RowSpec, iso_utc, parse_rows
from seqlab.data.weather import SeriesDataConfig, cleaning_info, describe_series, prepare_series
from seqlab.errors import DataError
from seqlab.models.series import SeriesModelConfig, build_series_model
from seqlab.tasks.base import BatchPredictor, Prepared, Task, finite, validate_request

# ------------------------------------------------------------------------------------------------ config


class ForecastConfig(TaskConfig):
    task: Literal["forecast"]
    data: SeriesDataConfig = SeriesDataConfig()
    model: SeriesModelConfig = SeriesModelConfig()


# ------------------------------------------------------------------------------------------- HTTP models


class ForecastRequest(BaseModel):
    """The body of ``POST /predict``. Rows stay plain mappings here: ``seqlab.data.rows.parse_rows`` checks
    them strictly and fast against the loaded model; the OpenAPI schema states that contract per model
    (``ForecastTask.request_schema``)."""

    model_config = ConfigDict(extra="forbid")

    rows: list[dict[str, Any]] = Field(
        min_length=1,
        description="weather rows in any order, each with `time` (ISO 8601) and every feature in /info; "
        "at least `lookback` rows, `freq_s` apart",
    )


class ForecastResponse(BaseModel):
    model: str = Field(description="registered model name that answered")
    version: str = Field(description="its registry version")
    prediction: float = Field(description="the target `delay` rows after the last row")
    unit: str
    target: str = Field(description="the predicted column")
    last_time: str = Field(description="time of the latest row sent (UTC, ISO 8601)")
    target_time: str = Field(description="time the prediction is for (UTC, ISO 8601)")
    delay: int = Field(description="rows between last_time and target_time")


class ForecastOptions(BaseModel):
    """What a running replica may change (``user_config.options``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_rows: int = Field(default=10_000, ge=1)  # weather rows per request


# ------------------------------------------------------------------------------------------------- task


class ForecastTask(Task):
    name = "forecast"
    metric = "val_mae"
    mode = "min"
    config = ForecastConfig
    # what decides the validation windows: the series (file content, station, target, resampling) and how
    # windows and splits are cut from it
    fingerprint_keys = ("source", "path", "time_column", "station", "target", "features", "lookback", "step",
                        "delay", "train_fraction", "val_fraction", "resample", "seed", "clean", "max_gap_rows")
    # input columns and prediction-time bounds: the same validation windows and targets either way
    fingerprint_ignored = ("calendar", "bounds_margin")
    Request = ForecastRequest
    Response = ForecastResponse
    Options = ForecastOptions
    summary = "The target `delay` rows after the latest of the weather rows sent"

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
            "data.rows": len(s.series.frame),
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

    def describe(self, cfg: ForecastConfig) -> dict[str, Any]:
        s = prepare_series(cfg.data)
        frame = s.series.frame
        train_end, val_end = s.bounds
        stats = frame.iloc[:train_end].describe().T[["mean", "std", "min", "max"]].round(2)
        unit = s.series.unit or "target units"
        return {
            "origin": s.series.source,
            "rows": len(frame),
            "span": f"{frame.index[0]} .. {frame.index[-1]}",
            "gaps_filled": s.series.gaps_filled,
            "cleaning": describe_series(s.series),
            "target": f"{s.target} ({unit})",
            "splits": f"train rows 0..{train_end - 1}, val {train_end}..{val_end - 1}, test {val_end}..{len(frame) - 1}",
            "windows": f"lookback {cfg.data.lookback}, step {cfg.data.step}, delay {cfg.data.delay}: "
                       f"train {len(s.train)}, val {len(s.val)}, test {len(s.test)}",
            "features (train rows)": {name: dict(row) for name, row in stats.iterrows()},
            "common-sense baseline MAE (val)": f"{s.baseline_mae_norm:.4f} normalized = {s.baseline_mae_degrees:.2f} {unit}",
            "common-sense baseline MAE (test)": f"{s.test_baseline_mae_norm:.4f} normalized = "
                                                f"{s.test_baseline_mae_degrees:.2f} {unit}",
        }

    def score_models(self, cfg: ForecastConfig,
                     models: Sequence[tuple[nn.Module, dict[str, Any]]]) -> tuple[list[float], int]:
        """MAE of each model on the validation targets of ``cfg``, each model reading the raw rows before each
        target through its own features, normalization, lookback, step and calendar columns
        (``window_features``, as a request's rows are read), in ``models[0]``'s normalized units.

        A model may read history rows from before the validation split (as a request may send any past
        rows); it must predict the same column the same number of rows ahead, on rows of the same interval.
        """
        s = prepare_series(cfg.data)
        frame = s.series.frame
        freq_s = s.series.interval_s or _row_frequency_s(frame.index)
        times = index_seconds(frame.index)
        targets = s.val.rows + s.val.delay  # the rows whose values the validation windows predict
        truth = frame[s.target].to_numpy(dtype=np.float64)[targets]
        scale = float(models[0][1]["normalizer"]["std"][int(models[0][1]["target_idx"])])
        values = []
        for k, (module, p) in enumerate(models):
            who = "the candidate" if k == 0 else f"model {k}"
            problems = _cannot_read(p, s.target, cfg.data.delay, freq_s, list(frame.columns))
            lookback = int(p["lookback"])
            first_last = int(targets[0]) - int(p["delay"])
            if not problems and first_last - lookback + 1 < 0:
                problems.append(f"its window of {lookback} rows does not fit before the first validation target "
                                f"(row {int(targets[0])} of this series)")
            if problems:
                raise DataError(f"{who} cannot be scored on these validation windows: " + "; ".join(problems))
            rows = frame[p["features"]].to_numpy(dtype=np.float64)
            t = int(p["target_idx"])
            mean, std = float(p["normalizer"]["mean"][t]), float(p["normalizer"]["std"][t])
            module.eval()
            errors = []
            for start in range(0, len(targets), 512):
                spans = [slice(last - lookback + 1, last + 1) for last in targets[start:start + 512] - int(p["delay"])]
                x = np.stack([window_features(times[span], rows[span], p) for span in spans])
                with torch.inference_mode():
                    out = module(torch.from_numpy(x)).reshape(-1).numpy().astype(np.float64)
                errors.append(np.abs(out * std + mean - truth[start:start + 512]))  # in the target's unit
            values.append(float(np.concatenate(errors).mean()) / scale)
        return values, len(targets)

    def predictor(self, module: nn.Module, preprocessing: dict[str, Any]) -> ForecastPredictor:
        return ForecastPredictor(module, preprocessing)

    def too_large(self, request: ForecastRequest, options: ForecastOptions) -> str | None:
        if len(request.rows) > options.max_rows:
            return f"rows: {len(request.rows)} rows sent; at most {options.max_rows} per request"
        return None

    def pyfunc_request(self, model_input: Any) -> ForecastRequest:
        """A DataFrame of weather rows (``time`` and every feature) or a list of row mappings."""
        rows = model_input
        if isinstance(rows, pd.DataFrame):
            frame = rows.copy()
            if TIME_FIELD in frame and pd.api.types.is_datetime64_any_dtype(frame[TIME_FIELD]):
                frame[TIME_FIELD] = frame[TIME_FIELD].dt.strftime("%Y-%m-%dT%H:%M:%S%z")
            rows = frame.to_dict("records")
        return validate_request(ForecastRequest, {"rows": rows}, "forecast input")

    def pyfunc_rows(self, answer: dict[str, Any]) -> list[dict[str, Any]]:
        return [answer]

    def request_schema(self, preprocessing: dict[str, Any]) -> dict[str, Any]:
        """The JSON Schema of a request to the model of ``preprocessing``: what ``parse_rows`` enforces that
        a schema can state (fields, value types and ranges, minimum rows)."""
        spec = RowSpec.from_preprocessing(preprocessing)
        props: dict[str, Any] = {TIME_FIELD: {"type": "string", "format": "date-time",
                                              "description": "ISO 8601, e.g. 2013-12-21T00:00:00 (UTC)"}}
        for name in spec.features:
            lo, hi = spec.bounds.get(name, (-3.4028234663852886e38, 3.4028234663852886e38))
            props[name] = {"type": "number", "minimum": lo, "maximum": hi}
        row = {"type": "object", "required": [TIME_FIELD, *spec.features], "properties": props}
        rows = {"type": "array", "minItems": spec.lookback, "items": row,
                "description": f"at least {spec.lookback} rows, {spec.freq_s:g} s apart, any order"}
        return {"type": "object", "required": ["rows"], "additionalProperties": False, "properties": {"rows": rows}}


class ForecastPredictor(BatchPredictor[ForecastRequest, ForecastOptions]):
    """Each request's rows -> one window (``parse_rows``); all windows in one stacked forward pass."""

    def __init__(self, module: nn.Module, preprocessing: dict[str, Any]) -> None:
        super().__init__(module, preprocessing)
        p = preprocessing
        self.spec = RowSpec.from_preprocessing(p)
        self.mean = np.asarray(p["normalizer"]["mean"], dtype=np.float64)
        self.std = np.asarray(p["normalizer"]["std"], dtype=np.float64)
        self.t = int(p["target_idx"])

    def encode(self, request: ForecastRequest, options: ForecastOptions) -> tuple[int, np.ndarray]:
        times, values = parse_rows(request.rows, self.spec)
        return int(times[-1]), window_features(times, values, self.preprocessing)

    def forward(self, encoded: list[tuple[int, np.ndarray]]) -> list[tuple[int, float]]:
        # a GRU over 32 windows costs about twice one window, not 32 times
        x = torch.from_numpy(np.stack([w for _, w in encoded]))
        y = self.module(x).reshape(-1).cpu().numpy()
        return [(last, float(v)) for (last, _), v in zip(encoded, y, strict=True)]

    def decode(self, request: ForecastRequest, output: tuple[int, float], options: ForecastOptions) -> dict[str, Any]:
        last, value = output
        p = self.preprocessing
        return {
            "prediction": finite(value * float(self.std[self.t]) + float(self.mean[self.t]), "prediction"),
            "unit": p["unit"],
            "target": p["target"],
            "last_time": iso_utc(last),
            "target_time": iso_utc(last + int(self.spec.delay * self.spec.freq_s)),
            "delay": self.spec.delay,
        }

    def info(self, options: ForecastOptions) -> dict[str, Any]:
        s = self.spec
        window = {"lookback": s.lookback, "step": s.step, "delay": s.delay, "freq_s": s.freq_s}
        return {"window": window, "features": [TIME_FIELD, *s.features],
                "limits": {"max_rows": options.max_rows, "min_rows": s.lookback}, "options": options.model_dump()}


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
    x: np.ndarray = ((vals[len(vals) - 1 + offsets] - mean) / std).astype(np.float32)
    cycles = preprocessing.get("calendar", [])  # models saved before calendar columns existed lack the key
    if cycles:
        x = np.concatenate([x, calendar_features(times[len(times) - 1 + offsets], cycles)], axis=1)
    return x


def _cannot_read(p: dict[str, Any], target: str, delay: int, freq_s: float, columns: list[str]) -> list[str]:
    """Why a model of preprocessing ``p`` cannot predict these validation targets (empty: it can)."""
    problems = []
    if p["target"] != target:
        problems.append(f"it predicts {p['target']!r}, these targets are {target!r}")
    if int(p["delay"]) != delay:
        problems.append(f"it predicts {p['delay']} rows ahead, these targets lie {delay} rows ahead")
    if abs(float(p["freq_s"]) - freq_s) > 1e-6:
        problems.append(f"it reads rows {float(p['freq_s']):g} s apart, these rows are {freq_s:g} s apart")
    missing = [f for f in p["features"] if f not in columns]
    if missing:
        problems.append(f"it reads columns {missing} that this series lacks (columns: {columns})")
    return problems


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


