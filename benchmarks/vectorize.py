"""Time text vectorization on the packaged 25,000 IMDB reviews against a naive per-text loop.

    python benchmarks/vectorize.py [--repeats 3]

Times ``WordIndex.fit(max_words=10000)`` and ``to_padded(maxlen=100)``, then the same work done the
plain way (a Python loop over texts with ``re.findall`` and ``dict.get``), and prints seconds,
reviews/s and the speed-up. Each figure is the best of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from seqlab.data.reviews import read_packaged_reviews
from seqlab.data.text import WordIndex

MAX_WORDS = 10_000
MAXLEN = 100
_WORD = re.compile(r"[a-z0-9']+")


def naive_fit(texts: list[str], max_words: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for text in texts:
        for word in _WORD.findall(text.replace("<br />", " ").lower()):
            counts[word] = counts.get(word, 0) + 1
    ranked = sorted(counts, key=lambda w: -counts[w])[: max_words - 2]
    return {word: i + 2 for i, word in enumerate(ranked)}


def naive_padded(texts: list[str], word_to_id: dict[str, int], maxlen: int) -> np.ndarray:
    out = np.zeros((len(texts), maxlen), dtype=np.int64)
    for row, text in enumerate(texts):
        ids = [word_to_id.get(w, 1) for w in _WORD.findall(text.replace("<br />", " ").lower())][-maxlen:]
        if ids:
            out[row, maxlen - len(ids) :] = ids
    return out


def best_of(repeats: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    texts, _ = read_packaged_reviews()
    n = len(texts)
    print(f"{n} packaged IMDB reviews, max_words={MAX_WORDS}, maxlen={MAXLEN}, best of {args.repeats}")

    fit_s, wi = best_of(args.repeats, lambda: WordIndex.fit(texts, max_words=MAX_WORDS))
    pad_s, x = best_of(args.repeats, lambda: wi.to_padded(texts, maxlen=MAXLEN))
    naive_fit_s, w2i = best_of(args.repeats, lambda: naive_fit(texts, MAX_WORDS))
    naive_pad_s, y = best_of(args.repeats, lambda: naive_padded(texts, w2i, MAXLEN))
    assert x.shape == y.shape == (n, MAXLEN)
    # the two tokenizers differ slightly (filters vs a regex), so compare the vocabularies, not the ids
    overlap = len(set(wi.word_to_id) & set(w2i)) / len(w2i)

    rows = [
        ("WordIndex.fit", fit_s, naive_fit_s),
        ("to_padded", pad_s, naive_pad_s),
        ("fit + to_padded", fit_s + pad_s, naive_fit_s + naive_pad_s),
    ]
    print(f"{'step':<16} {'seqlab s':>9} {'reviews/s':>10} {'naive s':>9} {'reviews/s':>10} {'speed-up':>9}")
    for name, ours, naive in rows:
        print(f"{name:<16} {ours:9.3f} {n / ours:10.0f} {naive:9.3f} {n / naive:10.0f} {naive / ours:8.2f}x")
    print(f"vocabulary overlap with the naive index: {overlap:.1%}")


if __name__ == "__main__":
    main()
