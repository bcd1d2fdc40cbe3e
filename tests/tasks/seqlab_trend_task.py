"""A third task that lives only in tests/: is a short synthetic series rising or falling?

It proves the seam: seqlab trains, tunes, tracks and serves it without a line of it in ``platform/``. It is
registered through ``SEQLAB_TASK_MODULES=seqlab_trend_task`` (set with this folder on ``PYTHONPATH`` by
tests/conftest.py before the session's Ray starts, so Ray Train workers and Serve replicas see it too).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field
from seqlab.config import TrackingConfig, TrainConfig
from seqlab.errors import DataError
from seqlab.tasks.base import ArraySplit, BatchPredictor, Prepared, Task, finite, validate_request
from torch import nn


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrendDataConfig(_Strict):
    samples: int = Field(512, ge=16)  # series generated
    length: int = Field(16, ge=2)  # points per series
    noise: float = Field(0.3, ge=0.0)  # standard deviation added to each point
    val_fraction: float = Field(0.25, gt=0.0, lt=0.5)
    test_fraction: float = Field(0.25, gt=0.0, lt=0.5)
    seed: int = 0


class TrendModelConfig(_Strict):
    name: Literal["mlp"] = "mlp"
    hidden: int = Field(8, ge=1)


class TrendConfig(_Strict):
    task: Literal["trend"]
    data: TrendDataConfig = TrendDataConfig()
    model: TrendModelConfig = TrendModelConfig()
    train: TrainConfig = TrainConfig()
    tracking: TrackingConfig = TrackingConfig()


class TrendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    values: list[float] = Field(min_length=2, max_length=4096, description="the series, oldest first; "
                                "exactly the model's length (/info window.length)")


class TrendResponse(BaseModel):
    model: str
    version: str
    label: Literal["rising", "falling"]
    probability: float = Field(ge=0.0, le=1.0, description="probability that the series is rising")


class TrendModel(nn.Module):
    def __init__(self, length: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(length, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def series(samples: int, length: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``samples`` noisy lines with a random positive or negative slope; label 1 for rising."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, samples)
    slopes = np.where(labels == 1, 1.0, -1.0) * rng.uniform(0.5, 1.5, samples)
    t = np.linspace(-1.0, 1.0, length)
    x = slopes[:, None] * t[None, :] + rng.normal(0.0, noise, (samples, length)) + rng.normal(0, 2, (samples, 1))
    return x.astype(np.float32), labels.astype(np.float32)


class TrendTask(Task):
    name = "trend"
    metric = "val_accuracy"
    mode = "max"
    config = TrendConfig
    fingerprint_keys = ("samples", "length", "noise", "val_fraction", "test_fraction", "seed")
    Request = TrendRequest
    Response = TrendResponse
    summary = "Whether the series is rising"

    def prepare(self, cfg: TrendConfig) -> Prepared:
        d = cfg.data
        x, y = series(d.samples, d.length, d.noise, d.seed)
        n_val, n_test = int(d.samples * d.val_fraction), int(d.samples * d.test_fraction)
        n_train = d.samples - n_val - n_test
        # each series is centred on its own mean, so only the shape is learnt: no statistics to fit
        x = x - x.mean(axis=1, keepdims=True)
        return Prepared(
            train=ArraySplit(x[:n_train], y[:n_train]),
            val=ArraySplit(x[n_train : n_train + n_val], y[n_train : n_train + n_val]),
            test=ArraySplit(x[n_train + n_val :], y[n_train + n_val :]),
            preprocessing={"length": d.length},
            info={"data.origin": "synthetic lines", "data.train": n_train},
        )

    def describe(self, cfg: TrendConfig) -> dict[str, Any]:
        return {"origin": "synthetic lines", "series": cfg.data.samples, "length": cfg.data.length}

    def build_model(self, cfg: TrendConfig, preprocessing: dict[str, Any], embedding_matrix: Any = None) -> nn.Module:
        return TrendModel(int(preprocessing["length"]), cfg.model.hidden)

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.binary_cross_entropy_with_logits(out, y)

    def metric_sums(self, out: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        loss = nn.functional.binary_cross_entropy_with_logits(out, y, reduction="sum")
        return {"loss": float(loss), "correct": float(((out > 0).to(y.dtype) == y).sum())}

    def finish_metrics(self, sums: dict[str, float], count: int, preprocessing: dict[str, Any]) -> dict[str, float]:
        n = max(count, 1)
        return {"loss": sums["loss"] / n, "accuracy": sums["correct"] / n}

    def predictor(self, module: nn.Module, preprocessing: dict[str, Any]) -> TrendPredictor:
        return TrendPredictor(module, preprocessing)

    def request_schema(self, preprocessing: dict[str, Any]) -> dict[str, Any]:
        n = int(preprocessing["length"])
        values = {"type": "array", "items": {"type": "number"}, "minItems": n, "maxItems": n}
        return {"type": "object", "required": ["values"], "additionalProperties": False,
                "properties": {"values": values}}

    def pyfunc_request(self, model_input: Any) -> TrendRequest:
        raw = model_input
        if isinstance(raw, pd.DataFrame):
            raw = raw.iloc[:, 0]
        if hasattr(raw, "tolist"):
            raw = raw.tolist()
        return validate_request(TrendRequest, {"values": raw}, "trend input")

    def pyfunc_rows(self, answer: dict[str, Any]) -> list[dict[str, Any]]:
        return [answer]


class TrendPredictor(BatchPredictor[TrendRequest, Any]):
    def __init__(self, module: nn.Module, preprocessing: dict[str, Any]) -> None:
        super().__init__(module, preprocessing)
        self.length = int(preprocessing["length"])

    def encode(self, request: TrendRequest, options: Any) -> np.ndarray:
        if len(request.values) != self.length:
            raise DataError(f"values: {len(request.values)} points sent; this model reads exactly {self.length}")
        x = np.asarray(request.values, dtype=np.float64)
        if not np.isfinite(x).all() or np.abs(x).max() > 1e30:
            raise DataError("values: every point must be a finite number within +-1e30")
        return (x - x.mean()).astype(np.float32)

    def forward(self, encoded: list[np.ndarray]) -> list[float]:
        return torch.sigmoid(self.module(torch.from_numpy(np.stack(encoded)))).tolist()

    def decode(self, request: TrendRequest, output: float, options: Any) -> dict[str, Any]:
        p = finite(output, "values")
        return {"label": "rising" if p >= 0.5 else "falling", "probability": p}

    def info(self, options: Any) -> dict[str, Any]:
        return {"window": {"length": self.length}, "features": ["values"], "limits": {}, "options": {}}
