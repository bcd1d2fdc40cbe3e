"""Calendar features of timestamps: where in the day and in the year a row lies, as sines and cosines.

Weather follows the sun: the hour of the day and the day of the year explain much of a temperature, and a
model that only sees past values must infer them from the shape of the window. Each cycle becomes a
(sine, cosine) pair so that 23:00 lies next to 00:00 and 31 December next to 1 January.

    calendar_features(np.array([0, 6 * 3600], dtype=np.int64))  # 1970-01-01 00:00 and 06:00 UTC
    # -> [[0, 1, 0, 1], [1, 0, 0.0043, 1.0]] (hour sin, hour cos, year sin, year cos), approximately

Times are int64 seconds since the epoch, read as UTC (the series' naive times are UTC or local as written;
training and prediction both read them the same way, so the phase is consistent).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

CALENDAR_COLUMNS = ("hour_sin", "hour_cos", "year_sin", "year_cos")
DAY_S = 86_400


def calendar_features(times_s: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Hour of day and fraction of the year as (sin, cos) pairs: an ``(n, 4)`` float32 array.

    Args:
        times_s: ``(n,)`` integer seconds since 1970-01-01 UTC.

    Returns:
        Columns in :data:`CALENDAR_COLUMNS` order, each in [-1, 1]. The year fraction uses the actual
        length of each calendar year (365 or 366 days), so 1 January 00:00 is always phase 0.

    Raises:
        ValueError: ``times_s`` is not a 1-d integer array.
    """
    t = np.asarray(times_s)
    if t.ndim != 1 or not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"times_s must be a 1-d integer array of epoch seconds, got shape {t.shape} dtype {t.dtype}")
    t = t.astype(np.int64)
    day = np.mod(t, DAY_S) / DAY_S
    year = t.astype("datetime64[s]").astype("datetime64[Y]")
    start = year.astype("datetime64[s]").astype(np.int64)
    end = (year + 1).astype("datetime64[s]").astype(np.int64)
    frac = (t - start) / (end - start)
    day_angle, year_angle = 2 * np.pi * day, 2 * np.pi * frac
    out = np.stack([np.sin(day_angle), np.cos(day_angle), np.sin(year_angle), np.cos(year_angle)], axis=1)
    return out.astype(np.float32)


def index_seconds(times: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Datetimes (a ``DatetimeIndex``, datetime64 array or timestamps) -> int64 epoch seconds."""
    arr = np.asarray(times, dtype="datetime64[s]")
    return arr.astype(np.int64)
