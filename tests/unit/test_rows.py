"""Forecast request rows: every bad input names its field; good rows come back sorted, as one window."""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from seqlab.data.rows import RowSpec, _epoch_one, _epochs_fixed_layout, iso_utc, parse_rows
from seqlab.errors import DataError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "forecast_request.json"
FEATURES = ("temp", "dewp", "humid", "wind_dir", "wind_speed", "precip", "pressure", "visib")
BOUNDS = {"temp": (-20.0, 120.0), "humid": (0.0, 100.0), "wind_speed": (0.0, 60.0), "pressure": (950.0, 1080.0)}
SPEC = RowSpec(FEATURES, lookback=240, step=1, delay=24, freq_s=3600.0, bounds=BOUNDS)
ROWS: list[dict[str, Any]] = json.loads(EXAMPLE.read_text())["rows"]


def rows() -> list[dict[str, Any]]:
    return copy.deepcopy(ROWS)


def hourly(start: str, n: int = 240, every_s: int = 3600, suffix: str = "") -> list[dict[str, Any]]:
    """The example's values at times ``start + k * every_s``."""
    t0 = dt.datetime.fromisoformat(start)
    out = rows()[:n]
    for k, row in enumerate(out):
        row["time"] = (t0 + dt.timedelta(seconds=k * every_s)).isoformat() + suffix
    return out


# --------------------------------------------------------------------------------------------- good rows


def test_example_request_parses_to_one_window() -> None:
    times, values = parse_rows(rows(), SPEC)
    assert times.dtype == np.int64 and values.dtype == np.float64 and values.shape == (240, 8)
    assert iso_utc(int(times[0])) == "2013-12-21T00:00:00+00:00"
    assert iso_utc(int(times[-1])) == "2013-12-30T23:00:00+00:00"
    assert (np.diff(times) == 3600).all()
    assert values[0].tolist() == [ROWS[0][f] for f in FEATURES]


def test_rows_in_any_order_and_extra_rows_give_the_last_lookback() -> None:
    shuffled = rows()
    random.Random(0).shuffle(shuffled)
    times, values = parse_rows(shuffled, SPEC)
    want_t, want_v = parse_rows(rows(), SPEC)
    np.testing.assert_array_equal(times, want_t)
    np.testing.assert_array_equal(values, want_v)
    short = RowSpec(FEATURES, lookback=10, step=1, delay=24, freq_s=3600.0)
    early_gap = rows()
    del early_gap[5]  # a gap before the last 10 rows is not in the window: fine
    times, values = parse_rows(early_gap, short)
    assert len(times) == 10 and values[-1].tolist() == [ROWS[-1][f] for f in FEATURES]


def test_zones_are_converted_to_utc_and_naive_means_utc() -> None:
    naive, _ = parse_rows(hourly("2013-12-21T00:00:00"), SPEC)
    z, _ = parse_rows(hourly("2013-12-21T00:00:00", suffix="Z"), SPEC)
    plus, _ = parse_rows(hourly("2013-12-21T01:00:00", suffix="+01:00"), SPEC)
    spaced = [dict(r, time=r["time"].replace("T", " ")) for r in hourly("2013-12-21T00:00:00")]
    np.testing.assert_array_equal(naive, z)
    np.testing.assert_array_equal(naive, plus)
    np.testing.assert_array_equal(naive, parse_rows(spaced, SPEC)[0])
    assert naive[0] == int(dt.datetime(2013, 12, 21, tzinfo=dt.timezone.utc).timestamp())


def test_integer_values_are_numbers_and_old_models_have_no_bounds() -> None:
    data = rows()
    data[0]["wind_speed"] = 2000  # an int, outside BOUNDS but no bounds on an old model
    old = RowSpec.from_preprocessing(
        {"features": list(FEATURES), "lookback": 240, "step": 1, "delay": 24, "freq_s": 3600.0}
    )
    assert old.bounds == {}
    assert parse_rows(data, old)[1][0, 4] == 2000.0


def test_numpy_scalars_count_as_numbers_but_numpy_bools_do_not() -> None:
    data = rows()
    data[0]["temp"], data[1]["humid"] = np.float32(40.5), np.int64(50)
    assert parse_rows(data, SPEC)[1][:2, :3].tolist() == [[40.5, 33.98, 60.47], [46.94, 35.06, 50.0]]
    data[2]["visib"] = np.bool_(True)
    with pytest.raises(DataError, match=r"rows\[2\]\.visib: expected a finite JSON number, got true"):
        parse_rows(data, SPEC)


def test_one_feature_models_read_one_value_per_row() -> None:
    spec = RowSpec(("temp",), lookback=3, step=1, delay=1, freq_s=3600.0)
    times, values = parse_rows([{"time": f"2020-01-01T0{h}:00:00", "temp": h} for h in range(5)], spec)
    assert values.tolist() == [[2.0], [3.0], [4.0]] and iso_utc(int(times[0])) == "2020-01-01T02:00:00+00:00"


def test_spec_from_preprocessing_reads_bounds_lists() -> None:
    pre = {"features": ["temp"], "lookback": 3, "step": 1, "delay": 2, "freq_s": 600, "bounds": {"temp": [0, 5]}}
    spec = RowSpec.from_preprocessing(json.loads(json.dumps(pre)))
    assert spec.bounds == {"temp": (0.0, 5.0)} and spec.freq_s == 600.0 and spec.features == ("temp",)
    with pytest.raises(DataError, match="lookback"):
        RowSpec.from_preprocessing({"features": ["temp"]})


def test_fixed_layout_fast_path_equals_the_row_by_row_path() -> None:
    rng = random.Random(1)
    for _ in range(300):
        epoch = rng.randint(-62135596800 + 86400, 253402300799 - 86400)
        when = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=epoch)
        minutes = rng.choice([0, 60, -330, 23 * 60 + 59, -(23 * 60 + 59)])
        zone = dt.timezone(dt.timedelta(minutes=minutes))
        local = when.replace(tzinfo=dt.timezone.utc).astimezone(zone).replace(tzinfo=None)
        text = f"{local.year:04d}-{local:%m-%dT%H:%M:%S}"  # strftime's %Y does not pad years < 1000
        sign = "+" if minutes >= 0 else "-"
        layouts = [text + "Z", text] if minutes == 0 else []
        layouts.append(f"{text}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}")
        for s in layouts:
            fast = _epochs_fixed_layout([s])
            assert fast is not None and int(fast[0]) == _epoch_one(0, s)[0] == epoch, s


@pytest.mark.parametrize(
    "text",
    ["now", "today", "2013-13-01T00:00:00", "2013-02-29T00:00:00", "2013-12-21T24:00:00", "0000-01-01T00:00:00",
     "2013-12-21T00:00:00+24:00", "2013-12-21T00:00:00 00:00", "２０１３-12-21T00:00:00", "2013-12-21"],
)
def test_fast_path_declines_what_the_row_path_refuses(text: str) -> None:
    assert _epochs_fixed_layout([text]) is None
    with pytest.raises(DataError, match=r"rows\[0\]\.time"):
        _epoch_one(0, text)


# ---------------------------------------------------------------------------------------------- bad rows


def _set(i: int, name: str, value: Any) -> list[dict[str, Any]]:
    data = rows()
    data[i][name] = value
    return data


def _drop(i: int, name: str) -> list[dict[str, Any]]:
    data = rows()
    del data[i][name]
    return data


BAD: list[tuple[str, list[dict[str, Any]] | Any, str, str]] = [
    ("missing feature", _drop(5, "temp"), r"rows\[5\]\.temp", "missing"),
    ("missing time", _drop(3, "time"), r"rows\[3\]\.time", "missing"),
    ("row not an object", [*rows()[:2], [1, 2], *rows()[3:]], r"rows\[2\]", "expected an object"),
    ("string number", _set(7, "temp", "12.5"), r"rows\[7\]\.temp", "got the string '12.5'"),
    ("string inf", _set(7, "dewp", "inf"), r"rows\[7\]\.dewp", "the string 'inf'"),
    ("string Infinity", _set(8, "humid", "Infinity"), r"rows\[8\]\.humid", "the string 'Infinity'"),
    ("string 1e999", _set(9, "pressure", "1e999"), r"rows\[9\]\.pressure", "the string '1e999'"),
    ("bool", _set(9, "visib", True), r"rows\[9\]\.visib", "true \\(a boolean\\)"),
    ("null", _set(11, "precip", None), r"rows\[11\]\.precip", "null"),
    ("NaN", _set(12, "temp", float("nan")), r"rows\[12\]\.temp", "finite"),
    ("Infinity", _set(13, "temp", float("inf")), r"rows\[13\]\.temp", "finite"),
    ("list", _set(13, "temp", [1.0]), r"rows\[13\]\.temp", "list"),
    ("float32 overflow", _set(14, "dewp", 1e308), r"rows\[14\]\.dewp", "overflows float32"),
    ("huge int", _set(14, "dewp", 10**400), r"rows\[14\]\.dewp", "overflows float32"),
    ("wind 1048 mph", _set(15, "wind_speed", 1048.36), r"rows\[15\]\.wind_speed", r"outside .*\[0, 60\]"),
    ("-9999 sentinel", _set(16, "temp", -9999.0), r"rows\[16\]\.temp", r"-9999 is outside"),
    ("humidity 150", _set(17, "humid", 150), r"rows\[17\]\.humid", r"150 is outside .*\[0, 100\]"),
    ("time now", _set(18, "time", "now"), r"rows\[18\]\.time", "ISO 8601 date-time string"),
    ("time integer", _set(18, "time", 1387584000), r"rows\[18\]\.time", r"got 1387584000 \(int\)"),
    ("month 13", _set(19, "time", "2013-13-01T00:00:00"), r"rows\[19\]\.time", "month must be in 1..12"),
    ("date only", _set(19, "time", "2013-12-21"), r"rows\[19\]\.time", "ISO 8601 date-time"),
    ("fraction", _set(19, "time", "2013-12-21T19:00:00.5"), r"rows\[19\]\.time", "fraction of a second"),
    ("year 9999", hourly("9999-12-21T01:00:00"), r"rows\[239\]\.time", "9999-12-31T23:59:59"),
    ("duplicate", _set(10, "time", ROWS[9]["time"]), r"rows\[10\]\.time", "duplicate time"),
    ("mixed zones", _set(4, "time", ROWS[4]["time"] + "Z"), r"rows\[4\]\.time", "has a time zone but rows\\[0\\]"),
    ("daily rows", hourly("2013-01-01T00:00:00", every_s=86400), r"rows\[1\]\.time", "86400 s after"),
    ("one-second rows", hourly("2013-01-01T00:00:00", every_s=1), r"rows\[1\]\.time", "is 1 s after"),
    ("too few rows", rows()[:239], r"rows:", "need at least 240 .* got 239"),
    ("not a list", {"rows": []}, r"rows:", "expected a list"),
]


def _gap() -> list[dict[str, Any]]:
    data = rows()
    for row in data[120:]:  # every row from 120 on one hour later: a gap between rows 119 and 120
        row["time"] = (dt.datetime.fromisoformat(row["time"]) + dt.timedelta(hours=1)).isoformat()
    return data


BAD.append(("gap in window", _gap(), r"rows\[120\]\.time", "7200 s after the previous row"))


@pytest.mark.parametrize("data, field, words", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_rows_name_the_field_and_what_is_allowed(data: Any, field: str, words: str) -> None:
    with pytest.raises(DataError, match=words) as info:
        parse_rows(data, SPEC)
    assert re.match(field, str(info.value)), str(info.value)


def test_float32_overflow_is_reported_without_bounds_too() -> None:
    spec = RowSpec(FEATURES, lookback=240, step=1, delay=24, freq_s=3600.0)
    with pytest.raises(DataError, match=r"rows\[3\]\.temp: 1e\+308 overflows float32"):
        parse_rows(_set(3, "temp", 1e308), spec)
    with pytest.raises(DataError, match=r"rows\[3\]\.temp: -1e\+39 overflows float32"):
        parse_rows(_set(3, "temp", -1e39), spec)


def test_iso_utc() -> None:
    assert iso_utc(1388530800) == "2013-12-31T23:00:00+00:00"
