"""The Task interface: the one place that binds a data set, a model, a loss, metrics and a predictor.

Trainer, tuner, tracker and server know only this interface. A task is used in three places:

* on the driver, ``prepare(cfg)`` loads the data and fits the preprocessing on the training split only;
* in each Ray Train worker, ``build_model``, ``split(...).batch(idx)``, ``loss`` and ``metric_sums`` run
  the loop;
* at prediction time (MLflow pyfunc, Ray Serve), ``predictor(module, preprocessing)(raw)`` turns raw input
  into answers with the preprocessing saved next to the weights.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any, Literal, Protocol

import numpy as np
import torch
from torch import nn


class Split(Protocol):
    """One split of a prepared data set: a length and a vectorized batch gather."""

    def __len__(self) -> int: ...

    def batch(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass
class ArraySplit:
    """Samples already in arrays (token ids for reviews)."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def batch(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.x[positions], self.y[positions]


@dataclass
class Prepared:
    """What the driver hands to the workers: splits, the fitted preprocessing and facts to log.

    ``preprocessing`` is plain JSON-able data: it is saved in every checkpoint and with the MLflow model.
    ``info`` holds facts about the data (source, sizes, baselines) that are logged as params/metrics.
    """

    train: Split
    val: Split
    test: Split
    preprocessing: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)
    embedding_matrix: np.ndarray | None = None


class Task(ABC):
    """A learning problem seqlab can train, tune, track and serve."""

    name: str
    #: the validation metric that selects checkpoints, early-stops, ranks trials and picks champions
    metric: str
    mode: Literal["min", "max"]

    @abstractmethod
    def prepare(self, cfg: Any) -> Prepared:
        """Load the configured data, fit preprocessing on the training split, return all splits."""

    @abstractmethod
    def build_model(self, cfg: Any, preprocessing: dict[str, Any], embedding_matrix: np.ndarray | None = None) -> nn.Module:
        """The configured ``nn.Module`` for data shaped by ``preprocessing``."""

    @abstractmethod
    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean loss of a batch."""

    @abstractmethod
    def metric_sums(self, out: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """Per-batch *sums* (not means) so that shards and batches add up exactly; see ``finish_metrics``."""

    @abstractmethod
    def finish_metrics(self, sums: dict[str, float], count: int, preprocessing: dict[str, Any]) -> dict[str, float]:
        """Turn summed statistics over ``count`` samples into the reported metrics."""

    @abstractmethod
    def predictor(self, module: nn.Module, preprocessing: dict[str, Any]) -> Callable[[Any], list[dict[str, Any]]]:
        """A function from raw input (texts; weather rows) to answers, using the preprocessing fitted at
        training time. Built once per loaded model, so per-call work stays small."""

    def is_better(self, a: float, b: float | None) -> bool:
        """Whether metric value ``a`` beats ``b`` (None: nothing to beat).

        A non-finite value (NaN, +-inf: a diverged model) ranks worst: it never beats anything, not even
        nothing, and any finite value beats it, so a NaN champion or best epoch never blocks a real one.
        """
        if not math.isfinite(a):
            return False
        if b is None or not math.isfinite(b):
            return True
        return a > b if self.mode == "max" else a < b
