"""Variable-length bags of word and hashed n-gram ids: what the ``ngram_bag`` model reads.

A review becomes its word ids followed by the hashed ids of its 2..n-grams (the hashing trick: each run of
``n`` consecutive words lands in one of ``buckets`` extra rows of the embedding table). All reviews are
stored back to back in one flat array and cut by offsets, the input of ``nn.EmbeddingBag(ids, offsets)``.
Nothing is padded, and the n-grams are hashed once, when the data is prepared, never at a training step.

    flat, lengths = index.to_flat(texts, maxlen=1500)
    ids, lengths = ngram_bags(flat, lengths, ngrams=2, buckets=2**20, first_id=index.max_words)
    split = BagSplit.from_lengths(ids, lengths, labels)
    (batch_ids, batch_offsets), y = split.batch(np.array([3, 0, 7]))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqlab.errors import DataError

# A prime multiplier: a cheap hash of an id sequence that is the same in every process (no Python salt).
_MULT = np.uint64(1_000_003)


def _exclusive_cumsum(counts: np.ndarray) -> np.ndarray:
    starts: np.ndarray = np.cumsum(counts) - counts
    return starts


def _group_by_text(parts: list[np.ndarray], owners: list[np.ndarray], n_texts: int) -> np.ndarray:
    """Interleave ``parts`` so each text's ids from every part sit together, in part order.

    ``owners[p][i]`` is the text of ``parts[p][i]``; each owner array is sorted (texts in order). O(total):
    every id is written once at its final place, no sort.
    """
    counts = [np.bincount(o, minlength=n_texts) for o in owners]
    out = np.empty(sum(len(p) for p in parts), dtype=np.int64)
    # where each text's bag starts in ``out``
    base = _exclusive_cumsum(sum(counts, np.zeros(n_texts, dtype=np.int64)))
    for ids, owner, count in zip(parts, owners, counts):
        within = np.arange(len(owner)) - np.repeat(_exclusive_cumsum(count), count)  # rank inside its text
        out[base[owner] + within] = ids
        base = base + count
    return out


def ngram_bags(
    flat: np.ndarray, lengths: np.ndarray, ngrams: int, buckets: int, first_id: int, unique: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Each text's word ids followed by the hashed ids of its 2..``ngrams``-grams.

    Args:
        flat: word ids of all texts back to back (``WordIndex.to_flat``); every id is < ``first_id``.
        lengths: words per text.
        ngrams: the longest n-gram (1 = words only).
        buckets: rows for hashed n-grams; an n-gram's id is ``first_id + hash % buckets``.
        first_id: the first n-gram row (the word vocabulary's size).
        unique: keep each id once per text (a binary bag; the order inside a bag is then sorted).

    Returns:
        ``(ids, lengths)``: int64 ids of all bags back to back and the size of each bag.

    Raises:
        DataError: ngrams < 1, buckets < 1, or lengths that do not add up to ``len(flat)``.
    """
    if ngrams < 1 or buckets < 1:
        raise DataError(f"ngrams and buckets must be >= 1, got ngrams={ngrams} and buckets={buckets}")
    lengths = np.asarray(lengths, dtype=np.int64)
    if int(lengths.sum()) != len(flat) or (lengths < 0).any():
        raise DataError(f"lengths must be >= 0 and add up to the {len(flat)} ids, got a sum of {int(lengths.sum())}")
    n = len(lengths)
    owner = np.repeat(np.arange(n), lengths)
    position = np.arange(len(flat)) - np.repeat(_exclusive_cumsum(lengths), lengths)
    words = np.asarray(flat, dtype=np.int64)
    as_u64 = words.astype(np.uint64)
    parts, owners = [words], [owner]
    for k in range(2, ngrams + 1):
        end = np.flatnonzero(position >= k - 1)  # the last word of every k-gram inside one text
        h = np.zeros(len(end), dtype=np.uint64)
        for j in range(k):  # uint64 arithmetic wraps around: a defined, portable hash
            h = h * _MULT + as_u64[end - (k - 1) + j]
        parts.append((h % np.uint64(buckets)).astype(np.int64) + first_id)
        owners.append(owner[end])
    ids = _group_by_text(parts, owners, n)
    sizes = sum(np.bincount(o, minlength=n) for o in owners)
    if unique:
        rows = first_id + buckets
        keys = np.repeat(np.arange(n, dtype=np.int64), sizes) * rows + ids
        keys.sort()  # by text, then id; a plain sort (np.unique's hashing pass is several times slower here)
        keys = keys[np.r_[True, keys[1:] != keys[:-1]]]
        ids, text = keys % rows, keys // rows
        sizes = np.bincount(text, minlength=n)
    return ids, np.asarray(sizes, dtype=np.int64)


@dataclass
class BagSplit:
    """Bags stored back to back: bag ``i`` is ``ids[starts[i]:starts[i + 1]]``, its label ``y[i]``.

    ``batch(positions)`` gathers the chosen bags into ``(ids, offsets)`` for ``nn.EmbeddingBag``.
    """

    ids: np.ndarray
    starts: np.ndarray
    y: np.ndarray

    @classmethod
    def from_lengths(cls, ids: np.ndarray, lengths: np.ndarray, y: np.ndarray) -> BagSplit:
        """A split from the bag sizes (what :func:`ngram_bags` returns)."""
        starts = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        return cls(ids, starts, y)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def batch(self, positions: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
        """``((ids, offsets), y)`` of the bags at ``positions``; offsets start at 0."""
        begin = self.starts[positions]
        sizes = self.starts[positions + 1] - begin
        offsets = _exclusive_cumsum(sizes)
        gather = np.arange(int(sizes.sum())) + np.repeat(begin - offsets, sizes)
        return (self.ids[gather], offsets), self.y[positions]
