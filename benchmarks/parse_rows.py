"""Forecast request cost: parsing + validating 240 JSON rows vs the GRU's forward pass, per request.

The request is ``examples/forecast_request.json`` (240 hourly rows of the packaged weather's 8 features),
already JSON-decoded, as the endpoint receives it. Printed, each the median over ``--requests`` runs:

- ``parse_rows``: :func:`seqlab.data.rows.parse_rows` with bounds on every feature (all checks on), for the
  example's naive times, the same with ``+00:00`` and with ``.000`` (a layout that takes the per-row path);
- ``pandas path``: what serving did before, for context: a DataFrame of the rows, ``pd.to_datetime(...,
  format="mixed")`` and per-column ``pd.to_numeric`` (looser: it accepts "12.5", "now", daily rows);
- ``GRU forward``: the README's forecast model (``configs/forecast/gru.yaml``: GRU, hidden 32) with random
  weights on one window (1, 240, 8), under ``torch.inference_mode``, on ``--threads`` torch threads.

CPU timings are noisy on a shared machine; the median of many runs damps that but does not remove it.

    python benchmarks/parse_rows.py
    python benchmarks/parse_rows.py --requests 5000 --threads 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml

from seqlab.models.series import SeriesModelConfig
from seqlab.data.rows import RowSpec, parse_rows
from seqlab.models.series import build_series_model

ROOT = Path(__file__).resolve().parents[1]


def median_us(fn: Callable[[], object], runs: int) -> float:
    """Median wall time of ``fn`` in microseconds over ``runs`` calls (after 20 warm-up calls)."""
    for _ in range(20):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def pandas_path(rows: list[dict[str, Any]], features: list[str]) -> np.ndarray:
    """The pre-rows.py serving path, reduced to its cost: DataFrame, mixed-format times, numeric columns."""
    frame = pd.DataFrame(rows)
    times = pd.to_datetime(frame["time"], errors="coerce", utc=True, format="mixed")
    values = np.column_stack([pd.to_numeric(frame[f], errors="coerce").to_numpy(np.float64) for f in features])
    return values[np.argsort(times.to_numpy(), kind="stable")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="timed runs per measurement")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the forward pass")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rows = json.loads((ROOT / "examples" / "forecast_request.json").read_text())["rows"]
    features = [k for k in rows[0] if k != "time"]
    data_cfg = yaml.safe_load((ROOT / "configs" / "forecast" / "gru.yaml").read_text())
    lookback, step, delay = (int(data_cfg["data"][k]) for k in ("lookback", "step", "delay"))
    assert len(rows) == lookback, f"the example has {len(rows)} rows, the README's model reads {lookback}"
    values = np.array([[r[f] for f in features] for r in rows])
    span = values.max(axis=0) - values.min(axis=0)
    bounds = {f: (float(lo - s), float(hi + s)) for f, lo, hi, s in zip(features, values.min(0), values.max(0), span)}
    spec = RowSpec(tuple(features), lookback, step, delay, 3600.0, bounds)

    model = build_series_model(SeriesModelConfig(**data_cfg["model"]), lookback // step, len(features)).eval()
    x = torch.randn(1, lookback // step, len(features))

    def forward() -> None:
        with torch.inference_mode():
            model(x)

    aware = [dict(r, time=r["time"] + "+00:00") for r in rows]  # still the vectorized layout
    odd = [dict(r, time=r["time"] + ".000") for r in rows]  # fractional seconds: the row-by-row time path
    parse = median_us(lambda: parse_rows(rows, spec), args.requests)
    parse_aware = median_us(lambda: parse_rows(aware, spec), args.requests)
    parse_odd = median_us(lambda: parse_rows(odd, spec), args.requests)
    old = median_us(lambda: pandas_path(rows, features), max(args.requests // 10, 50))
    fwd = median_us(forward, args.requests)
    name = f"{data_cfg['model']['name']} hidden {data_cfg['model']['hidden']}"
    print(f"request: {len(rows)} rows x {len(features)} features (examples/forecast_request.json)")
    print(f"{'step':<32}{'median per request':>20}")
    print(f"{'parse_rows (strict)':<32}{parse / 1000:>17.3f} ms")
    print(f"{'  same, times with +00:00':<32}{parse_aware / 1000:>17.3f} ms")
    print(f"{'  same, times with .000 (slow)':<32}{parse_odd / 1000:>17.3f} ms")
    print(f"{'pandas path (before, loose)':<32}{old / 1000:>17.3f} ms")
    print(f"{f'{name} forward, {args.threads} thread(s)':<32}{fwd / 1000:>17.3f} ms")
    print(f"parse / forward = {parse / fwd:.2f}; target parse <= 1.5 ms: {'met' if parse <= 1500 else 'MISSED'}")


if __name__ == "__main__":
    main()
