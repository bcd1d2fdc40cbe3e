"""The bad-input table of the HTTP surface: every case is a 4xx over real HTTP (uvicorn on 127.0.0.1, no Ray)
whose body names the field; none answers 200 or 500, and the endpoint answers a good request afterwards.

The forecast rows are checked by ``seqlab.data.rows.parse_rows`` against the model's learned bounds
(``preprocessing["bounds"]``: the training range plus a margin); the tiny config's synthetic series has
temperatures of about -2..75 degF, humidity up to 100 % and wind up to about 40 mph.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from local_http import serving
from seqlab.serve.http import make_api
from seqlab.serve.model import ServedModel
from seqlab.serve.service import ModelService
from seqlab.tracking.pyfunc import LoadedModel
from serve_helpers import make_state, weather_rows

JSON = {"content-type": "application/json"}
GOOD = {"sentiment": {"texts": ["a fine film"]}, "forecast": {"rows": weather_rows(30)}}


def _rows(
    n: int = 30, spacing_s: int = 3600, gap_at: int | None = None, zone_at: int | None = None,
    at: int = 5, **changes: Any,
) -> dict[str, Any]:
    """A forecast body: ``n`` rows ``spacing_s`` apart in time order; ``changes`` set fields of row ``at``."""
    rows = weather_rows(n, shuffle=False)
    t0 = datetime(2013, 1, 1)
    for i, row in enumerate(rows):
        t = t0 + timedelta(seconds=spacing_s * i + (3600 if gap_at is not None and i >= gap_at else 0))
        row["time"] = t.isoformat() + ("+00:00" if zone_at == i else "")
    rows[at].update(changes)
    return {"rows": rows}


CASES: list[tuple[str, str, dict[str, Any], int, str]] = [
    # (case, task, request kwargs, status, the field the body must name)
    ("number as string", "forecast", {"json": _rows(temp="12.5")}, 422, "rows[5].temp"),
    ("inf as string", "forecast", {"json": _rows(temp="inf")}, 422, "rows[5].temp"),
    ("Infinity as string", "forecast", {"json": _rows(humid="Infinity")}, 422, "rows[5].humid"),
    ("1e999 as string", "forecast", {"json": _rows(dewp="1e999")}, 422, "rows[5].dewp"),
    ("overflows float32", "forecast", {"json": _rows(temp=1e308)}, 422, "rows[5].temp"),
    ("-9999 sentinel", "forecast", {"json": _rows(pressure=-9999)}, 422, "rows[5].pressure"),
    ("wind 1048 mph", "forecast", {"json": _rows(wind_speed=1048.0)}, 422, "rows[5].wind_speed"),
    ("humidity 150 %", "forecast", {"json": _rows(humid=150.0)}, 422, "rows[5].humid"),
    ("time 'now'", "forecast", {"json": _rows(time="now")}, 422, "rows[5].time"),
    ("time a bare integer", "forecast", {"json": _rows(time=1356998400)}, 422, "rows[5].time"),
    ("daily rows to an hourly model", "forecast", {"json": _rows(spacing_s=86_400)}, 422, "rows[7].time"),
    ("one-second rows", "forecast", {"json": _rows(spacing_s=1)}, 422, "rows[7].time"),
    ("gap inside the window", "forecast", {"json": _rows(gap_at=20)}, 422, "rows[20].time"),
    ("naive and aware times mixed", "forecast", {"json": _rows(zone_at=3)}, 422, "rows[3].time"),
    ("a feature missing", "forecast", {"json": {"rows": [
        {k: v for k, v in r.items() if k != "humid"} for r in weather_rows(30)]}}, 422, "rows[0].humid"),
    ("too few rows", "forecast", {"json": {"rows": weather_rows(10)}}, 422, "rows: need at least 24"),
    ("unknown top-level field", "forecast", {"json": {"rows": weather_rows(30), "extra": 1}}, 422, "extra"),
    ("NaN literal", "forecast",
     {"content": json.dumps(_rows()).replace('"humid": ', '"humid": NaN, "x": ', 1), "headers": JSON},
     422, "rows[0].humid"),
    ("text of punctuation only", "sentiment", {"json": {"texts": ["fine", "!!!"]}}, 422, "texts[1]"),
    ("text of a NUL only", "sentiment", {"json": {"texts": ["\u0000"]}}, 422, "texts[0]"),
    ("text of zero-width spaces", "sentiment", {"json": {"texts": ["\u200b\u200b"]}}, 422, "texts[0]"),
    ("text not a string", "sentiment", {"json": {"texts": [3]}}, 422, "texts[0]"),
    ("no texts", "sentiment", {"json": {"texts": []}}, 422, "texts"),
    ("malformed JSON", "sentiment", {"content": b'{"texts": ["a",', "headers": JSON}, 422, "body"),
    ("body not UTF-8", "sentiment", {"content": b'{"texts": ["\xff\xfe"]}', "headers": JSON}, 400, "body"),
    ("too many texts", "sentiment", {"json": {"texts": ["a"] * 65}}, 413, "texts"),
    ("body over the limit", "sentiment", {"content": b"x" * 1_100_000, "headers": JSON}, 413, "body"),
]


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Both tasks' apps over untrained tiny models (preprocessing and bounds fitted on the tiny data)."""
    tmp: Path = tmp_path_factory.mktemp("bad-http")
    apps = {}
    for task in ("sentiment", "forecast"):
        svc = ModelService({"task": task, "tracking_uri": f"sqlite:///{tmp}/none.db"})
        svc.use(ServedModel(LoadedModel(make_state(task)), f"seqlab-{task}", "1", None, "champion"))
        apps[task] = make_api(svc)
    with serving(apps["sentiment"]) as sentiment, serving(apps["forecast"]) as forecast:
        yield {"sentiment": sentiment, "forecast": forecast}


@pytest.mark.parametrize("case, task, kwargs, status, field", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_a_4xx_naming_the_field(
    bases: dict[str, str], case: str, task: str, kwargs: dict[str, Any], status: int, field: str
) -> None:
    with httpx.Client(base_url=bases[task], timeout=30.0) as http:
        r = http.post("/predict", **kwargs)
        assert r.status_code == status, (case, r.status_code, r.text[:500])
        assert field in r.text, (case, r.text[:500])
        assert r.headers["content-type"] == "application/json"
        assert http.post("/predict", json=GOOD[task]).status_code == 200  # the endpoint keeps answering


def test_the_table_covers_the_issue_cases() -> None:
    assert len(CASES) >= 15 and len({c[0] for c in CASES}) == len(CASES)
