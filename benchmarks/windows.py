"""Windows by index vs the chapter's generator: batches per second, side by side.

All three draw random windows like the chapter's ``shuffle=True`` (current rows uniform over the range, with
replacement), batch 128, from the same normalized float32 array:

- ``chapter gen``: the book's ``generator``, a Python loop over the rows of each batch (float64 out);
- ``row gather``: ``data[rows[:, None] + offsets]``, one numpy fancy index over (B, steps) row numbers;
- ``sampler``: ``WindowSampler.batch``, one index into a view of contiguous window blocks (see its docstring).

Runs are interleaved and the fastest of ``--repeats`` counts, so a busy machine hurts all three alike.

    python benchmarks/windows.py                 # packaged NYC (hourly) and a Jena-sized synthetic series
    python benchmarks/windows.py --batches 100 --repeats 9
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from seqlab.data.weather import SeriesDataConfig
from seqlab.data.weather import prepare_series
from seqlab.data.windows import WindowSampler, chapter_generator


def best_rates(draws: dict[str, Callable[[], object]], batches: int, repeats: int) -> dict[str, float]:
    """Batches per second of each draw: the fastest of ``repeats`` interleaved runs of ``batches`` draws."""
    best = dict.fromkeys(draws, float("inf"))
    for draw in draws.values():
        draw()  # warm-up
    for _ in range(repeats):
        for name, draw in draws.items():
            start = time.perf_counter()
            for _ in range(batches):
                draw()
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: batches / seconds for name, seconds in best.items()}


def compare(
    name: str,
    data: np.ndarray,
    target_idx: int,
    lookback: int,
    step: int,
    delay: int,
    args: argparse.Namespace,
) -> None:
    sampler = WindowSampler(
        data, target_idx, lookback, step, delay
    )  # the chapter's min_index=0, max_index=None
    np.random.seed(0)
    gen = chapter_generator(data, lookback, delay, 0, None, True, args.batch_size, step, target_idx)
    rng = np.random.default_rng(0)

    def draw() -> np.ndarray:
        return rng.integers(0, len(sampler), args.batch_size)

    rates = best_rates(
        {
            "chapter": lambda: next(gen),
            "gather": lambda: data[sampler.rows[draw()][:, None] + sampler.offsets],
            "sampler": lambda: sampler.batch(draw()),
        },
        args.batches,
        args.repeats,
    )
    own_mib = sampler.nbytes_own / 2**20
    all_windows_gib = len(sampler) * sampler.window_steps * data.shape[1] * 4 / 2**30
    print(
        f"{name:<36} {data.shape[0]:>8,} x {data.shape[1]:<3} {lookback:>5}/{step}/{delay:<4} "
        f"{rates['chapter']:>11,.0f} {rates['gather']:>11,.0f} {rates['sampler']:>11,.0f} "
        f"{rates['sampler'] / rates['chapter']:>8.1f}x {all_windows_gib:>11.2f} {own_mib:>11.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=50, help="batches per timed run")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved timed runs; the fastest counts")
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()

    nyc = prepare_series(SeriesDataConfig())  # EWR hourly 2013: lookback 240 (10 days), step 1, delay 24
    jena_like = np.random.default_rng(0).standard_normal((420_000, 14), dtype=np.float32)

    runs = f"fastest of {args.repeats} x {args.batches} batches"
    print(f"batch {args.batch_size}, shuffle=True, {runs} (batches/s)")
    print(
        f"{'series':<36} {'rows x features':>14} {'lookback/step/delay':>19} "
        f"{'chapter gen':>11} {'row gather':>11} {'sampler':>11} {'speed-up':>9} {'all win GiB':>11} "
        f"{'sampler MiB':>11}"
    )
    compare("packaged NYC (EWR, hourly)", nyc.data, nyc.target_idx, 240, 1, 24, args)
    compare("synthetic, Jena size (10-min rows)", jena_like, 1, 1440, 6, 144, args)
    print("speed-up = sampler / chapter gen; all win GiB = float32 memory if every window were materialised;")
    print("sampler MiB = what the sampler holds beyond the series (rows, targets, rows in phase order).")


if __name__ == "__main__":
    main()
