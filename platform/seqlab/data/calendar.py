"""Calendar features of timestamps: where in the day and in the year a row lies, as sines and cosines.

Weather follows the sun: the hour of the day and the day of the year explain much of a temperature, and a
model that only sees past values must infer them from the shape of the window. Each cycle becomes a
(sine, cosine) pair so that 23:00 lies next to 00:00 and 31 December next to 1 January.

    calendar_features(np.array([0, 6 * 3600], dtype=np.int64))  # 1970-01-01 00:00 and 06:00 UTC
    # -> [[0, 1, 0, 1], [1, 0, 0.0043, 1.0]] (day sin, day cos, year sin, year cos), approximately

Times are int64 seconds since the epoch, read as UTC (the series' naive times are UTC or local as written;
training and prediction both read them the same way, so the phase is consistent).

The ``year`` cycle only helps when the training rows cover the whole year: trained on January to June,
a model never sees the second half's phases (the packaged NYC split is chronological, one year long).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

CYCLES = ("day", "year")
DAY_S = 86_400


def calendar_columns(cycles: Sequence[str] = CYCLES) -> list[str]:
    """Column names of :func:`calendar_features` for ``cycles``: ``day_sin, day_cos, ...``."""
    return [f"{c}_{f}" for c in cycles for f in ("sin", "cos")]


def calendar_features(times_s: npt.ArrayLike, cycles: Sequence[str] = CYCLES) -> npt.NDArray[np.float32]:
    """Phases of the day and of the year as (sin, cos) pairs: an ``(n, 2 * len(cycles))`` float32 array.

    Args:
        times_s: ``(n,)`` integer seconds since 1970-01-01 UTC.
        cycles: which of ``day`` (hour of day) and ``year`` (fraction of the calendar year), in column order.

    Returns:
        Columns named by :func:`calendar_columns`, each in [-1, 1]. The year fraction uses the actual
        length of each calendar year (365 or 366 days), so 1 January 00:00 is always phase 0.

    Raises:
        ValueError: ``times_s`` is not a 1-d integer array, or an unknown cycle.
    """
    t = np.asarray(times_s)
    if t.ndim != 1 or not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"times_s must be a 1-d integer array of epoch seconds, got shape {t.shape} dtype {t.dtype}")
    unknown = [c for c in cycles if c not in CYCLES]
    if unknown:
        raise ValueError(f"unknown calendar cycles {unknown}; choose from {list(CYCLES)}")
    t = t.astype(np.int64)
    columns = []
    for cycle in cycles:
        if cycle == "day":
            phase = np.mod(t, DAY_S) / DAY_S
        else:
            year = t.astype("datetime64[s]").astype("datetime64[Y]")
            start = year.astype("datetime64[s]").astype(np.int64)
            end = (year + 1).astype("datetime64[s]").astype(np.int64)
            phase = (t - start) / (end - start)
        columns += [np.sin(2 * np.pi * phase), np.cos(2 * np.pi * phase)]
    return np.stack(columns, axis=1).astype(np.float32) if columns else np.zeros((len(t), 0), np.float32)


def index_seconds(times: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Datetimes (a ``DatetimeIndex``, datetime64 array or timestamps) -> int64 epoch seconds."""
    arr = np.asarray(times, dtype="datetime64[s]")
    return arr.astype(np.int64)
