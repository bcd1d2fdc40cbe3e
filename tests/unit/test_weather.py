"""Weather series: sources, train-only normalization, windows equal to the chapter's generator, errors."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqlab.data.weather import SeriesDataConfig
from seqlab.tasks import load_config
from seqlab.data.normalize import Normalizer, mae_to_units, split_bounds
from seqlab.data.weather import describe_series, load_series, prepare_series
from seqlab.data.windows import WindowSampler, chapter_generator, common_sense_mae
from seqlab.data.rows import RowSpec, parse_rows
from seqlab.errors import ConfigError, DataError
from seqlab.tasks.forecast import ForecastTask

JENA_COLUMNS = ["p (mbar)", "T (degC)", "rh (%)"]


def write_jena(path: Path, n: int = 60, start: str = "2009-01-01 00:10") -> Path:
    times = pd.date_range(start, periods=n, freq="10min")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "Date Time": times.strftime("%d.%m.%Y %H:%M:%S"),
            "p (mbar)": 996.0 + rng.normal(0, 1, n),
            "T (degC)": -8.0 + np.sin(np.arange(n) / 6.0),
            "rh (%)": 93.0 + rng.normal(0, 1, n),
        }
    )
    frame.to_csv(path, index=False)
    return path


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def csv_cfg(path: Path, **kw: object) -> SeriesDataConfig:
    return SeriesDataConfig(source="csv", path=str(path), **kw)  # type: ignore[arg-type]


def jena_cfg(path: Path, **kw: object) -> SeriesDataConfig:
    return SeriesDataConfig(source="jena", path=str(path), **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ sources


def test_packaged_nyc_loads_one_station_hourly_with_gaps_filled() -> None:
    s = load_series(SeriesDataConfig())
    assert 8700 <= len(s.frame) <= 8800
    assert s.features == ["temp", "dewp", "humid", "wind_dir", "wind_speed", "precip", "pressure", "visib"]
    assert s.target == "temp" and s.unit == "degF" and "EWR" in s.source
    assert s.gaps_filled >= 27  # 8730 hours, 8703 reported: 27 inserted, plus rows with a missing value
    assert not s.frame.isna().any().any()
    assert s.frame.index.is_monotonic_increasing and s.frame.index.is_unique
    assert (np.diff(s.frame.index.to_numpy()) == np.timedelta64(1, "h")).all()


def test_packaged_station_and_feature_choice_keep_the_target() -> None:
    s = load_series(SeriesDataConfig(station="JFK", features=["pressure", "humid"]))
    assert s.features == ["pressure", "humid", "temp"] and list(s.frame.columns) == s.features
    assert "JFK" in s.source


def test_jena_layout_parses_day_first_times(tmp_path: Path) -> None:
    path = write_jena(tmp_path / "jena.csv", n=60, start="2009-01-13 00:10")  # day 13 cannot be a month
    s = load_series(jena_cfg(path))
    assert s.frame.index[0] == pd.Timestamp("2009-01-13 00:10")
    assert s.target == "T (degC)" and s.unit == "degC"
    assert s.features == JENA_COLUMNS and s.gaps_filled == 0


def test_generic_csv_interpolates_empty_cells_and_resamples(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "w.csv",
        "time,temp,wind,station\n"
        "2020-01-01 00:10,1.0,5,A\n2020-01-01 00:40,3.0,,A\n2020-01-01 01:20,5.0,7,A\n"
        "2020-01-01 03:05,9.0,9,A\n",
    )
    with pytest.raises(DataError, match=r"w.csv: the rows are not on one time grid.*set data.resample"):
        load_series(csv_cfg(path))  # irregular rows would be silently joined: a regular grid is needed
    hourly = load_series(csv_cfg(path, resample="1h"))
    assert hourly.features == ["temp", "wind"]  # 'station' is text, so not a feature
    assert list(hourly.frame.index.hour) == [0, 1, 2, 3]
    assert hourly.frame["temp"].tolist() == pytest.approx(
        [2.0, 5.0, 7.0, 9.0]
    )  # hour 2 was empty: interpolated
    assert hourly.gaps_filled == 1 and hourly.interval_s == 3600.0


def test_duplicate_times_are_dropped_and_counted(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "d.csv", "time,temp\n2020-01-01 01:00,2\n2020-01-01 00:00,1\n2020-01-01 01:00,9\n"
    )
    s = load_series(csv_cfg(path))
    assert s.duplicates_dropped == 1 and s.frame["temp"].tolist() == [1.0, 2.0]  # sorted; first kept


def test_synthetic_source_and_target_override() -> None:
    s = load_series(SeriesDataConfig(source="synthetic", target="dewp", features=["temp"]))
    assert len(s.frame) == 2000 and s.features == ["temp", "dewp"] and s.target == "dewp"


# ------------------------------------------------------------------------------------------------ windows


def test_window_sampler_equals_chapter_generator() -> None:
    data = np.random.default_rng(1).normal(size=(400, 4)).astype(np.float32)
    lookback, step, delay, lo, hi, batch = 24, 6, 6, 10, 300, 16
    sampler = WindowSampler(data, 2, lookback, step, delay, lo, hi)
    assert sampler.rows[0] == lo + lookback and sampler.rows[-1] == hi - 1 and sampler.rows.dtype == np.int64
    assert sampler.window_steps == lookback // step
    gen = chapter_generator(
        data, lookback, delay, lo, hi, shuffle=False, batch_size=batch, step=step, target_idx=2
    )
    full = (hi - lo - lookback - 1) // batch  # the chapter restarts before a batch that would touch max_index
    for k in range(full + 1):
        samples, targets = next(gen)
        pos = np.arange(k * batch, (k + 1) * batch) % (full * batch)  # batch `full` is the wrap to the start
        x, y = sampler.batch(pos)
        np.testing.assert_array_equal(x, samples.astype(np.float32))
        np.testing.assert_array_equal(y, targets.astype(np.float32))
    assert x.shape == (batch, lookback // step, 4) and x.dtype == np.float32 and y.dtype == np.float32


def test_window_sampler_iterates_every_window_once() -> None:
    data = np.arange(200, dtype=np.float32).reshape(100, 2)
    sampler = WindowSampler(data, 1, 10, 2, 3)
    assert len(sampler) == 100 - 3 - 1 - 10
    ys = np.concatenate([y for _, y in sampler.iter_batches(7, shuffle=True, seed=0)])
    assert sorted(ys.tolist()) == sorted(data[sampler.rows + 3, 1].tolist())
    x, _ = sampler.batch(np.array([0]))
    assert x[0, :, 0].tolist() == data[0:10:2, 0].tolist()  # data[i - lookback : i : step], i = 10


@pytest.mark.parametrize("step, copies", [(1, 0), (6, 1)])
def test_window_sampler_holds_at_most_one_copy_of_its_rows(step: int, copies: int) -> None:
    data = np.zeros((2000, 16), np.float32)
    sampler = WindowSampler(data, 0, 240, step, 24)  # all windows would be ~1,700 x 240 x 16 floats = 26 MB
    per_window = sampler.rows.itemsize + sampler.targets.itemsize
    assert sampler.nbytes_own <= copies * data.nbytes + per_window * len(sampler) + 8 * step


@pytest.mark.parametrize(
    "lookback, step, delay, lo, hi", [(10, 3, 4, 5, 100), (12, 1, 0, 0, 30), (7, 7, 2, 3, 60)]
)
def test_window_sampler_equals_the_row_offsets_of_the_chapter(
    lookback: int, step: int, delay: int, lo: int, hi: int
) -> None:
    data = np.random.default_rng(3).normal(size=(120, 3)).astype(np.float32)
    sampler = WindowSampler(data, 2, lookback, step, delay, lo, hi)  # 10 // 3 == 3 but range(...) has 4 rows
    x, y = sampler.batch(np.arange(len(sampler))[::-1])
    rows = sampler.rows[::-1]
    assert sampler.window_steps == len(range(0, lookback, step)) and x.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(x, data[rows[:, None] + np.arange(-lookback, 0, step)])
    np.testing.assert_array_equal(y, data[rows + delay, 2])


@pytest.mark.parametrize("step", [1, 6])
def test_pickled_sampler_ships_the_series_not_the_windows(step: int) -> None:
    data = np.random.default_rng(4).normal(size=(5000, 4)).astype(np.float32)
    sampler = WindowSampler(data, 1, 240, step, 24)  # all windows (step 1): ~4,700 x 240 x 4 floats = 18 MB
    blob = pickle.dumps(sampler)
    assert len(blob) < 2 * data.nbytes
    again = pickle.loads(blob)
    pos = np.array([0, 17, len(sampler) - 1])
    np.testing.assert_array_equal(again.batch(pos)[0], sampler.batch(pos)[0])


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"lookback": 0}, "lookback >= 1"),
        ({"delay": 200}, "no window fits"),
        ({"lookback": 100}, "no window fits"),
        ({"max_index": 99, "delay": 5}, r"i \+ delay < 100"),
    ],
)
def test_window_sampler_without_windows_raises(kw: dict[str, int], words: str) -> None:
    args = {"lookback": 10, "step": 1, "delay": 2, "min_index": 0, "max_index": None} | kw
    with pytest.raises(DataError, match=words) as info:
        WindowSampler(np.zeros((100, 2), np.float32), 0, **args)  # type: ignore[arg-type]
    assert "lookback" in str(info.value)


def test_batch_rejects_positions_out_of_range() -> None:
    sampler = WindowSampler(np.zeros((50, 1), np.float32), 0, 5, 1, 1)
    with pytest.raises(DataError, match=r"positions must lie in \[0, 43\)"):
        sampler.batch(np.array([0, 43]))


def test_common_sense_mae_matches_a_naive_loop() -> None:
    data = np.random.default_rng(2).normal(size=(300, 3)).astype(np.float32)
    lookback, step, delay = 30, 6, 12
    sampler = WindowSampler(data, 1, lookback, step, delay, 0, 250)
    errors = []
    for i in range(lookback, 250):  # the book's evaluate_naive_method, one window at a time
        samples = data[range(i - lookback, i, step)]
        errors.append(abs(float(samples[-1, 1]) - float(data[i + delay][1])))
    assert common_sense_mae(data, 1, sampler) == pytest.approx(np.mean(errors), rel=1e-6)
    norm = Normalizer().fit(np.array([[0.0, 0.0, 0.0], [0.0, 4.0, 0.0]]))
    assert mae_to_units(0.5, norm, 1) == pytest.approx(1.0)


# ----------------------------------------------------------------------------------- splits, normalization


def test_split_bounds_is_chronological() -> None:
    assert split_bounds(100, 0.5, 0.25) == (50, 75)
    with pytest.raises(DataError, match="too few"):
        split_bounds(2, 0.5, 0.25)


def test_normalizer_uses_train_rows_only(tmp_path: Path) -> None:
    n = 200
    times = pd.date_range("2020-01-01", periods=n, freq="h")
    base = pd.DataFrame(
        {"time": times, "temp": np.sin(np.arange(n) / 5.0), "wind": np.cos(np.arange(n) / 7.0)}
    )
    cfg = csv_cfg(tmp_path / "a.csv", lookback=10, delay=2)
    base.to_csv(cfg.path, index=False)
    a = prepare_series(cfg)
    changed = base.copy()
    changed.loc[a.bounds[0] :, ["temp", "wind"]] += 50.0  # only validation and test rows move
    changed.to_csv(cfg.path, index=False)
    b = prepare_series(cfg)
    np.testing.assert_array_equal(a.normalizer.mean, b.normalizer.mean)
    np.testing.assert_array_equal(a.normalizer.std, b.normalizer.std)
    assert a.normalizer.mean[0] == pytest.approx(base["temp"][: a.bounds[0]].mean())
    assert b.data[-1, 0] > 30  # the moved rows are normalized with train statistics, not refitted


def test_normalizer_round_trip_constant_column_and_inverse() -> None:
    norm = Normalizer().fit(np.array([[1.0, 5.0], [3.0, 5.0]]))
    assert norm.std.tolist() == [1.0, 1.0] and norm.mean.tolist() == [2.0, 5.0]
    again = Normalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
    x = norm.transform(np.array([[3.0, 5.0]]))
    assert x.dtype == np.float32 and again.transform(np.array([[3.0, 5.0]])).tolist() == x.tolist()
    assert again.inverse_target(x[:, 0], 0).tolist() == [3.0]
    with pytest.raises(DataError, match="expected 2 features"):
        norm.transform(np.zeros((1, 3)))
    with pytest.raises(DataError, match="std > 0"):
        Normalizer.from_dict({"mean": [0.0], "std": [0.0]})


def test_prepare_series_keeps_each_split_inside_its_rows() -> None:
    s = prepare_series(SeriesDataConfig(source="synthetic", lookback=48, step=2, delay=12))
    train_end, val_end = s.bounds
    assert s.data.dtype == np.float32 and s.data.shape == (2000, 5)
    # the target lies data.delay rows after the window's last row: row i - step for the chapter's "current" i
    assert s.train.offsets[-1] + 12 == s.train.delay == 10
    assert s.train.rows[-1] + s.train.delay < train_end
    assert s.val.rows[0] - 48 >= train_end and s.val.rows[-1] + s.val.delay < val_end
    assert s.test.rows[0] - 48 >= val_end and s.test.rows[-1] + s.test.delay < 2000
    assert (
        sum(split.nbytes_own for split in (s.train, s.val, s.test)) < 2 * s.data.nbytes
    )  # no windows stored
    assert s.baseline_mae_degrees == pytest.approx(s.baseline_mae_norm * s.normalizer.std[s.target_idx])
    assert s.baseline_mae_norm == pytest.approx(common_sense_mae(s.data, s.target_idx, s.val))
    assert s.test_baseline_mae_norm > 0


# --------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "text, cfg_kw, words",
    [
        ("when,temp\n2020-01-01,1\n", {}, r"no time column 'time'; columns found: \['when', 'temp'\]"),
        (
            "time,temp\n2020-01-01 00:00,1\nyesterday,2\n",
            {},
            r"line 3 column 'time': cannot parse 'yesterday'",
        ),
        (
            "time,temp\n2020-01-01 00:00,1\n2020-01-01 01:00,abc\n2020-01-01 02:00,3\n",
            {},
            r"line 3 column 'temp': 'abc' is not a number",
        ),
        (
            "time,temp,wind\n2020-01-01,1,2\n",
            {"features": ["gust"]},
            r"unknown features \['gust'\]; available.*'wind'",
        ),
        ("time,t2m\n2020-01-01,1\n", {}, r"unknown target 'temp'; available numeric columns: \['t2m'\]"),
        ("time,temp\n", {}, "no data rows"),
        ("time,temp,wind\n2020-01-01,1,\n2020-01-02,2,\n", {}, r"columns \['wind'\] have no valid values"),
        ("time,temp\n2020-01-01,1\n2020-01-02,2\n", {"resample": "fortnightly"}, "not a pandas frequency"),
    ],
)
def test_bad_csv_raises_data_error_naming_the_problem(
    tmp_path: Path, text: str, cfg_kw: dict[str, object], words: str
) -> None:
    path = write_csv(tmp_path / "bad.csv", text)
    with pytest.raises(DataError, match=words) as info:
        load_series(csv_cfg(path, **cfg_kw))
    assert "bad.csv" in str(info.value) or "resample" in str(info.value)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found: .*nope.csv"):
        load_series(jena_cfg(tmp_path / "nope.csv"))
    blob = tmp_path / "blob.csv"
    blob.write_bytes(b"")
    with pytest.raises(DataError, match="cannot read .*blob.csv as CSV"):
        load_series(csv_cfg(blob))


def test_jena_time_in_the_wrong_format_names_the_line(tmp_path: Path) -> None:
    path = write_jena(tmp_path / "jena.csv", n=5)
    text = path.read_text().replace("01.01.2009 00:30:00", "2009-01-01 00:30:00")
    path.write_text(text)
    with pytest.raises(
        DataError, match=r"line 4 column 'Date Time': cannot parse '2009-01-01 00:30:00'.*01.01.2009"
    ):
        load_series(jena_cfg(path))


def test_too_few_rows_for_a_window(tmp_path: Path) -> None:
    path = write_jena(tmp_path / "jena.csv", n=60)
    with pytest.raises(
        DataError, match=r"the train split has 30 rows \(rows 0\.\.29\) .* lookback \+ delay - step \+ 1 = 264"
    ):
        prepare_series(jena_cfg(path))  # default lookback 240, delay 24


def test_data_error_survives_pickling() -> None:
    err = DataError("rows[2].temp: 'x' is not a number")
    assert str(pickle.loads(pickle.dumps(err))) == str(err)


# ------------------------------------------------------------------------------------------------ cleaning


def hourly_csv(path: Path, n: int = 400, drop: range | None = None, **columns: object) -> Path:
    """An hourly CSV of ``temp`` (a smooth cycle) and ``humid``; ``columns`` overrides cells: {"humid": {7: 150}}."""
    times = pd.date_range("2020-01-01", periods=n, freq="h")
    frame = pd.DataFrame({"time": times, "temp": 10 + 5 * np.sin(np.arange(n) / 8.0), "humid": 60.0})
    for col, cells in columns.items():
        for i, v in dict(cells).items():  # type: ignore[call-overload]
            frame.loc[i, col] = v
    if drop is not None:
        frame = frame.drop(index=list(drop))
    frame.to_csv(path, index=False)
    return path


def test_packaged_wind_record_of_1048_mph_is_removed_and_no_longer_scales_wind() -> None:
    s = prepare_series(SeriesDataConfig())
    wind = [c for c in s.series.cleaned if c.column == "wind_speed"]
    assert len(wind) == 1 and wind[0].reason == "above max" and wind[0].count == 1
    assert wind[0].example_time == "2013-02-12 08:00:00" and wind[0].example_value == pytest.approx(1048.36058)
    assert s.series.frame["wind_speed"].max() < 60
    j = s.features.index("wind_speed")
    assert s.normalizer.std[j] < 7.0  # 16.7 mph with the record in the training rows, 5.7 without
    report = describe_series(s.series)
    assert "removed 1 above max (first 2013-02-12 08:00:00: 1048.36)" in report["columns"]["wind_speed"]
    assert report["values removed"] == 1 and report["long gaps (no window reads them)"] == "none"


def test_sentinels_and_out_of_range_values_become_gaps_and_are_reported(tmp_path: Path) -> None:
    path = hourly_csv(tmp_path / "s.csv", temp={5: -9999, 9: -999.0, 20: float("inf")}, humid={7: 150, 8: -3})
    s = load_series(csv_cfg(path))
    found = {(c.column, c.reason): (c.count, c.example_time, c.example_value) for c in s.cleaned}
    assert found == {
        ("temp", "sentinel"): (2, "2020-01-01 05:00:00", -9999.0),
        ("temp", "not finite"): (1, "2020-01-01 20:00:00", float("inf")),
        ("humid", "above max"): (1, "2020-01-01 07:00:00", 150.0),
        ("humid", "below min"): (1, "2020-01-01 08:00:00", -3.0),
    }
    assert s.gaps_filled == 5 and s.frame["humid"].tolist() == [60.0] * 400  # filled from its neighbours
    clean = 10 + 5 * np.sin(np.arange(400) / 8.0)
    assert s.frame["temp"].iloc[5] == pytest.approx((clean[4] + clean[6]) / 2)


def test_rules_are_configurable_per_column(tmp_path: Path) -> None:
    path = hourly_csv(tmp_path / "r.csv", temp={5: -999}, humid={7: 150})
    loose = load_series(csv_cfg(path, clean={"temp": {"min": -1000, "sentinels": []}, "humid": {"max": None}}))
    assert loose.rules["temp"].low == -1000 and loose.rules["temp"].high == 140.0  # max kept from the default
    assert loose.frame["temp"].iloc[5] == -999.0 and loose.frame["humid"].iloc[7] == 150.0
    assert loose.cleaned == []
    tight = load_series(csv_cfg(path, clean={"temp": {"max": 14.5}}))
    above = [c for c in tight.cleaned if c.reason == "above max"]
    assert [c.column for c in above] == ["temp", "humid"] and above[0].count == 58  # 10 + 5 sin(t / 8) > 14.5
    assert tight.frame["temp"].max() <= 14.5


def test_unknown_column_in_the_rules_is_a_config_error(tmp_path: Path) -> None:
    path = hourly_csv(tmp_path / "u.csv")
    with pytest.raises(ConfigError, match=r"data.clean: unknown column\(s\) \['wind_sped'\].*'temp', 'humid'"):
        load_series(csv_cfg(path, clean={"wind_sped": {"max": 50}}))
    with pytest.raises(ConfigError, match=r"data.clean.temp.*min \(5.0\) must be <= max \(1.0\)"):
        load_config(None, {"task": "forecast", "data.clean": {"temp": {"min": 5, "max": 1}}})
    with pytest.raises(ConfigError, match=r"data.clean.temp.maximum"):
        load_config(None, {"task": "forecast", "data.clean": {"temp": {"maximum": 5}}})


def test_csv_is_reindexed_on_its_interval_so_missing_rows_are_counted(tmp_path: Path) -> None:
    path = hourly_csv(tmp_path / "g.csv", n=50, drop=range(10, 13))  # hours 10, 11, 12 absent from the file
    s = load_series(csv_cfg(path))
    assert len(s.frame) == 50 and s.interval_s == 3600.0 and s.gaps_filled == 3
    assert (np.diff(s.frame.index.to_numpy()) == np.timedelta64(1, "h")).all()
    clean = 10 + 5 * np.sin(np.arange(50) / 8.0)
    assert s.frame["temp"].iloc[11] == pytest.approx((clean[9] + clean[13]) / 2)  # linear over the gap
    assert s.long_gaps == [] and s.blocked is None  # 3 rows <= data.max_gap_rows (12)


def test_long_gaps_split_the_series_so_no_window_crosses_them(tmp_path: Path) -> None:
    path = hourly_csv(tmp_path / "l.csv", n=400, drop=range(60, 80))  # 20 missing hours in the train rows
    cfg = csv_cfg(path, lookback=12, step=2, delay=4, max_gap_rows=12)
    s = prepare_series(cfg)
    gap = s.series.long_gaps
    assert len(gap) == 1 and gap[0].rows == 20 and gap[0].start == "2020-01-03 12:00:00"
    blocked = s.series.blocked_mask()
    assert blocked.sum() == 20 and blocked[60:80].all()
    for sampler in (s.train, s.val, s.test):
        for i in sampler.rows:  # every window's rows and its target lie outside the gap
            assert not blocked[i - sampler.lookback : i + sampler.delay + 1].any()
    whole = prepare_series(csv_cfg(path, lookback=12, step=2, delay=4, max_gap_rows=20))
    assert whole.series.blocked is None and len(whole.train) == len(s.train) + 20 + 12 + 2
    assert describe_series(s.series)["long gaps (no window reads them)"].startswith("2020-01-03 12:00:00 .. ")


def test_sampler_with_blocked_rows_gathers_the_same_windows() -> None:
    data = np.random.default_rng(5).normal(size=(200, 3)).astype(np.float32)
    blocked = np.zeros(200, dtype=bool)
    blocked[[50, 51, 120]] = True
    sampler = WindowSampler(data, 1, 10, 3, 4, 5, 190, blocked)
    full = WindowSampler(data, 1, 10, 3, 4, 5, 190)
    assert 0 < len(sampler) < len(full)
    x, y = sampler.batch(np.arange(len(sampler)))
    np.testing.assert_array_equal(x, data[sampler.rows[:, None] + np.arange(-10, 0, 3)])
    np.testing.assert_array_equal(y, data[sampler.rows + 4, 1])
    with pytest.raises(DataError, match="no window fits between the long gaps"):
        WindowSampler(data, 1, 100, 1, 4, 0, 190, blocked)


def test_jena_layout_cleans_its_wind_sentinels(tmp_path: Path) -> None:
    path = write_jena(tmp_path / "jena.csv", n=60)
    frame = pd.read_csv(path)
    frame["wv (m/s)"] = 1.5
    frame.loc[17, "wv (m/s)"] = -9999.0
    frame.to_csv(path, index=False)
    s = load_series(jena_cfg(path))
    assert [(c.column, c.reason, c.count) for c in s.cleaned] == [("wv (m/s)", "sentinel", 1)]
    assert s.frame["wv (m/s)"].tolist() == [1.5] * 60 and s.interval_s == 600.0


def test_normalizer_and_bounds_come_from_clean_training_rows(tmp_path: Path) -> None:
    path = hourly_csv(tmp_path / "b.csv", n=400, humid={i: 40.0 + i % 7 for i in range(400)})
    s = prepare_series(csv_cfg(path, lookback=12, delay=4, bounds_margin=0.5))
    train = s.series.frame.iloc[: s.bounds[0]]
    lo, hi = train["temp"].min(), train["temp"].max()
    assert s.feature_bounds["temp"] == pytest.approx((lo - (hi - lo) / 2, hi + (hi - lo) / 2))
    assert s.feature_bounds["humid"] == pytest.approx((37.0, 49.0))  # 40..46 +- 3
    wide = prepare_series(csv_cfg(path, lookback=12, delay=4, bounds_margin=10))
    assert wide.feature_bounds["humid"] == (0.0, 100.0)  # clipped by the physical rule


def test_forecast_preprocessing_carries_bounds_that_refuse_the_wind_record() -> None:
    cfg = load_config(None, {"task": "forecast"})
    prepared = ForecastTask().prepare(cfg)  # type: ignore[arg-type]
    pre = json.loads(json.dumps(prepared.preprocessing))  # as saved with the model
    assert prepared.info["data.cleaned.wind_speed"] == 1 and prepared.info["data.cleaned"] == 1
    assert prepared.info["data.long_gaps"] == 0 and pre["freq_s"] == 3600.0
    spec = RowSpec.from_preprocessing(pre)
    assert spec.bounds["humid"] == (0.0, 100.0) and 40 < spec.bounds["wind_speed"][1] < 100
    rows = json.loads((Path(__file__).resolve().parents[2] / "examples" / "forecast_request.json").read_text())
    parse_rows(rows["rows"], spec)  # the README's example is inside the bounds
    rows["rows"][3]["wind_speed"] = 1048.36
    with pytest.raises(DataError, match=r"rows\[3\]\.wind_speed: 1048.36 is outside"):
        parse_rows(rows["rows"], spec)


def test_cleaning_counts_in_info_are_valid_mlflow_param_keys(tmp_path: Path) -> None:
    path = write_jena(tmp_path / "jena.csv", n=120)
    cfg = load_config(None, {"task": "forecast", "data.source": "jena", "data.path": str(path),
                             "data.lookback": 6, "data.delay": 2})
    info = ForecastTask().prepare(cfg).info  # type: ignore[arg-type]
    assert info["data.cleaned.T _degC_"] == 0 and info["data.cleaned"] == 0
    assert all(re.fullmatch(r"[\w.\- /:]+", key) for key in info), sorted(info)


def test_overlapping_long_gaps_of_two_columns_block_their_union() -> None:
    from seqlab.data.cleaning import fill_gaps

    frame = pd.DataFrame(
        {"temp": np.arange(100.0), "humid": np.full(100, 50.0)}, index=pd.date_range("2020-01-01", periods=100, freq="h")
    )
    frame.iloc[60:75, 0] = np.nan  # 15 rows: long
    frame.iloc[70:85, 1] = np.nan  # 15 rows, overlapping: long
    frame.iloc[5:8, 1] = np.nan  # 3 rows: interpolated only
    filled, touched, blocked, gaps = fill_gaps(frame, 12, "test")
    assert touched == 28 and np.flatnonzero(blocked).tolist() == list(range(60, 85))
    assert [(g.rows, g.columns) for g in gaps] == [(25, ("temp", "humid"))]
    assert filled["temp"].iloc[60:75].tolist() == pytest.approx(list(range(60, 75)))  # filled, not read
