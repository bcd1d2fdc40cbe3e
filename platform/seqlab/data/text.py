"""Text vectorization of the chapter, in numpy and plain Python: tokens, a word index, padding.

The chapter turns reviews into integers with Keras' ``Tokenizer`` + ``pad_sequences``; :class:`WordIndex`
does the same job and can be saved next to a model (``to_dict``/``from_dict``) so serving turns text into
the very same ids. The chapter's first listings (one-hot, the hashing trick, n-grams) are in
``seqlab.data.onehot``.

    wi = WordIndex.fit(train_texts, max_words=10_000)
    x = wi.to_padded(train_texts, maxlen=200)   # int64 (n, 200), the last 200 words of each review

Speed: texts are tokenized a few thousand at a time as one joined UTF-8 string (one regex, then
``bytes.lower``, ``bytes.translate`` and ``bytes.split``, all in C; the rare non-ASCII text is lowercased
as ``str`` first). Words are counted by ``Counter`` and become ids through ``map(dict.get, ...)``, so no
Python bytecode runs per word; ``to_padded`` looks up only the words it keeps.
"""

from __future__ import annotations

import functools
import heapq
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, repeat
from typing import Any, Literal

import numpy as np

from seqlab.errors import DataError

# Keras' Tokenizer default: punctuation, tab and newline. The apostrophe is kept, so "don't" is one word.
DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'

MatrixMode = Literal["binary", "count", "freq"]
MATRIX_MODES = ("binary", "count", "freq")
PADDING_SIDES = ("pre", "post")

_BR = re.compile(rb"<br\s*/?>", re.IGNORECASE)  # IMDB reviews use <br /> as a line break
# Whitespace that str.split() splits on but bytes.split() does not. Words are split as bytes (about twice
# as fast as str), so these become plain spaces first and the result is what str.split() would give.
_WIDE_SPACE = re.compile("[\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")
_ASCII_SPACE = "\x1c\x1d\x1e\x1f"
# Marks text boundaries when many texts are tokenized as one joined string. NUL is ASCII (so it keeps
# an ASCII corpus in CPython's compact 1-byte strings) and counts as a space inside a text.
_SEP = "\x00"
_SEP_B = _SEP.encode()
_CHUNK_TEXTS = 4096  # texts tokenized per joined string: bounds memory to a few tens of MB


@functools.lru_cache(maxsize=16)
def _filter_table(filters: str) -> tuple[bytes, re.Pattern[str] | None]:
    """A byte table turning ASCII filters into spaces, and a regex for any non-ASCII filters."""
    narrow = "".join(c for c in filters if c.isascii()) + _ASCII_SPACE
    wide = "".join(c for c in filters if not c.isascii())
    table = bytes.maketrans(narrow.encode(), b" " * len(narrow))
    return table, (re.compile("[" + re.escape(wide) + "]") if wide else None)


def _prepare(text: str, lowercase: bool, wide: re.Pattern[str] | None) -> str:
    """The Unicode-aware steps, needed only by non-ASCII texts (``isascii`` is a flag check)."""
    if text.isascii():
        return text
    if lowercase:
        text = text.lower()
    text = _WIDE_SPACE.sub(" ", text)
    return wide.sub(" ", text) if wide is not None else text


def _normalize(texts: Sequence[str], lowercase: bool, filters: str) -> bytes:
    """UTF-8 of ``texts`` joined by `` \\x00 ``, lowercased, with line breaks, filtered characters and all
    whitespace turned into ASCII whitespace, so that ``bytes.split`` yields the words."""
    table, wide = _filter_table(filters)
    joined = f" {_SEP} ".join([_prepare(t, lowercase, wide) for t in texts]).encode("utf-8", "surrogatepass")
    joined = _BR.sub(b" ", joined)
    if lowercase:
        joined = joined.lower()  # ASCII letters only; the others were lowered in _prepare
    # UTF-8 never uses ASCII bytes inside a multi-byte character, so translating ASCII bytes is exact.
    return joined.translate(table)


def tokenize(text: str, lowercase: bool = True, filters: str = DEFAULT_FILTERS) -> list[str]:
    """Split a text into words the way Keras' ``Tokenizer`` does.

    Args:
        text: one document; HTML line breaks (``<br />``) count as spaces.
        lowercase: lowercase before splitting.
        filters: characters replaced by spaces (punctuation by default).

    Returns:
        The words, in order, split on any whitespace (NUL counts as whitespace too).
    """
    words = _normalize([text.replace(_SEP, " ")], lowercase, filters).split()
    return [w.decode("utf-8", "surrogatepass") for w in words]


def _tokenize_chunk(texts: Sequence[str], lowercase: bool, filters: str) -> list[bytes]:
    """The UTF-8 words of ``texts`` in one flat list, with the word ``_SEP_B`` between consecutive texts."""
    joined = _normalize(texts, lowercase, filters)
    if joined.count(_SEP_B) == len(texts) - 1:
        return joined.split()  # each separator is still a word of its own: spaces surround it
    # A text holds the separator itself (or the filters remove it): the slow but safe path.
    out: list[bytes] = []
    for i, text in enumerate(texts):
        if i:
            out.append(_SEP_B)
        out.extend(_normalize([text.replace(_SEP, " ")], lowercase, filters).split())
    return out


def _spans(tokens: list[bytes], n_texts: int) -> tuple[list[int], list[int]]:
    """Start and end (exclusive) of each text's words in a chunk from :func:`_tokenize_chunk`."""
    ends: list[int] = []
    find = tokens.index  # a C scan per text
    at = -1
    for _ in range(n_texts - 1):
        at = find(_SEP_B, at + 1)
        ends.append(at)
    starts = [0] + [e + 1 for e in ends]
    ends.append(len(tokens))
    return starts, ends


def count_words(texts: Sequence[str], lowercase: bool = True, filters: str = DEFAULT_FILTERS) -> Counter[bytes]:
    """How often each word (UTF-8 bytes, tokenized as :class:`WordIndex` does) occurs in ``texts``.

    Counts of separate batches add up (``Counter.update``) to the counts of all of them.
    """
    counts: Counter[bytes] = Counter()
    for chunk in _chunks(texts):
        counts.update(_tokenize_chunk(chunk, lowercase, filters))  # C loop; keeps first-seen order
    counts.pop(_SEP_B, None)
    return counts


def _chunks(texts: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(texts), _CHUNK_TEXTS):
        yield texts[start : start + _CHUNK_TEXTS]


def _as_text_list(texts: Iterable[str] | str, what: str) -> list[str]:
    if isinstance(texts, str):
        raise DataError(f"{what} expects a list of texts, got one string; wrap it: [text]")
    out = list(texts)
    bad = next((i for i, t in enumerate(out) if not isinstance(t, str)), None)
    if bad is not None:
        raise DataError(f"{what}: text {bad} is a {type(out[bad]).__name__}, expected str")
    return out


def _check_side(name: str, value: str) -> None:
    if value not in PADDING_SIDES:
        raise DataError(f"{name} must be one of: {', '.join(PADDING_SIDES)}; got {value!r}")


def _pad_flat(
    flat: np.ndarray,
    lengths: np.ndarray,
    maxlen: int,
    padding: str,
    truncating: str,
    value: float,
    dtype: Any,
) -> np.ndarray:
    """Pad/truncate the sequences stored back to back in ``flat`` (sequence i has ``lengths[i]`` items)."""
    n = len(lengths)
    out = np.full((n, maxlen), value, dtype=dtype)
    keep = np.minimum(lengths, maxlen)
    starts = np.cumsum(lengths) - lengths
    src_start = starts + (lengths - keep if truncating == "pre" else 0)
    dst_start = maxlen - keep if padding == "pre" else np.zeros_like(keep)
    rows = np.repeat(np.arange(n), keep)
    offset = np.arange(int(keep.sum())) - np.repeat(np.cumsum(keep) - keep, keep)  # position in the kept part
    out[rows, dst_start[rows] + offset] = flat[src_start[rows] + offset]
    return out


def pad_sequences(
    seqs: Sequence[Sequence[int]],
    maxlen: int | None,
    padding: str = "pre",
    truncating: str = "pre",
    value: float = 0,
    dtype: Any = np.int64,
) -> np.ndarray:
    """Make equal-length rows like Keras' ``pad_sequences`` (defaults pad and cut at the front).

    Args:
        seqs: integer sequences of any lengths.
        maxlen: row length; None = the longest sequence.
        padding: ``"pre"`` puts the fill before the sequence, ``"post"`` after.
        truncating: ``"pre"`` keeps the last ``maxlen`` items, ``"post"`` the first.
        value: the fill.
        dtype: of the result.

    Returns:
        Array ``(len(seqs), maxlen)``.

    Raises:
        DataError: maxlen < 1 or an unknown padding/truncating side.
    """
    _check_side("padding", padding)
    _check_side("truncating", truncating)
    lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
    if maxlen is None:
        maxlen = int(lengths.max()) if len(lengths) else 0
    if maxlen < 1:
        raise DataError(f"maxlen must be >= 1, got {maxlen}")
    flat = np.fromiter(chain.from_iterable(seqs), dtype=dtype, count=int(lengths.sum()))
    return _pad_flat(flat, lengths, maxlen, padding, truncating, value, dtype)


class WordIndex:
    """Words ranked by frequency: id 0 = padding, 1 = out-of-vocabulary, 2.. = the most frequent words.

    ``max_words`` counts every id, so at most ``max_words - 2`` words are indexed and every id is
    ``< max_words`` (the size of an embedding table for it). ``len(wi)`` is the number of ids in use
    (padding, OOV and indexed words), which is ``max_words`` unless the corpus has fewer words.
    """

    def __init__(
        self,
        word_to_id: dict[str, int],
        max_words: int,
        lowercase: bool = True,
        filters: str = DEFAULT_FILTERS,
    ) -> None:
        if max_words < 2:
            raise DataError(f"max_words must be >= 2 (0 = padding, 1 = out-of-vocabulary), got {max_words}")
        expected = set(range(2, len(word_to_id) + 2))
        if set(word_to_id.values()) != expected or len(word_to_id) > max_words - 2:
            raise DataError(
                f"word ids must be 2..{len(word_to_id) + 1} without gaps and < max_words ({max_words}); "
                f"got {len(word_to_id)} words with ids {min(word_to_id.values(), default=None)}.."
                f"{max(word_to_id.values(), default=None)}"
            )
        self.max_words = max_words
        self.word_to_id = word_to_id
        self.lowercase = lowercase
        self.filters = filters
        self._lookup = {word.encode("utf-8", "surrogatepass"): i for word, i in word_to_id.items()}

    @classmethod
    def fit(
        cls, texts: Iterable[str], max_words: int, lowercase: bool = True, filters: str = DEFAULT_FILTERS
    ) -> WordIndex:
        """Index the ``max_words - 2`` most frequent words of ``texts`` (ties: first seen first).

        Raises:
            DataError: no texts, or max_words < 2.
        """
        texts = _as_text_list(texts, "WordIndex.fit")
        if not texts:
            raise DataError("WordIndex.fit needs at least one text, got an empty list")
        if max_words < 2:
            raise DataError(f"max_words must be >= 2 (0 = padding, 1 = out-of-vocabulary), got {max_words}")
        counts = count_words(texts, lowercase, filters)
        # most_common is stable: equal counts stay in first-seen order, so the index is deterministic.
        top = counts.most_common(max_words - 2)
        words = [word.decode("utf-8", "surrogatepass") for word, _ in top]
        return cls({word: i + 2 for i, word in enumerate(words)}, max_words, lowercase, filters)

    @classmethod
    def from_counts(
        cls, counts: Counter[bytes], max_words: int, lowercase: bool = True, filters: str = DEFAULT_FILTERS
    ) -> WordIndex:
        """Index the ``max_words - 2`` most frequent words of merged counts (:func:`count_words` of many
        batches); ties go by the word's bytes, so the index never depends on the order batches arrived in.

        Raises:
            DataError: no words, or max_words < 2.
        """
        if max_words < 2:
            raise DataError(f"max_words must be >= 2 (0 = padding, 1 = out-of-vocabulary), got {max_words}")
        if not counts:
            raise DataError("WordIndex.from_counts: the training texts hold no word")
        top = heapq.nsmallest(max_words - 2, counts.items(), key=lambda wc: (-wc[1], wc[0]))
        words = [word.decode("utf-8", "surrogatepass") for word, _ in top]
        return cls({word: i + 2 for i, word in enumerate(words)}, max_words, lowercase, filters)

    def __len__(self) -> int:
        return len(self.word_to_id) + 2

    def __repr__(self) -> str:
        return (
            f"WordIndex(max_words={self.max_words}, words={len(self.word_to_id)}, lowercase={self.lowercase})"
        )

    def _ids(
        self, texts: Iterable[str] | str, what: str, maxlen: int | None = None, truncating: str = "pre"
    ) -> tuple[np.ndarray, np.ndarray]:
        """All ids back to back and the number of ids of each text; with ``maxlen`` only those kept."""
        texts = _as_text_list(texts, what)
        flat_parts, length_parts = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        for chunk in _chunks(texts):
            tokens = _tokenize_chunk(chunk, self.lowercase, self.filters)
            starts, ends = _spans(tokens, len(chunk))
            if maxlen is not None:  # look up only the words that will be kept
                if truncating == "pre":
                    starts = [max(s, e - maxlen) for s, e in zip(starts, ends)]
                else:
                    ends = [min(e, s + maxlen) for s, e in zip(starts, ends)]
            lengths = np.subtract(ends, starts, dtype=np.int64)
            kept = chain.from_iterable(tokens[s:e] for s, e in zip(starts, ends))
            ids = np.fromiter(
                map(self._lookup.get, kept, repeat(1)), dtype=np.int64, count=int(lengths.sum())
            )
            flat_parts.append(ids)
            length_parts.append(lengths)
        return np.concatenate(flat_parts), np.concatenate(length_parts)

    def to_flat(self, texts: Iterable[str], maxlen: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Ids of all texts back to back (int64) and each text's id count: no padding anywhere.

        Args:
            texts: the documents.
            maxlen: keep only each text's last ``maxlen`` words (like ``to_padded``); None keeps all.

        Raises:
            DataError: maxlen < 1, or a text that is not a str.
        """
        if maxlen is not None and maxlen < 1:
            raise DataError(f"maxlen must be >= 1, got {maxlen}")
        return self._ids(texts, "to_flat", maxlen, "pre")

    def to_sequences(self, texts: Iterable[str]) -> list[list[int]]:
        """Each text as a list of ids (unknown words become 1)."""
        flat, lengths = self._ids(texts, "to_sequences")
        return [part.tolist() for part in np.split(flat, np.cumsum(lengths)[:-1])] if len(lengths) else []

    def to_padded(
        self, texts: Iterable[str], maxlen: int, padding: str = "pre", truncating: str = "pre"
    ) -> np.ndarray:
        """Ids as an int64 ``(n, maxlen)`` array; by default the last ``maxlen`` words, zeros in front.

        Raises:
            DataError: maxlen < 1 or an unknown padding/truncating side.
        """
        if maxlen < 1:
            raise DataError(f"maxlen must be >= 1, got {maxlen}")
        _check_side("padding", padding)
        _check_side("truncating", truncating)
        flat, lengths = self._ids(texts, "to_padded", maxlen, truncating)
        return _pad_flat(flat, lengths, maxlen, padding, truncating, 0, np.int64)  # nothing left to cut

    def to_matrix(self, texts: Iterable[str], mode: str = "binary") -> np.ndarray:
        """A float32 ``(n, max_words)`` bag of words: ``binary`` (0/1), ``count`` or ``freq`` (count / words).

        Column 1 counts the out-of-vocabulary words; column 0 stays zero.

        Raises:
            DataError: an unknown mode.
        """
        if mode not in MATRIX_MODES:
            raise DataError(f"to_matrix mode must be one of: {', '.join(MATRIX_MODES)}; got {mode!r}")
        flat, lengths = self._ids(texts, "to_matrix")
        n = len(lengths)
        out = np.zeros((n, self.max_words), dtype=np.float32)
        keys = np.repeat(np.arange(n, dtype=np.int64), lengths) * self.max_words + flat
        cells, counts = np.unique(keys, return_counts=True)
        out.ravel()[cells] = 1.0 if mode == "binary" else counts
        if mode == "freq":
            out /= np.maximum(lengths, 1)[:, None].astype(np.float32)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state; the words are listed in id order (the first has id 2)."""
        words = sorted(self.word_to_id, key=self.word_to_id.__getitem__)
        return {
            "kind": "seqlab.WordIndex",
            "version": 1,
            "max_words": self.max_words,
            "lowercase": self.lowercase,
            "filters": self.filters,
            "words": words,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WordIndex:
        """Rebuild what :meth:`to_dict` wrote.

        Raises:
            DataError: a missing key, wrong kind/version or malformed word list.
        """
        if not isinstance(d, dict) or d.get("kind") != "seqlab.WordIndex":
            raise DataError(
                f"not a saved WordIndex: expected a dict with kind 'seqlab.WordIndex', got {d!r:.80}"
            )
        if d.get("version") != 1:
            raise DataError(f"saved WordIndex has version {d.get('version')!r}; this seqlab reads version 1")
        missing = [k for k in ("max_words", "lowercase", "filters", "words") if k not in d]
        if missing:
            raise DataError(f"saved WordIndex lacks key(s): {', '.join(missing)}")
        words = d["words"]
        if (
            not isinstance(words, list)
            or not all(isinstance(w, str) for w in words)
            or len(set(words)) != len(words)
        ):
            raise DataError("saved WordIndex 'words' must be a list of distinct strings")
        return cls(
            {w: i + 2 for i, w in enumerate(words)}, int(d["max_words"]), bool(d["lowercase"]), d["filters"]
        )
