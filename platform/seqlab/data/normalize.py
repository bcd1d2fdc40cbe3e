"""Chronological splits and train-only normalization of a series (``(x - mean) / std`` per feature).

    train_end, val_end = split_bounds(len(values), 0.5, 0.25)
    norm = Normalizer().fit(values[:train_end])          # statistics of the training rows only
    x = norm.transform(values)                           # float32, every row
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from seqlab.errors import DataError

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


def split_bounds(n_rows: int, train_fraction: float, val_fraction: float) -> tuple[int, int]:
    """Chronological split: rows ``[0, train_end)`` train, ``[train_end, val_end)`` validate, the rest test."""
    if not (0 < train_fraction < 1 and 0 < val_fraction < 1 and train_fraction + val_fraction < 1):
        raise DataError(
            f"train_fraction {train_fraction} and val_fraction {val_fraction} must be in (0, 1) with a sum < 1"
        )
    train_end = int(n_rows * train_fraction)
    val_end = int(n_rows * (train_fraction + val_fraction))
    if not 0 < train_end < val_end < n_rows:
        raise DataError(f"{n_rows} rows are too few to split into non-empty train/val/test parts")
    return train_end, val_end


class Normalizer:
    """Per-feature ``(x - mean) / std`` with statistics of the training rows (std 0 becomes 1)."""

    def __init__(self, mean: F64 | None = None, std: F64 | None = None) -> None:
        self._mean = mean
        self._std = std

    @property
    def mean(self) -> F64:
        if self._mean is None:
            raise RuntimeError("Normalizer is not fitted; call fit(train_values) first")
        return self._mean

    @property
    def std(self) -> F64:
        if self._std is None:
            raise RuntimeError("Normalizer is not fitted; call fit(train_values) first")
        return self._std

    def fit(self, values: npt.ArrayLike) -> Normalizer:
        """Learn mean and std from ``values`` (T, F): pass the TRAIN rows only."""
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim != 2 or len(arr) == 0 or not np.isfinite(arr).all():
            raise DataError(
                f"Normalizer.fit needs a finite (rows, features) array with rows > 0, got {arr.shape}"
            )
        self._mean = arr.mean(axis=0)
        std = arr.std(axis=0)
        self._std = np.where(std > 0, std, 1.0)  # a constant column stays constant instead of dividing by 0
        return self

    def transform(self, values: npt.ArrayLike) -> F32:
        """``(values - mean) / std`` as float32, any leading shape, last axis = features."""
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape[-1:] != self.mean.shape:
            raise DataError(
                f"Normalizer.transform: expected {self.mean.shape[0]} features, got shape {arr.shape}"
            )
        return ((arr - self.mean) / self.std).astype(np.float32)

    def inverse_target(self, x: npt.ArrayLike, target_idx: int) -> F64:
        """Normalized target values back to their unit (degrees)."""
        out: F64 = np.asarray(x, dtype=np.float64) * self.std[target_idx] + self.mean[target_idx]
        return out

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalizer:
        try:
            mean = np.asarray(d["mean"], dtype=np.float64)
            std = np.asarray(d["std"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(
                f"normalizer: expected {{'mean': [...], 'std': [...]}} of numbers, got {d!r} ({exc})"
            ) from None
        if mean.ndim != 1 or mean.shape != std.shape or (std <= 0).any():
            raise DataError(f"normalizer: mean and std must be equal-length lists with std > 0, got {d!r}")
        return cls(mean, std)


def mae_to_units(mae_norm: float, normalizer: Normalizer, target_idx: int) -> float:
    """A normalized MAE in the target's unit (degrees): times the target's train std."""
    return float(mae_norm * normalizer.std[target_idx])
