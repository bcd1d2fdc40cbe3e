"""Tiny, deterministic data for tests and smoke runs: no files, no downloads.

``synthetic_reviews`` writes short "good"/"bad" reviews whose label is learnable from a handful of
words; ``synthetic_weather`` writes an hourly series whose temperature follows a daily and a yearly
cycle plus noise, with a few correlated features, in the layout of the packaged NYC weather.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_GOOD = ["good", "great", "wonderful", "loved", "excellent", "moving", "brilliant", "fun"]
_BAD = ["bad", "awful", "boring", "hated", "terrible", "dull", "waste", "worst"]
_FILLER = ["the", "movie", "film", "plot", "actors", "was", "and", "a", "story", "it", "this", "really", "so"]


def synthetic_reviews(n: int = 32, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """``n`` reviews, half positive (label 1), half negative (label 0), shuffled with ``seed``."""
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    labels = np.arange(n) % 2
    rng.shuffle(labels)
    for label in labels:
        cue = _GOOD if label == 1 else _BAD
        words = list(rng.choice(_FILLER, size=int(rng.integers(6, 14))))
        for _ in range(int(rng.integers(1, 4))):
            words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(cue)))
        texts.append(" ".join(words).capitalize() + ".")
    return texts, labels.astype(np.int64)


def synthetic_weather(n_rows: int = 2000, seed: int = 0, start: str = "2013-01-01") -> pd.DataFrame:
    """Hourly rows with columns ``time, temp, dewp, humid, pressure, wind_speed``."""
    rng = np.random.default_rng(seed)
    hours = np.arange(n_rows, dtype=np.float64)
    daily = 6.0 * np.sin(2 * np.pi * (hours - 9) / 24.0)
    yearly = 15.0 * np.sin(2 * np.pi * (hours / (24.0 * 365.0)) - np.pi / 2)
    weather = np.cumsum(rng.normal(0.0, 0.3, n_rows))  # a slow random walk: fronts passing
    temp = 55.0 + yearly + daily + weather + rng.normal(0.0, 0.5, n_rows)
    dewp = temp - 10.0 + rng.normal(0.0, 1.0, n_rows)
    humid = np.clip(60.0 - 0.5 * daily + rng.normal(0.0, 5.0, n_rows), 5.0, 100.0)
    pressure = 1015.0 - 0.8 * weather + rng.normal(0.0, 0.5, n_rows)
    wind = np.abs(8.0 + rng.normal(0.0, 3.0, n_rows))
    return pd.DataFrame(
        {
            "time": pd.date_range(start, periods=n_rows, freq="h"),
            "temp": temp,
            "dewp": dewp,
            "humid": humid,
            "pressure": pressure,
            "wind_speed": wind,
        }
    )
