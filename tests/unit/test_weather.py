"""Weather series: sources, train-only normalization, windows equal to the chapter's generator, errors."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqlab.config import ForecastDataConfig
from seqlab.data.weather import (
    Normalizer,
    WindowSampler,
    chapter_generator,
    common_sense_mae,
    load_series,
    mae_to_units,
    prepare_series,
    rows_to_array,
    split_bounds,
)
from seqlab.errors import DataError

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


def csv_cfg(path: Path, **kw: object) -> ForecastDataConfig:
    return ForecastDataConfig(source="csv", path=str(path), **kw)  # type: ignore[arg-type]


def jena_cfg(path: Path, **kw: object) -> ForecastDataConfig:
    return ForecastDataConfig(source="jena", path=str(path), **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ sources


def test_packaged_nyc_loads_one_station_hourly_with_gaps_filled() -> None:
    s = load_series(ForecastDataConfig())
    assert 8700 <= len(s.frame) <= 8800
    assert s.features == ["temp", "dewp", "humid", "wind_dir", "wind_speed", "precip", "pressure", "visib"]
    assert s.target == "temp" and s.unit == "degF" and "EWR" in s.source
    assert s.gaps_filled >= 27  # 8730 hours, 8703 reported: 27 inserted, plus rows with a missing value
    assert not s.frame.isna().any().any()
    assert s.frame.index.is_monotonic_increasing and s.frame.index.is_unique
    assert (np.diff(s.frame.index.to_numpy()) == np.timedelta64(1, "h")).all()


def test_packaged_station_and_feature_choice_keep_the_target() -> None:
    s = load_series(ForecastDataConfig(station="JFK", features=["pressure", "humid"]))
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
    raw = load_series(csv_cfg(path))
    assert raw.features == ["temp", "wind"]  # 'station' is text, so not a feature
    assert raw.gaps_filled == 1 and raw.frame.loc["2020-01-01 00:40", "wind"] == pytest.approx(
        5.0 + 2 * 30 / 70
    )
    hourly = load_series(csv_cfg(path, resample="1h"))
    assert list(hourly.frame.index.hour) == [0, 1, 2, 3]
    assert hourly.frame["temp"].tolist() == pytest.approx(
        [2.0, 5.0, 7.0, 9.0]
    )  # hour 2 was empty: interpolated
    assert hourly.gaps_filled == 1


def test_duplicate_times_are_dropped_and_counted(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "d.csv", "time,temp\n2020-01-01 01:00,2\n2020-01-01 00:00,1\n2020-01-01 01:00,9\n"
    )
    s = load_series(csv_cfg(path))
    assert s.duplicates_dropped == 1 and s.frame["temp"].tolist() == [1.0, 2.0]  # sorted; first kept


def test_synthetic_source_and_target_override() -> None:
    s = load_series(ForecastDataConfig(source="synthetic", target="dewp", features=["temp"]))
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
    changed.loc[a.bounds[0] :, ["temp", "wind"]] += 1000.0  # only validation and test rows move
    changed.to_csv(cfg.path, index=False)
    b = prepare_series(cfg)
    np.testing.assert_array_equal(a.normalizer.mean, b.normalizer.mean)
    np.testing.assert_array_equal(a.normalizer.std, b.normalizer.std)
    assert a.normalizer.mean[0] == pytest.approx(base["temp"][: a.bounds[0]].mean())
    assert b.data[-1, 0] > 100  # the moved rows are normalized with train statistics, not refitted


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
    s = prepare_series(ForecastDataConfig(source="synthetic", lookback=48, step=2, delay=12))
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
        ("time,temp,wind\n2020-01-01,1,\n2020-01-02,2,\n", {}, r"columns \['wind'\] have no values"),
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


# ------------------------------------------------------------------------------------------ raw rows


def test_rows_to_array_sorts_by_time() -> None:
    rows = pd.DataFrame(
        {"time": ["2020-01-01T02:00Z", "2020-01-01T01:00Z"], "temp": [2, 1], "wind": ["5", "4"]}
    )
    out = rows_to_array(rows, ["wind", "temp"], "time")
    assert out.dtype == np.float64 and out.tolist() == [[4.0, 1.0], [5.0, 2.0]]


@pytest.mark.parametrize(
    "change, words",
    [
        ({"time": ["2020-01-01 00:00", "2020-01-01 00:00"]}, r"rows\[1\].time: duplicate time"),
        ({"time": ["2020-01-01 00:00", "soon"]}, r"rows\[1\].time: cannot parse 'soon'"),
        ({"temp": [1.0, float("nan")]}, r"rows\[1\].temp: missing"),
        ({"temp": [1.0, None]}, r"rows\[1\].temp: missing"),
        ({"temp": ["warm", 1.0]}, r"rows\[0\].temp: 'warm' is not a number"),
    ],
)
def test_rows_to_array_errors_name_the_field(change: dict[str, list[object]], words: str) -> None:
    rows = pd.DataFrame({"time": ["2020-01-01 00:00", "2020-01-01 01:00"], "temp": [1.0, 2.0]} | change)
    with pytest.raises(DataError, match=words):
        rows_to_array(rows, ["temp"], "time")


def test_rows_to_array_missing_field_and_empty() -> None:
    with pytest.raises(DataError, match=r"missing fields \['dewp'\]"):
        rows_to_array(pd.DataFrame({"time": ["2020-01-01"], "temp": [1.0]}), ["temp", "dewp"], "time")
    with pytest.raises(DataError, match="empty"):
        rows_to_array(pd.DataFrame({"time": [], "temp": []}), ["temp"], "time")
