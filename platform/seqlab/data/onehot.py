"""The chapter's first text listings: word and character one-hot, the hashing trick, bags of n-grams.

Small and explicit, as in the book; the models use ``seqlab.data.text.WordIndex`` and ``seqlab.data.bags``.
"""

from __future__ import annotations

import string
import zlib
from collections.abc import Sequence

import numpy as np

from seqlab.data.text import tokenize
from seqlab.errors import DataError


def word_one_hot(samples: Sequence[str], max_length: int = 10) -> tuple[dict[str, int], np.ndarray]:
    """Word-level one-hot encoding (listing 6.1): words split on whitespace, case and punctuation kept.

    Returns:
        ``token_index`` (word -> 1.., in first-seen order; 0 is never used) and a float32 array
        ``(n, max_length, len(token_index) + 1)`` with a 1 at each of the first ``max_length`` words.
    """
    if max_length < 1:
        raise DataError(f"max_length must be >= 1, got {max_length}")
    token_index: dict[str, int] = {}
    for sample in samples:
        for word in sample.split():
            token_index.setdefault(word, len(token_index) + 1)
    results = np.zeros((len(samples), max_length, len(token_index) + 1), dtype=np.float32)
    for i, sample in enumerate(samples):
        for j, word in enumerate(sample.split()[:max_length]):
            results[i, j, token_index[word]] = 1.0
    return token_index, results


_CHAR_INDEX = {c: i + 1 for i, c in enumerate(string.printable)}


def char_one_hot(samples: Sequence[str], max_length: int = 50) -> np.ndarray:
    """Character-level one-hot encoding (listing 6.2) over ``string.printable``.

    Returns:
        float32 ``(n, max_length, len(string.printable) + 1)``; printable character k sits at index k + 1,
        any other character at index 0. Characters after ``max_length`` are dropped.
    """
    if max_length < 1:
        raise DataError(f"max_length must be >= 1, got {max_length}")
    results = np.zeros((len(samples), max_length, len(string.printable) + 1), dtype=np.float32)
    for i, sample in enumerate(samples):
        for j, char in enumerate(sample[:max_length]):
            results[i, j, _CHAR_INDEX.get(char, 0)] = 1.0
    return results


def stable_hash(token: str) -> int:
    """A hash that is the same in every process (Python's ``hash`` of a str is salted per process)."""
    return zlib.crc32(token.encode("utf-8", "surrogatepass"))


def hashed_one_hot(samples: Sequence[str], dimensionality: int = 1000, max_length: int = 10) -> np.ndarray:
    """One-hot with the hashing trick (listing 6.4): word -> ``stable_hash(word) % dimensionality``.

    No index is stored, at the price of collisions when the vocabulary nears ``dimensionality``.

    Returns:
        float32 ``(n, max_length, dimensionality)``.
    """
    if dimensionality < 1 or max_length < 1:
        raise DataError(f"dimensionality and max_length must be >= 1, got {dimensionality} and {max_length}")
    results = np.zeros((len(samples), max_length, dimensionality), dtype=np.float32)
    for i, sample in enumerate(samples):
        for j, word in enumerate(sample.split()[:max_length]):
            results[i, j, stable_hash(word) % dimensionality] = 1.0
    return results


def bag_of_ngrams(text: str, n: int) -> set[str]:
    """Every k-gram for k = 1..n of ``text`` (case kept, punctuation removed), as space-joined strings.

    >>> sorted(bag_of_ngrams("The cat sat.", 2))
    ['The', 'The cat', 'cat', 'cat sat', 'sat']

    Raises:
        DataError: n < 1.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise DataError(f"n-gram order n must be an integer >= 1, got {n!r}")
    words = tokenize(text, lowercase=False)
    return {" ".join(words[i : i + k]) for k in range(1, n + 1) for i in range(len(words) - k + 1)}
